//! A server's place in a cluster, merged from flags, the environment, the
//! `--config` file's `[cluster]` table and defaults (as chapter 5 merges
//! the rest), and checked: every combination that cannot work is one clear
//! line, before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chapter_05::settings::{Security, Settings};
use chapter_05::units::parse_duration;
use chapter_07::RaftTiming;
use serde::Deserialize;

use crate::cli::ClusterArgs;

/// The gossip cluster id when none is given.
pub const DEFAULT_CLUSTER_ID: &str = "proglog";

// ANCHOR: file
/// The `[cluster]` table of the `--config` file: the same settings as the
/// flags, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ClusterFile {
    node_id: Option<u64>,
    gossip_addr: Option<SocketAddr>,
    advertise_addr: Option<String>,
    join: Option<Vec<String>>,
    bootstrap: Option<bool>,
    bootstrap_expect: Option<usize>,
    cluster_id: Option<String>,
    heartbeat: Option<String>,
    election_timeout: Option<String>,
    peer_cert: Option<PathBuf>,
    peer_key: Option<PathBuf>,
    health_addr: Option<SocketAddr>,
    leave_on_shutdown: Option<bool>,
}
// ANCHOR_END: file

// ANCHOR: settings
/// Where a server stands in its cluster, resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// Its Raft id.
    pub node_id: u64,
    /// Where it gossips (UDP).
    pub gossip_addr: SocketAddr,
    /// Where the others reach its gRPC (`host:port`).
    pub advertise_addr: String,
    /// The gossip addresses it joins through (none: it forms a cluster).
    pub join: Vec<String>,
    /// How the cluster is formed, if this server forms it.
    pub formation: Formation,
    /// The gossip cluster id.
    pub cluster_id: String,
    /// Raft's heartbeat and election timing.
    pub timing: RaftTiming,
    /// The peer certificate and key, if any.
    pub peer_identity: Option<(PathBuf, PathBuf)>,
    /// Where to serve plaintext health checks, if anywhere.
    pub health_addr: Option<SocketAddr>,
    /// Whether SIGTERM makes the server leave the cluster for good.
    pub leave_on_shutdown: bool,
}

/// How a new cluster comes to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formation {
    /// This server forms it alone (the others join it).
    Alone,
    /// The lowest id of this many servers forms it.
    Expect(usize),
    /// This server joins an existing one.
    Join,
}
// ANCHOR_END: settings

impl ClusterSettings {
    // ANCHOR: resolve
    /// Merges `args` over `server`'s `[cluster]` table over the defaults,
    /// and checks the result against the rest of `server`'s settings.
    ///
    /// # Errors
    /// One line naming what is wrong.
    pub fn resolve(args: &ClusterArgs, server: &Settings) -> Result<ClusterSettings, String> {
        let file: ClusterFile =
            match &server.cluster {
                Some(table) => toml::Value::Table(table.clone()).try_into().map_err(
                    |error: toml::de::Error| {
                        format!("the config file's [cluster] table: {}", error.message())
                    },
                )?,
                None => ClusterFile::default(),
            };
        macro_rules! setting {
            ($name:ident) => {
                args.$name.clone().or(file.$name.clone())
            };
        }
        let join = if args.join.is_empty() {
            file.join.clone().unwrap_or_default()
        } else {
            args.join.clone()
        };
        let bootstrap = setting!(bootstrap).unwrap_or(false);
        let expect = setting!(bootstrap_expect);
        let formation = match (bootstrap, expect, join.is_empty()) {
            (true, Some(_), _) => return Err("--bootstrap and --bootstrap-expect cannot both be set: one server forms the cluster, or the lowest id of N".into()),
            (true, None, false) => return Err("--bootstrap and --join cannot both be set: a server forms a cluster or joins one".into()),
            (_, Some(0), _) => return Err("--bootstrap-expect must be at least 1".into()),
            (_, Some(_), true) => return Err("--bootstrap-expect needs --join: the servers must find each other by gossip".into()),
            (_, Some(count), false) => Formation::Expect(count),
            (_, None, false) => Formation::Join,
            (_, None, true) => Formation::Alone,
        };
        let in_a_cluster = formation != Formation::Alone || bootstrap;
        let timing = timing(setting!(heartbeat), setting!(election_timeout))?;
        // ANCHOR_END: resolve
        // ANCHOR: resolve_security
        let peer_identity = match (&server.security, setting!(peer_cert), setting!(peer_key)) {
            (Security::Insecure, None, None) if !in_a_cluster => None,
            (Security::Insecure, _, _) => {
                return Err("a cluster of several servers needs mutual TLS: --insecure serves alone, with no cluster settings".into());
            }
            (Security::Mtls { .. }, Some(cert), Some(key)) => Some((cert, key)),
            (Security::Mtls { .. }, None, None) => match &server.dev {
                Some(dev) => Some((dev.path("certs/peer.pem"), dev.path("certs/peer-key.pem"))),
                None if in_a_cluster => {
                    return Err("missing setting --peer-cert and --peer-key (or PROGLOG_PEER_CERT and PROGLOG_PEER_KEY): the servers of a cluster call each other with the `peer` certificate".into());
                }
                None => None, // alone: nobody to call (others cannot join it)
            },
            (Security::Mtls { .. }, _, _) => {
                return Err("--peer-cert and --peer-key go together".into());
            }
        };
        // ANCHOR_END: resolve_security
        // ANCHOR: resolve_addresses
        let advertise_addr = setting!(advertise_addr).unwrap_or_else(|| server.addr.to_string());
        if chapter_07::network::host_of(&advertise_addr).is_none() {
            return Err(format!(
                "--advertise-addr {advertise_addr:?} is not HOST:PORT"
            ));
        }
        if in_a_cluster && unspecified(&advertise_addr) {
            return Err(format!(
                "--addr {} is not an address the other servers can reach: give --advertise-addr",
                server.addr
            ));
        }
        Ok(ClusterSettings {
            node_id: setting!(node_id).unwrap_or(1),
            gossip_addr: setting!(gossip_addr).unwrap_or(server.addr),
            advertise_addr,
            join,
            formation,
            cluster_id: setting!(cluster_id).unwrap_or_else(|| DEFAULT_CLUSTER_ID.to_string()),
            timing,
            peer_identity,
            health_addr: setting!(health_addr),
            leave_on_shutdown: setting!(leave_on_shutdown).unwrap_or(false),
        })
        // ANCHOR_END: resolve_addresses
    }
}

// ANCHOR: timing
/// Whether `host:port` names no one in particular (0.0.0.0, ::).
fn unspecified(addr: &str) -> bool {
    chapter_07::network::host_of(addr)
        .and_then(|host| host.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_unspecified())
}

/// The Raft timing the two settings give.
fn timing(heartbeat: Option<String>, election: Option<String>) -> Result<RaftTiming, String> {
    let defaults = RaftTiming::default();
    let parse = |name: &str, text: Option<String>, default: Duration| -> Result<Duration, String> {
        text.map_or(Ok(default), |text| {
            parse_duration(&text).map_err(|error| format!("--{name}: {error}"))
        })
    };
    let heartbeat = parse("heartbeat", heartbeat, defaults.heartbeat)?;
    let election = parse("election-timeout", election, defaults.election_min)?;
    if heartbeat.is_zero() || heartbeat >= election {
        return Err(format!(
            "--heartbeat {heartbeat:?} must be shorter than --election-timeout {election:?} (a follower must hear several heartbeats before it gives up on the leader)"
        ));
    }
    Ok(RaftTiming {
        heartbeat,
        election_min: election,
        election_max: election * 2,
    })
}
// ANCHOR_END: timing
