//! What a member needs to start: who it is, where it gossips, whom it joins,
//! what it publishes, and how fast gossip and failure detection run.
//! [`MembershipConfig::new`] gives defaults for a LAN; [`validate`] turns
//! every nonsense value into one line that names the setting.
//!
//! [`validate`]: MembershipConfig::validate

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::address::HostPort;
use crate::error::{Error, Result};

// ANCHOR: defaults
/// How often a member gossips with up to three others. On a LAN, 100 ms
/// spreads a change to a handful of members in a few rounds.
pub const DEFAULT_GOSSIP_INTERVAL: Duration = Duration::from_millis(100);

/// The failure detector's threshold. chitchat's phi is the time since a
/// member was last heard of, in mean heartbeat intervals: at 8, a member is
/// taken for dead after about 8 times the usual gap between news of it.
pub const DEFAULT_PHI_THRESHOLD: f64 = 8.0;

/// How long a dead member's state is kept (and gossiped, so everybody
/// agrees it is dead) before it is forgotten.
pub const DEFAULT_DEAD_NODE_GRACE_PERIOD: Duration = Duration::from_secs(60 * 60);

/// How long a deleted key is remembered as deleted before it is forgotten.
pub const DEFAULT_MARKED_FOR_DELETION_GRACE_PERIOD: Duration = Duration::from_secs(60 * 60);

/// How often seeds given by DNS name are resolved again.
pub const DEFAULT_SEED_RESOLVE_INTERVAL: Duration = Duration::from_secs(2);

/// How many events a subscriber may fall behind before it is caught up
/// from the current members instead.
pub const DEFAULT_EVENT_BUFFER: usize = 1024;

/// The cluster a member joins unless told otherwise.
pub const DEFAULT_CLUSTER_ID: &str = "proglog";
// ANCHOR_END: defaults

/// The largest event buffer accepted (tokio's broadcast channel allocates
/// it up front).
const MAX_EVENT_BUFFER: usize = 1 << 20;

/// Everything a member needs to start.
// ANCHOR: config
#[derive(Debug, Clone, PartialEq)]
pub struct MembershipConfig {
    /// This member's id, unique in the cluster and kept across restarts.
    pub node_id: String,
    /// The UDP address to bind for gossip.
    pub gossip_addr: SocketAddr,
    /// The gossip address others should use, when it differs from the bound
    /// one (in a container, behind NAT); `None` means `gossip_addr`.
    pub advertise_addr: Option<SocketAddr>,
    /// Members to join, as `host:port` (IP address or DNS name); empty for
    /// the first member. A name that does not resolve yet is retried.
    pub seeds: Vec<String>,
    /// The `host:port` where clients and peers dial this member's gRPC.
    pub rpc_addr: String,
    /// More metadata to publish (chapter 7 publishes a Raft id here).
    pub tags: BTreeMap<String, String>,
    /// Members only gossip with members of the same cluster id.
    pub cluster_id: String,
    /// How often this member starts a gossip round.
    pub gossip_interval: Duration,
    /// The failure detector's threshold (see [`DEFAULT_PHI_THRESHOLD`]).
    pub phi_threshold: f64,
    /// How long a dead member is remembered before it is forgotten.
    pub dead_node_grace_period: Duration,
    /// How long a deleted key is remembered as deleted.
    pub marked_for_deletion_grace_period: Duration,
    /// How often seeds given by DNS name are resolved again.
    pub seed_resolve_interval: Duration,
    /// How many events a subscriber may fall behind before it is caught up.
    pub event_buffer: usize,
}
// ANCHOR_END: config

impl MembershipConfig {
    /// A member `node_id` gossiping on `gossip_addr` and serving gRPC at
    /// `rpc_addr`, joining nobody, with the LAN defaults above.
    pub fn new(
        node_id: impl Into<String>,
        gossip_addr: SocketAddr,
        rpc_addr: impl Into<String>,
    ) -> MembershipConfig {
        MembershipConfig {
            node_id: node_id.into(),
            gossip_addr,
            advertise_addr: None,
            seeds: Vec::new(),
            rpc_addr: rpc_addr.into(),
            tags: BTreeMap::new(),
            cluster_id: DEFAULT_CLUSTER_ID.to_string(),
            gossip_interval: DEFAULT_GOSSIP_INTERVAL,
            phi_threshold: DEFAULT_PHI_THRESHOLD,
            dead_node_grace_period: DEFAULT_DEAD_NODE_GRACE_PERIOD,
            marked_for_deletion_grace_period: DEFAULT_MARKED_FOR_DELETION_GRACE_PERIOD,
            seed_resolve_interval: DEFAULT_SEED_RESOLVE_INTERVAL,
            event_buffer: DEFAULT_EVENT_BUFFER,
        }
    }

    /// The same, joining the members at `seeds`.
    pub fn with_seeds(mut self, seeds: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.seeds = seeds.into_iter().map(Into::into).collect();
        self
    }

    /// The gossip address the others are told to use.
    pub fn advertised_gossip_addr(&self) -> SocketAddr {
        self.advertise_addr.unwrap_or(self.gossip_addr)
    }

