//! The server's settings, merged from flags, the environment, a TOML file
//! and defaults, in that order of precedence, and checked before anything
//! starts: a bad setting is one clear line naming it, never a panic.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chapter_01::SyncPolicy;
use chapter_03::ServerTlsFiles;
use serde::Deserialize;

use crate::cli::{LogFormat, ServeArgs};
use crate::dev::DevFiles;
use crate::units::{parse_duration, parse_size, parse_sync};

/// The largest `--max-record-bytes` accepted: 1 GiB (a record must fit in
/// one gRPC message, and in memory, several times over).
pub const MAX_RECORD_LIMIT: u64 = 1 << 30;

/// The largest `--segment-bytes` accepted: 1 TiB. Retention deletes whole
/// segments; a larger one would be a unit no disk wants to lose at once.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 40;

/// The smallest `--index-bytes` accepted: 1 KiB, 128 records per segment
/// (fewer would make a pair of files for every handful of records).
pub const MIN_INDEX_BYTES: u64 = 1 << 10;

/// The largest `--index-bytes` accepted: 1 GiB, 134 million records per
/// segment, allocated on disk for every active segment.
pub const MAX_INDEX_BYTES: u64 = 1 << 30;

/// The default gRPC address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8400";

// ANCHOR: file_settings
/// The `--config` file: the same settings as the flags, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileSettings {
    dev: Option<bool>,
    insecure: Option<bool>,
    data_dir: Option<PathBuf>,
    addr: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    acl_model: Option<PathBuf>,
    acl_policy: Option<PathBuf>,
    sync: Option<String>,
    max_record_bytes: Option<String>,
    segment_bytes: Option<String>,
    index_bytes: Option<String>,
    retention_bytes: Option<String>,
    retention_age: Option<String>,
    retention_interval: Option<String>,
    metrics_addr: Option<SocketAddr>,
    shutdown_grace: Option<String>,
    log_format: Option<LogFormat>,
    /// The settings of a server that is one of a cluster: chapter 9's
    /// `proglog` reads them; this chapter's server, alone, refuses them.
    cluster: Option<toml::Table>,
}
// ANCHOR_END: file_settings

// ANCHOR: settings
/// Everything `proglog serve` needs, resolved and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Development mode (`--dev`): say so loudly. The development files
    /// the TLS and ACL settings point at live as long as this.
    pub dev: Option<DevFiles>,
    /// Where the log lives.
    pub data_dir: PathBuf,
    /// Where to serve gRPC.
    pub addr: SocketAddr,
    /// TLS and ACL, or none (`--insecure`).
    pub security: Security,
    /// The durability policy.
    pub sync: SyncPolicy,
    /// The largest record accepted.
    pub max_record_bytes: u64,
    /// A segment store's limit.
    pub segment_bytes: u64,
    /// A segment index's limit.
    pub index_bytes: u64,
    /// What retention keeps.
    pub retention: Retention,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    /// How long to report NOT_SERVING before draining, at shutdown.
    pub shutdown_grace: Duration,
    /// How log lines look.
    pub log_format: LogFormat,
    /// The config file's `[cluster]` table, for chapter 9's server.
    pub cluster: Option<toml::Table>,
}
// ANCHOR_END: settings

// ANCHOR: security
/// Transport security and authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// Plaintext, no ACL (`--insecure`).
    Insecure,
    /// Mutual TLS and the ACL.
    Mtls {
        /// The server's certificate, key and client CA.
        tls: ServerTlsFiles,
        /// The casbin model file.
        acl_model: PathBuf,
        /// The casbin policy file.
        acl_policy: PathBuf,
    },
}

/// What retention deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many bytes of stores (whole segments).
    pub max_bytes: Option<u64>,
    /// Delete segments whose newest record is older than this.
    pub max_age: Option<Duration>,
    /// How often to check.
    pub interval: Duration,
}
// ANCHOR_END: security

