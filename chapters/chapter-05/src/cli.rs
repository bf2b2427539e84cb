//! The command line: `proglog serve`, `proglog produce`, `proglog consume`
//! and `proglog bench produce`, defined with clap's derive API.
//!
//! Every `serve` setting can come from a flag, an environment variable
//! (clap reads `PROGLOG_*` itself) or a TOML file (`--config`); the
//! [`settings`](crate::settings) module merges them, flag first. So that it
//! can tell "not given" from "given as the default", no setting here has a
//! clap default: each one's default is in its help text and in
//! [`settings`](crate::settings).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

// ANCHOR: cli
/// A distributed commit log: the server, and a client for it.
#[derive(Debug, Parser)]
#[command(
    name = "proglog",
    version,
    about = "A commit log server over gRPC with mutual TLS and an ACL, and its client."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Append records: the values given, or one per line of standard input.
    Produce(ProduceArgs),
    /// Print records from an offset on, and follow the log with --follow.
    Consume(ConsumeArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(BenchCommand),
}
// ANCHOR_END: cli

// ANCHOR: serve_args
/// `proglog serve`: every setting is also an environment variable and a key
/// of the `--config` file (same name, without the dashes in front);
/// precedence is flag, then environment, then file, then default.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// A TOML file of settings (keys as the flags' names: `data-dir = "/var/lib/proglog"`).
    #[arg(long, env = "PROGLOG_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Development mode: the development certificates and ACL built into
    /// this binary, and ./data, with a warning. (`--dev=false` turns off a
    /// `dev = true` from the config file.)
    #[arg(long, env = "PROGLOG_DEV", value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub dev: Option<bool>,

    /// Serve plaintext with no authorization, for local experiments only.
    /// (`--insecure=false` turns off an `insecure = true` from the config file.)
    #[arg(long, env = "PROGLOG_INSECURE", value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure: Option<bool>,

    /// Where the log's segment files live [default: ./data].
    #[arg(long, env = "PROGLOG_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The address to serve gRPC on [default: 127.0.0.1:8400].
    #[arg(long, env = "PROGLOG_ADDR", value_name = "HOST:PORT")]
    pub addr: Option<SocketAddr>,
    // ANCHOR_END: serve_args

    // ANCHOR: serve_args_security
    /// The server's certificate chain (PEM). Required unless --dev or --insecure.
    #[arg(long, env = "PROGLOG_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// The server's private key (PEM). Required unless --dev or --insecure.
    #[arg(long, env = "PROGLOG_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// The CA that signs client certificates (PEM). Required unless --dev or --insecure.
    #[arg(long, env = "PROGLOG_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// The casbin ACL model. Required unless --dev or --insecure.
    #[arg(long, env = "PROGLOG_ACL_MODEL", value_name = "FILE")]
    pub acl_model: Option<PathBuf>,

    /// The casbin ACL policy; SIGHUP reloads it. Required unless --dev or --insecure.
    #[arg(long, env = "PROGLOG_ACL_POLICY", value_name = "FILE")]
    pub acl_policy: Option<PathBuf>,
    // ANCHOR_END: serve_args_security

    // ANCHOR: serve_args_storage
    /// When to fsync: os | always | every=N (records) | interval=DURATION (e.g. 100ms) [default: os].
    #[arg(long, env = "PROGLOG_SYNC", value_name = "POLICY")]
    pub sync: Option<String>,

    /// The largest record accepted, e.g. 1MiB [default: 1MiB].
    #[arg(long, env = "PROGLOG_MAX_RECORD_BYTES", value_name = "SIZE")]
    pub max_record_bytes: Option<String>,

    /// The size at which a segment's store is sealed, e.g. 1GiB [default: 1GiB].
    #[arg(long, env = "PROGLOG_SEGMENT_BYTES", value_name = "SIZE")]
    pub segment_bytes: Option<String>,

    /// The size of a segment's index: 8 bytes per record [default: 10MiB].
    #[arg(long, env = "PROGLOG_INDEX_BYTES", value_name = "SIZE")]
    pub index_bytes: Option<String>,

    /// Delete the oldest sealed segments while the log is larger than this [default: keep all].
    #[arg(long, env = "PROGLOG_RETENTION_BYTES", value_name = "SIZE")]
    pub retention_bytes: Option<String>,

    /// Delete sealed segments whose newest record is older than this, e.g. 7d [default: keep all].
    #[arg(long, env = "PROGLOG_RETENTION_AGE", value_name = "DURATION")]
    pub retention_age: Option<String>,

    /// How often retention runs [default: 10s].
    #[arg(long, env = "PROGLOG_RETENTION_INTERVAL", value_name = "DURATION")]
    pub retention_interval: Option<String>,
    // ANCHOR_END: serve_args_storage

    // ANCHOR: serve_args_ops
    /// Serve Prometheus metrics at http://HOST:PORT/metrics [default: off].
    #[arg(long, env = "PROGLOG_METRICS_ADDR", value_name = "HOST:PORT")]
    pub metrics_addr: Option<SocketAddr>,

    /// How long to keep serving, reporting NOT_SERVING to health checks, after
    /// SIGTERM and before draining, so load balancers stop sending first [default: 1s].
    #[arg(long, env = "PROGLOG_SHUTDOWN_GRACE", value_name = "DURATION")]
    pub shutdown_grace: Option<String>,

    /// Log lines as text or JSON [default: text]. RUST_LOG filters them (default: info).
    #[arg(long, env = "PROGLOG_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people: one readable line per event.
    Text,
    /// For machines: one JSON object per event.
    Json,
}
// ANCHOR_END: serve_args_ops

