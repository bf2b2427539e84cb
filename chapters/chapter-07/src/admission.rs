//! Who votes: gossip proposes, the leader checks, Raft decides.
//!
//! Chapter 6's gossip says who is around, but gossip is unauthenticated UDP:
//! anyone can claim to be a member, with any id and any address. So the
//! leader never adds a member because gossip says so. It first dials the
//! member's gRPC address over mutual TLS with the peer certificate (the
//! member must present a certificate of our CA for that address) and asks
//! it who it is (`Identify`): only if it answers with the id it claimed,
//! in our cluster, does it go on:
//!
//! ```text
//!   gossip: Joined(member) ─▶ leader dials member.rpc_addr over mTLS, Identify
//!                                 │ same id, same cluster?    no ─▶ ignored (logged)
//!                                 ▼ yes
//!                             add_learner (it receives the log, votes on nothing)
//!                                 │ caught up (within LAG entries of the leader)?
//!                                 ▼
//!                             change_membership: a voter
//!   gossip: Left(member)   ─▶ leader removes it from the voters
//!   gossip: Failed(member) ─▶ nothing: a dead voter may come back; removing it
//!                             is an operator's decision
//! ```
//!
//! Every server runs this loop, but only the leader acts, and it acts on
//! what it knows now (reconciling, every second and at every event), so a
//! new leader finishes what the old one started.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chapter_06::{Member, MembershipEvent, Subscription};
use openraft::ChangeMembers;

use crate::api::v1::IdentifyRequest;
use crate::api::v1::raft_client::RaftClient;
use crate::error::{Error, Result};
use crate::network::peer_channel;
use crate::types::{Node, NodeId, Raft};

// ANCHOR: constants
/// How close to the leader's log a learner must be to become a voter.
pub const LAG: u64 = 100;
/// How often the leader looks again, events or not.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);
/// How long the check of a member may take.
const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(3);
// ANCHOR_END: constants

// ANCHOR: admission
/// The admission loop of one server.
pub struct Admission {
    raft: Raft,
    me: NodeId,
    cluster_id: String,
    peer_tls: Option<Arc<rustls::ClientConfig>>,
    /// The members gossip says are live, by Raft id.
    live: BTreeMap<NodeId, Member>,
    /// The members that left gracefully (and have not come back).
    left: BTreeSet<NodeId>,
}
// ANCHOR_END: admission

