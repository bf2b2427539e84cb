//! Forming a cluster of several servers at once, when none of them is
//! special: each is told how many to expect (`bootstrap_expect`), and
//! waits until gossip shows that many; the one with the lowest id then
//! checks each over mutual TLS (as admission does) and initializes Raft
//! with all of them as voters. The others do nothing: they are voters of
//! the cluster it forms. (Consul's `-bootstrap-expect` works the same way.)
//! This is how a Kubernetes StatefulSet forms a cluster: every pod has the
//! same arguments, so no pod can be told "you are the first".
//!
//! ```text
//!   pods 0, 1, 2 start, each with --bootstrap-expect 3 --join pod-0
//!   gossip:  0 sees {0, 1, 2}   1 sees {0, 1, 2}   2 sees {0, 1, 2}
//!   node 0 (lowest id): checks 1 and 2 over mTLS, initialize({0, 1, 2})
//!   an election follows; every later server joins through admission
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use chapter_06::{Member, MembershipEvent, Subscription};

use crate::admission::check_member;
use crate::types::{Node, NodeId, Raft};

// ANCHOR: bootstrap
/// Waits until `expect` servers (this one, `me` at `rpc_addr`, included)
/// are in gossip; then, if `me` has the lowest id, forms the cluster with
/// all of them. Ends when it has, or when another server has (this one
/// becomes a member), or when gossip stops.
pub async fn form_when_complete(
    raft: Raft,
    me: NodeId,
    rpc_addr: String,
    expect: usize,
    cluster_id: String,
    peer_tls: Option<Arc<rustls::ClientConfig>>,
    mut events: Subscription,
) {
    let mut live: BTreeMap<NodeId, Member> = BTreeMap::new();
    loop {
        if raft.is_initialized().await.unwrap_or(true) {
            return;
        }
        if live.len() + 1 >= expect {
            let lowest = live
                .keys()
                .next()
                .copied()
                .map_or(me, |other| other.min(me));
            if lowest != me {
                return; // the lowest forms it, with this one in it
            }
            match form(&raft, me, &rpc_addr, &live, &cluster_id, peer_tls.clone()).await {
                Ok(()) => return,
                Err(error) => tracing::warn!(%error, "cannot form the cluster yet"),
            }
        }
        match tokio::time::timeout(std::time::Duration::from_secs(1), events.recv()).await {
            Ok(Some(MembershipEvent::Joined(member) | MembershipEvent::Updated(member))) => {
                if let Ok(id) = member.id.parse::<NodeId>() {
                    live.insert(id, member);
                }
            }
            Ok(Some(MembershipEvent::Left(member) | MembershipEvent::Failed(member))) => {
                if let Ok(id) = member.id.parse::<NodeId>() {
                    live.remove(&id);
                }
            }
            Ok(None) => return,
            Err(_) => {} // a second without news: look again
        }
    }
}

/// Checks every member over mutual TLS, then initializes Raft with all.
async fn form(
    raft: &Raft,
    me: NodeId,
    rpc_addr: &str,
    live: &BTreeMap<NodeId, Member>,
    cluster_id: &str,
    peer_tls: Option<Arc<rustls::ClientConfig>>,
) -> crate::Result<()> {
    let mut voters = BTreeMap::from([(
        me,
        Node {
            rpc_addr: rpc_addr.to_string(),
        },
    )]);
    for (&id, member) in live {
        check_member(id, member, cluster_id, peer_tls.clone()).await?;
        voters.insert(
            id,
            Node {
                rpc_addr: member.rpc_addr.clone(),
            },
        );
    }
    tracing::info!(voters = ?voters.keys().collect::<Vec<_>>(), "forming the cluster");
    raft.initialize(voters)
        .await
        .map_err(|error| crate::Error::Raft(format!("forming the cluster: {error}")))
}
// ANCHOR_END: bootstrap