// ANCHOR: client_args
/// How a client reaches the server: the same TLS settings for every client command.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The server's address.
    #[arg(
        long,
        env = "PROGLOG_ADDR",
        default_value = "127.0.0.1:8400",
        value_name = "HOST:PORT"
    )]
    pub addr: SocketAddr,

    /// Use the development certificates built into this binary, as the `root` client.
    #[arg(long)]
    pub dev: bool,

    /// Connect in plaintext (to a server run with --insecure).
    #[arg(long, conflicts_with = "dev")]
    pub insecure: bool,

    /// The CA that signed the server's certificate (PEM).
    #[arg(long, env = "PROGLOG_CLIENT_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// This client's certificate (PEM).
    #[arg(long, env = "PROGLOG_CLIENT_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// This client's private key (PEM).
    #[arg(long, env = "PROGLOG_CLIENT_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    // ANCHOR_END: client_args
    /// The name the server's certificate must carry.
    #[arg(
        long,
        env = "PROGLOG_SERVER_NAME",
        default_value = "localhost",
        value_name = "NAME"
    )]
    pub server_name: String,
}

/// `proglog produce`.
#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,

    /// The values to append, one record each. Without any, one record per
    /// line of standard input (streamed, with progress on a terminal).
    pub values: Vec<String>,
}

// ANCHOR: consume_args
/// `proglog consume`.
#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,

    /// The first offset to print [default: the lowest offset in the log].
    #[arg(long, value_name = "OFFSET")]
    pub from: Option<u64>,

    /// Keep waiting for new records, like `tail -f`.
    #[arg(long)]
    pub follow: bool,

    /// Stop after this many records.
    #[arg(long, value_name = "K")]
    pub count: Option<u64>,

    /// `text`: `OFFSET<TAB>VALUE` per line; `json`: one JSON object per line.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}
// ANCHOR_END: consume_args

/// How `consume` prints records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// `OFFSET<TAB>VALUE`.
    Text,
    /// `{"offset":N,"value":"..."}`.
    Json,
}

/// `proglog bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Produce records as fast as the server takes them, and summarize
    /// throughput and latency like Kafka's producer-perf-test.
    Produce(BenchProduceArgs),
}

/// `proglog bench produce`.
#[derive(Debug, Clone, Args)]
pub struct BenchProduceArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,

    /// How many records to produce in all.
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,

    /// The size of each record's value, in bytes.
    #[arg(long, default_value_t = 256)]
    pub record_size: usize,

    /// How many clients produce at once, each on its own connection.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,

    /// Use unary Produce calls, one record at a time, instead of ProduceStream.
    #[arg(long)]
    pub unary: bool,

    /// With ProduceStream, the most records each client has sent and not
    /// yet seen acknowledged. A server that answers later (a cluster, which
    /// waits for a majority) needs a larger window to be kept busy: the
    /// records in flight are the throughput times the latency.
    #[arg(long, default_value_t = crate::bench::WINDOW, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u32).range(1..), |window| window as usize))]
    pub window: usize,
}