impl Admission {
    /// The loop for node `me` of `cluster_id`, checking members with `peer_tls`.
    pub fn new(
        raft: Raft,
        me: NodeId,
        cluster_id: String,
        peer_tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Admission {
        Admission {
            raft,
            me,
            cluster_id,
            peer_tls,
            live: BTreeMap::new(),
            left: BTreeSet::new(),
        }
    }

    // ANCHOR: run
    /// Runs until the subscription ends (gossip stopped).
    pub async fn run(mut self, mut events: Subscription) {
        let mut ticks = tokio::time::interval(RECONCILE_EVERY);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.heard(event),
                    None => return,
                },
                _ = ticks.tick() => {}
            }
            if self.leads() {
                self.reconcile().await;
            }
        }
    }
    // ANCHOR_END: run

    // ANCHOR: heard
    /// Updates what gossip says.
    fn heard(&mut self, event: MembershipEvent) {
        let Ok(id) = event.member().id.parse::<NodeId>() else {
            tracing::warn!(member = %event.member().id, "gossip announced a member whose id is not a number; ignored");
            return;
        };
        match event {
            MembershipEvent::Joined(member) | MembershipEvent::Updated(member) => {
                self.left.remove(&id);
                self.live.insert(id, member);
            }
            MembershipEvent::Left(_) => {
                self.live.remove(&id);
                self.left.insert(id);
            }
            MembershipEvent::Failed(_) => {
                self.live.remove(&id);
            }
        }
    }

    fn leads(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.me)
    }
    // ANCHOR_END: heard

    // ANCHOR: reconcile
    // ANCHOR: reconcile_a
    /// Makes the membership follow gossip, one step at a time: check and add
    /// new members as learners, promote learners that caught up, remove
    /// voters that left.
    async fn reconcile(&mut self) {
        let (voters, learners, replication, last_index) = {
            let metrics = self.raft.metrics();
            let metrics = metrics.borrow();
            let membership = metrics.membership_config.membership();
            let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
            let learners: BTreeSet<NodeId> = membership.learner_ids().collect();
            (
                voters,
                learners,
                metrics.replication.clone(),
                metrics.last_log_index,
            )
        };
        // ANCHOR_END: reconcile_a
        // ANCHOR: reconcile_b
        for (&id, member) in &self.live {
            if voters.contains(&id) || id == self.me {
                continue;
            }
            if !learners.contains(&id) {
                match self.check(id, member).await {
                    Ok(()) => self.add_learner(id, member).await,
                    Err(error) => {
                        tracing::warn!(%error, "gossip announced a member that did not check out")
                    }
                }
                continue;
            }
            let matched = replication
                .as_ref()
                .and_then(|replication| replication.get(&id).copied().flatten())
                .map(|log_id| log_id.index);
            if let (Some(matched), Some(last)) = (matched, last_index)
                && matched + LAG >= last
            {
                self.change(
                    ChangeMembers::AddVoterIds(BTreeSet::from([id])),
                    "promoted to voter",
                    id,
                )
                .await;
            }
        }
        // ANCHOR_END: reconcile_b
        // ANCHOR: reconcile_c
        for &id in &self.left {
            if voters.contains(&id) && id != self.me {
                self.change(
                    ChangeMembers::RemoveVoters(BTreeSet::from([id])),
                    "removed: it left",
                    id,
                )
                .await;
            }
        }
    }
    // ANCHOR_END: reconcile_c
    // ANCHOR_END: reconcile

    /// Checks `member` over mutual TLS: its certificate is our CA's, for
    /// the address it claims, and it says it is the node it claims to be,
    /// in our cluster.
    async fn check(&self, id: NodeId, member: &Member) -> Result<()> {
        check_member(id, member, &self.cluster_id, self.peer_tls.clone()).await
    }

    // ANCHOR: changes
    async fn add_learner(&self, id: NodeId, member: &Member) {
        let node = Node {
            rpc_addr: member.rpc_addr.clone(),
        };
        match self.raft.add_learner(id, node, false).await {
            Ok(_) => tracing::info!(node = id, rpc_addr = %member.rpc_addr, "added as a learner"),
            Err(error) => tracing::warn!(node = id, %error, "could not add a learner"),
        }
    }

    async fn change(&self, change: ChangeMembers<NodeId, Node>, what: &str, id: NodeId) {
        match self.raft.change_membership(change, false).await {
            Ok(_) => tracing::info!(node = id, "{what}"),
            Err(error) => tracing::warn!(node = id, %error, "membership change failed: {what}"),
        }
    }
    // ANCHOR_END: changes
}

// ANCHOR: check
// ANCHOR: check_a
/// Checks `member`, which gossip says is node `id`, over mutual TLS with
/// `peer_tls`: its certificate is our CA's, for the address it claims, and
/// it says it is that node, of `cluster_id`. (Admission does this before
/// adding a member; so does forming a cluster with `bootstrap_expect`.)
///
/// # Errors
/// [`Error::NotAdmitted`], saying why.
pub async fn check_member(
    id: NodeId,
    member: &Member,
    cluster_id: &str,
    peer_tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<()> {
    let not_admitted = |reason: String| Error::NotAdmitted {
        id: member.id.clone(),
        rpc_addr: member.rpc_addr.clone(),
        reason,
    };
    // ANCHOR_END: check_a
    // ANCHOR: check_b
    let channel = peer_channel(&member.rpc_addr, peer_tls)
        .map_err(|error| not_admitted(error.to_string()))?;
    let answer = tokio::time::timeout(
        IDENTIFY_TIMEOUT,
        RaftClient::new(channel).identify(IdentifyRequest {}),
    )
    .await
    .map_err(|_| {
        not_admitted(format!(
            "no answer over mutual TLS within {IDENTIFY_TIMEOUT:?}"
        ))
    })?
    .map_err(|status| {
        not_admitted(format!(
            "mutual TLS or Identify failed: {}",
            status.message()
        ))
    })?
    .into_inner();
    if answer.node_id != id || answer.cluster_id != cluster_id {
        return Err(not_admitted(format!(
            "the server there is node {} of cluster {:?}",
            answer.node_id, answer.cluster_id
        )));
    }
    Ok(())
}
// ANCHOR_END: check_b
// ANCHOR_END: check