    /// Checks every setting, before anything is bound or sent.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for the first setting that makes no sense,
    /// naming it and saying why.
    // ANCHOR: validate
    pub fn validate(&self) -> Result<()> {
        check_name("node_id", &self.node_id)?;
        check_name("cluster_id", &self.cluster_id)?;
        if self.gossip_addr.port() == 0 {
            return Err(Error::setting(
                "gossip_addr",
                format!(
                    "{} has port 0; members advertise the address they bind, so it needs a fixed port",
                    self.gossip_addr
                ),
            ));
        }
        let advertised = self.advertised_gossip_addr();
        if advertised.ip().is_unspecified() {
            return Err(Error::setting(
                "advertise_addr",
                format!(
                    "{advertised} cannot be dialled by others; set advertise_addr to this member's reachable address"
                ),
            ));
        }
        if advertised.port() == 0 {
            return Err(Error::setting(
                "advertise_addr",
                format!("{advertised} has port 0"),
            ));
        }
        for (i, seed) in self.seeds.iter().enumerate() {
            HostPort::parse(seed)
                .map_err(|reason| Error::setting(format!("seeds[{i}]"), reason))?;
        }
        HostPort::parse(&self.rpc_addr).map_err(|reason| Error::setting("rpc_addr", reason))?;
        for key in self.tags.keys() {
            check_tag_key(key)?;
        }
        // ANCHOR_END: validate
        // ANCHOR: validate_numbers
        check_period("gossip_interval", self.gossip_interval)?;
        check_period("dead_node_grace_period", self.dead_node_grace_period)?;
        check_period(
            "marked_for_deletion_grace_period",
            self.marked_for_deletion_grace_period,
        )?;
        check_period("seed_resolve_interval", self.seed_resolve_interval)?;
        if !(self.phi_threshold.is_finite() && self.phi_threshold > 0.0) {
            return Err(Error::setting(
                "phi_threshold",
                format!("{} is not a positive number", self.phi_threshold),
            ));
        }
        if !(1..=MAX_EVENT_BUFFER).contains(&self.event_buffer) {
            return Err(Error::setting(
                "event_buffer",
                format!("{} is not from 1 to {MAX_EVENT_BUFFER}", self.event_buffer),
            ));
        }
        Ok(())
    }
    // ANCHOR_END: validate_numbers
}

/// An id: not empty, and no spaces or control characters, so that it reads
/// the same in a log line as on the wire.
fn check_name(setting: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::setting(setting, "is empty"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::setting(
            setting,
            format!("{name:?} contains a space or a control character"),
        ));
    }
    Ok(())
}

/// A tag's key: like an id.
pub(crate) fn check_tag_key(key: &str) -> Result<()> {
    check_name(&format!("tags[{key:?}]"), key)
}

/// A period: at least a millisecond (tokio's timers panic on zero), at most
/// a year (a typo for "forever" is still a typo).
fn check_period(setting: &str, period: Duration) -> Result<()> {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);
    if period < Duration::from_millis(1) || period > YEAR {
        return Err(Error::setting(
            setting,
            format!("{period:?} is not from 1ms to a year"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MembershipConfig {
        MembershipConfig::new("a", ([127, 0, 0, 1], 7946).into(), "127.0.0.1:8400")
    }

    // The defaults are valid.
    #[test]
    fn the_defaults_are_valid() {
        assert!(config().validate().is_ok());
    }

    // ANCHOR: nonsense_test
    // ANCHOR: nonsense_cases
    // Every nonsense value is one line naming the setting; the lines are
    // the snapshot the book shows.
    #[test]
    fn every_nonsense_value_is_one_line_naming_the_setting() {
        type Change = fn(&mut MembershipConfig);
        let cases: [(&str, Change); 12] = [
            ("empty id", |c| c.node_id.clear()),
            ("id with a space", |c| c.node_id = "node a".into()),
            ("port 0", |c| c.gossip_addr.set_port(0)),
            ("bind all, advertise nothing", |c| {
                c.gossip_addr = ([0, 0, 0, 0], 7946).into()
            }),
            ("seed without a port", |c| {
                c.seeds = vec!["127.0.0.1:7947".into(), "proglog-1".into()]
            }),
            ("seed with a bad port", |c| {
                c.seeds = vec!["proglog-1:gossip".into()]
            }),
            ("rpc_addr not host:port", |c| c.rpc_addr = "http://x".into()),
            ("empty tag key", |c| {
                c.tags.insert(String::new(), "1".into());
            }),
            ("zero gossip interval", |c| {
                c.gossip_interval = Duration::ZERO
            }),
            ("NaN phi", |c| c.phi_threshold = f64::NAN),
            ("negative phi", |c| c.phi_threshold = -1.0),
            ("no event buffer", |c| c.event_buffer = 0),
        ];
        // ANCHOR_END: nonsense_cases
        // ANCHOR: nonsense_lines
        let lines: Vec<String> = cases
            .iter()
            .map(|(what, change)| {
                let mut config = config();
                change(&mut config);
                let error = config.validate().expect_err(what);
                let line = error.to_string();
                assert!(!line.contains('\n'), "{what}: {line}");
                format!("{what}: {line}")
            })
            .collect();
        insta::assert_snapshot!(lines.join("\n"));
    }
    // ANCHOR_END: nonsense_lines
    // ANCHOR_END: nonsense_test
}
