//! A member as the others see it, and how it travels in gossip: chitchat
//! carries, for every member, a set of string keys and values; this file
//! decides which keys a member publishes and reads them back.
//!
//! Everything read back here came in an unauthenticated UDP packet. A
//! [`Member`] is what somebody *claims*, not what is true.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use chitchat::{ChitchatId, NodeState};

// ANCHOR: keys
/// The key holding the member's gRPC address (the Go book's Serf tag `rpc_addr`).
pub(crate) const RPC_ADDR_KEY: &str = "rpc_addr";
/// The key holding the member's status: [`ALIVE`] or [`LEAVING`].
pub(crate) const STATUS_KEY: &str = "status";
/// The status of a member that runs.
pub(crate) const ALIVE: &str = "alive";
/// The status a member publishes just before it stops gossiping for good.
pub(crate) const LEAVING: &str = "leaving";
/// The prefix of the keys holding the member's tags (`tag:raft_id`).
pub(crate) const TAG_PREFIX: &str = "tag:";
// ANCHOR_END: keys

/// A member of the cluster, as gossip describes it.
///
/// **Every field is a claim.** Gossip is plain UDP with no authentication:
/// anyone who can send a packet to a member's gossip port can claim any id,
/// any address and any tags. Use a `Member` to decide whom to *ask*
/// (chapter 7 dials `rpc_addr` over mutual TLS and checks the certificate),
/// never to decide whom to *trust*.
// ANCHOR: member
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's id: unique in the cluster, kept across restarts.
    pub id: String,
    /// Which run of the member this is: the time it started, in microseconds
    /// since the Unix epoch. A restart has a larger one.
    pub generation: u64,
    /// Where the member gossips (UDP).
    pub gossip_addr: SocketAddr,
    /// Where the member serves gRPC, as `host:port`.
    pub rpc_addr: String,
    /// The member's other published metadata.
    pub tags: BTreeMap<String, String>,
}
// ANCHOR_END: member

/// A member as one round of gossip shows it: its claims, and whether it
/// has said it is leaving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    /// What it claims.
    pub(crate) member: Member,
    /// Whether its status is [`LEAVING`].
    pub(crate) leaving: bool,
}

impl Member {
    /// The keys and values a member publishes when it starts, in the order
    /// chitchat versions them: tags, then status, then `rpc_addr` last.
    /// chitchat sends a member's keys in version order and may cut a long
    /// update between packets, so a member whose `rpc_addr` has arrived has
    /// had all its starting keys arrive too.
    // ANCHOR: published
    pub(crate) fn published(&self) -> Vec<(String, String)> {
        let mut keys: Vec<(String, String)> = self
            .tags
            .iter()
            .map(|(key, value)| (format!("{TAG_PREFIX}{key}"), value.clone()))
            .collect();
        keys.push((STATUS_KEY.to_string(), ALIVE.to_string()));
        keys.push((RPC_ADDR_KEY.to_string(), self.rpc_addr.clone()));
        keys
    }
    // ANCHOR_END: published
}

/// Reads a member back from its gossiped state; `None` until its
/// `rpc_addr` has arrived.
// ANCHOR: read_back
pub(crate) fn read_back(id: &ChitchatId, state: &NodeState) -> Option<Observed> {
    let rpc_addr = state.get(RPC_ADDR_KEY)?.to_string();
    let tags = state
        .iter_prefix(TAG_PREFIX)
        .map(|(key, value)| (key[TAG_PREFIX.len()..].to_string(), value.value.clone()))
        .collect();
    Some(Observed {
        member: Member {
            id: id.node_id.to_string(),
            generation: id.generation_id,
            gossip_addr: id.gossip_advertise_addr,
            rpc_addr,
            tags,
        },
        leaving: state.get(STATUS_KEY) == Some(LEAVING),
    })
}
// ANCHOR_END: read_back

/// The other members that chitchat's failure detector holds alive, by id.
/// When two runs of one id are both alive (a restart, before the old run is
/// found dead), the later generation stands for the id.
// ANCHOR: observe
pub(crate) fn observe(
    live: &BTreeMap<ChitchatId, NodeState>,
    self_id: &str,
) -> BTreeMap<String, Observed> {
    let mut members: BTreeMap<String, Observed> = BTreeMap::new();
    for (id, state) in live {
        if &*id.node_id == self_id {
            continue;
        }
        let Some(observed) = read_back(id, state) else {
            continue;
        };
        let later = members
            .get(&observed.member.id)
            .is_none_or(|seen| seen.member.generation < observed.member.generation);
        if later {
            members.insert(observed.member.id.clone(), observed);
        }
    }
    members
}
// ANCHOR_END: observe

#[cfg(test)]
mod tests {
    use super::*;

    // ANCHOR: published_test
    // A member publishes its tags (prefixed), then its status, then its
    // gRPC address last, so that `rpc_addr` arriving means all have arrived.
    #[test]
    fn publishes_tags_then_status_then_rpc_addr_last() {
        let member = Member {
            id: "a".to_string(),
            generation: 1,
            gossip_addr: ([127, 0, 0, 1], 7946).into(),
            rpc_addr: "proglog-0.proglog:8400".to_string(),
            tags: BTreeMap::from([
                ("raft_id".to_string(), "1".to_string()),
                ("zone".to_string(), "eu-1".to_string()),
            ]),
        };
        let published = member.published();
        let published: Vec<(&str, &str)> = published
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            published,
            [
                ("tag:raft_id", "1"),
                ("tag:zone", "eu-1"),
                ("status", "alive"),
                ("rpc_addr", "proglog-0.proglog:8400"),
            ]
        );
    }
    // ANCHOR_END: published_test
}
