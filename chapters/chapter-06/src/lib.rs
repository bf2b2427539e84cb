// ANCHOR: crate_docs
//! # Chapter 6: discovery, membership by gossip
//!
//! Before servers can replicate a log among themselves (chapter 7), each
//! must find the others, and keep finding them as they come and go. This
//! chapter gives every server a [`Membership`]: it gossips over UDP with
//! chitchat (scuttlebutt anti-entropy and a phi-accrual failure detector),
//! publishes where it serves gRPC, and tells subscribers when another member
//! joins, changes, leaves or fails. The major components are:
//!
//! * [`config`]: [`MembershipConfig`], its LAN defaults, and
//!   [`validate`](MembershipConfig::validate).
//! * [`address`]: `host:port` as text, an IP address or a DNS name.
//! * [`member`]: [`Member`], and the keys a member publishes in gossip.
//! * [`event`]: [`MembershipEvent`] and its state machine.
//! * `view` (private): the state machine itself: from one round's picture of the
//!   live members to events.
//! * [`subscription`]: [`Subscription`], events in order without polling,
//!   in bounded memory, caught up when it falls behind.
//! * `seeds` (private): seeds given by DNS name, resolved again until they answer.
//! * [`membership`]: [`Membership`]: start, members, subscribe, set a tag,
//!   leave.
//! * `testing` (feature `testing`): a member as a real child process, for
//!   kill -9 in tests.
//!
//! **Gossip is a hint, never an authority.** It is plain UDP with no
//! authentication: anyone who can send packets to the gossip port can claim
//! to be a member, with any address. Nothing in this crate grants anything
//! because of an event; chapter 7 checks a member over mutual TLS before it
//! trusts it.
// ANCHOR_END: crate_docs

// ANCHOR: modules
pub mod address;
pub mod config;
pub mod error;
pub mod event;
pub mod member;
pub mod membership;
mod seeds;
pub mod subscription;
#[cfg(feature = "testing")]
pub mod testing;
mod view;

pub use address::HostPort;
pub use config::MembershipConfig;
pub use error::{Error, Result};
pub use event::MembershipEvent;
pub use member::Member;
pub use membership::Membership;
pub use subscription::Subscription;
// ANCHOR_END: modules