// ANCHOR: resolve
impl Settings {
    /// Merges `args` (flags, and environment variables, which clap has
    /// already read) over the `--config` file over the defaults.
    ///
    /// # Errors
    /// One line naming the setting that is missing or wrong.
    pub fn resolve(args: &ServeArgs) -> Result<Settings, String> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        // A flag or variable that says `false` overrides the file's `true`.
        let dev = args.dev.or(file.dev).unwrap_or(false);
        let insecure = args.insecure.or(file.insecure).unwrap_or(false);
        if dev && insecure {
            return Err("--dev and --insecure cannot both be set".into());
        }
        let dev_files =
            match dev {
                true => Some(DevFiles::unpack().map_err(|error| {
                    format!("--dev: cannot unpack the development files: {error}")
                })?),
                false => None,
            };
        // A setting's value: the flag (or its environment variable), else the file's.
        macro_rules! setting {
            ($name:ident) => {
                args.$name.clone().or(file.$name.clone())
            };
        }
        let size = |name: &str, value: Option<String>, default: u64| -> Result<u64, String> {
            value.map_or(Ok(default), |text| {
                parse_size(&text).map_err(|error| format!("--{name}: {error}"))
            })
        };
        let duration = |name: &str, value: Option<String>| -> Result<Option<Duration>, String> {
            value
                .map(|text| parse_duration(&text).map_err(|error| format!("--{name}: {error}")))
                .transpose()
        };
        // ANCHOR_END: resolve
        // ANCHOR: resolve_security
        let security = if insecure {
            Security::Insecure
        } else {
            let dev_file = |dir: &str, name: &str| {
                dev_files
                    .as_ref()
                    .map(|files| files.path(&format!("{dir}/{name}")))
            };
            let required = |name: &str, value: Option<PathBuf>| {
                value.ok_or_else(|| {
                    let env = format!("PROGLOG_{}", name.to_uppercase().replace('-', "_"));
                    format!("missing setting --{name} (or {env}, or {name} in the --config file); --dev uses the development files, --insecure serves without TLS")
                })
            };
            Security::Mtls {
                tls: ServerTlsFiles {
                    cert: required(
                        "tls-cert",
                        setting!(tls_cert).or(dev_file("certs", "server.pem")),
                    )?,
                    key: required(
                        "tls-key",
                        setting!(tls_key).or(dev_file("certs", "server-key.pem")),
                    )?,
                    client_ca: required(
                        "tls-ca",
                        setting!(tls_ca).or(dev_file("certs", "ca.pem")),
                    )?,
                },
                acl_model: required(
                    "acl-model",
                    setting!(acl_model).or(dev_file("policies", "model.conf")),
                )?,
                acl_policy: required(
                    "acl-policy",
                    setting!(acl_policy).or(dev_file("policies", "policy.csv")),
                )?,
            }
        };
        // ANCHOR_END: resolve_security
        // ANCHOR: resolve_rest
        let sync = match setting!(sync) {
            Some(text) => parse_sync(&text).map_err(|error| format!("--sync: {error}"))?,
            None => SyncPolicy::Os,
        };
        let settings = Settings {
            dev: dev_files,
            data_dir: setting!(data_dir).unwrap_or_else(|| PathBuf::from("data")),
            addr: setting!(addr)
                .unwrap_or_else(|| DEFAULT_ADDR.parse().unwrap_or_else(|_| unreachable!())),
            security,
            sync,
            max_record_bytes: size("max-record-bytes", setting!(max_record_bytes), 1 << 20)?,
            segment_bytes: size("segment-bytes", setting!(segment_bytes), 1 << 30)?,
            index_bytes: size("index-bytes", setting!(index_bytes), 10 << 20)?,
            retention: Retention {
                max_bytes: setting!(retention_bytes)
                    .map(|text| size("retention-bytes", Some(text), 0))
                    .transpose()?,
                max_age: duration("retention-age", setting!(retention_age))?,
                interval: duration("retention-interval", setting!(retention_interval))?
                    .unwrap_or(Duration::from_secs(10)),
            },
            metrics_addr: setting!(metrics_addr),
            shutdown_grace: duration("shutdown-grace", setting!(shutdown_grace))?
                .unwrap_or(Duration::from_secs(1)),
            log_format: setting!(log_format).unwrap_or(LogFormat::Text),
            cluster: file.cluster.clone(),
        };
        settings.check()?;
        Ok(settings)
    }
    // ANCHOR_END: resolve_rest

    // ANCHOR: check
    // ANCHOR: check_sizes
    /// Checks that the sizes work together, and that none is absurd.
    fn check(&self) -> Result<(), String> {
        if self.max_record_bytes == 0 {
            return Err("--max-record-bytes must be at least 1".into());
        }
        if self.max_record_bytes > MAX_RECORD_LIMIT {
            return Err(format!(
                "--max-record-bytes {} is more than a gRPC message may carry here ({MAX_RECORD_LIMIT})",
                self.max_record_bytes
            ));
        }
        if self.segment_bytes > MAX_SEGMENT_BYTES {
            return Err(format!(
                "--segment-bytes {} is more than the largest segment this server makes ({MAX_SEGMENT_BYTES}, 1TiB)",
                self.segment_bytes
            ));
        }
        let framed = self.max_record_bytes + chapter_01::FRAME_OVERHEAD;
        if framed > self.segment_bytes {
            return Err(format!(
                "--segment-bytes {} cannot hold a record of --max-record-bytes {} (plus {} bytes of framing)",
                self.segment_bytes,
                self.max_record_bytes,
                chapter_01::FRAME_OVERHEAD
            ));
        }
        // ANCHOR_END: check_sizes
        // ANCHOR: check_rest
        if !(MIN_INDEX_BYTES..=MAX_INDEX_BYTES).contains(&self.index_bytes) {
            return Err(format!(
                "--index-bytes {} is outside {MIN_INDEX_BYTES}..={MAX_INDEX_BYTES} (1KiB to 1GiB: 8 bytes per record, 128 records to 134 million per segment)",
                self.index_bytes
            ));
        }
        if let Some(max_bytes) = self.retention.max_bytes
            && max_bytes < self.segment_bytes
        {
            return Err(format!(
                "--retention-bytes {max_bytes} is less than one segment (--segment-bytes {}): retention deletes whole segments, so the log could never be that small",
                self.segment_bytes
            ));
        }
        if self.retention.interval.is_zero() {
            return Err("--retention-interval must be longer than 0".into());
        }
        Ok(())
    }
    // ANCHOR_END: check_rest
    // ANCHOR_END: check

    /// The storage configuration for chapter 1's log.
    pub fn log_config(&self) -> chapter_01::Config {
        chapter_01::Config {
            max_store_bytes: self.segment_bytes,
            max_index_bytes: self.index_bytes,
            initial_offset: 0,
            sync: self.sync,
        }
    }
}

// ANCHOR: read_file
fn read_file(path: &Path) -> Result<FileSettings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("config file {}: {error}", path.display()))?;
    toml::from_str(&text).map_err(|error| {
        // toml's message spans several lines (with a caret): keep it to one.
        let message = error.message().to_string();
        match error.span() {
            Some(span) => {
                let line = text[..span.start].matches('\n').count() + 1;
                format!("config file {}, line {line}: {message}", path.display())
            }
            None => format!("config file {}: {message}", path.display()),
        }
    })
}
// ANCHOR_END: read_file
