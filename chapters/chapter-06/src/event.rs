//! What a subscriber hears: a member joined, changed what it publishes,
//! left, or failed. An event is a *hint* from unauthenticated gossip.

use crate::member::Member;

/// A change in the membership, about a member other than this one.
///
/// For each member id the events follow one state machine:
///
/// ```text
///             Joined                 Left | Failed
///   (absent) ────────▶ (live) ───────────────────────▶ (absent)
///                       │  ▲
///                       └──┘ Updated
/// ```
///
/// so a subscriber never hears `Left`, `Failed` or `Updated` about a member
/// it has not heard `Joined` about. A member that restarts with the same id
/// is a new run (a larger [`Member::generation`]): if the old run was still
/// thought alive, the subscriber hears `Failed` for the old run, then
/// `Joined` for the new one.
///
/// **An event is a hint, not an authority.** Gossip is unauthenticated UDP:
/// anyone who can reach the gossip port can make a member appear, change
/// its address, or seem to leave. React to an event by *checking* (chapter 7
/// dials the member over mutual TLS before it gives it any part in the
/// cluster); never grant anything because of one.
// ANCHOR: event
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipEvent {
    /// A member is alive and has published its gRPC address.
    Joined(Member),
    /// A live member changed what it publishes (its tags or `rpc_addr`).
    Updated(Member),
    /// A member said it was leaving, and stopped gossiping.
    Left(Member),
    /// A member went silent, or was replaced by a new run of itself, without
    /// saying it was leaving: the failure detector took it for dead.
    Failed(Member),
}
// ANCHOR_END: event

impl MembershipEvent {
    /// The member the event is about.
    pub fn member(&self) -> &Member {
        match self {
            MembershipEvent::Joined(member)
            | MembershipEvent::Updated(member)
            | MembershipEvent::Left(member)
            | MembershipEvent::Failed(member) => member,
        }
    }
}
