//! What a client is told when a replicated produce does not simply succeed,
//! and what it may do about it.
//!
//! Two answers look alike and must never be confused, because a client
//! retries after one and must not after the other without care:
//!
//! ```text
//!   NOT_LEADER        FAILED_PRECONDITION   the record was NOT appended: this server does
//!                                           not lead, it checked before proposing. Resend
//!                                           it to the leader named in the details.
//!   fate unknown      UNAVAILABLE           the record was proposed, then leadership moved
//!                                           or time ran out: it may or may not be appended.
//!                                           Only a retry with the same producer id and
//!                                           sequence is safe (it is appended at most once).
//! ```
//!
//! Both carry a google.rpc `ErrorInfo` a program can act on without
//! parsing the message: the reason, and the leader's id and address when
//! one is known.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::types::{Node, NodeId};

// ANCHOR: reasons
/// The `ErrorInfo` domain (chapter 2's).
pub const ERROR_DOMAIN: &str = chapter_02::status::ERROR_DOMAIN;
/// The `ErrorInfo` reason of a produce sent to a server that does not lead.
pub const NOT_LEADER: &str = "NOT_LEADER";
/// The `ErrorInfo` reason of a produce whose fate is unknown.
pub const FATE_UNKNOWN: &str = "FATE_UNKNOWN";
/// The `ErrorInfo` reason of a produce made while no leader is known.
pub const NO_LEADER: &str = "NO_LEADER";
/// The `ErrorInfo` reason of a retry too old for its producer's window.
pub const SEQUENCE_TOO_OLD: &str = "SEQUENCE_TOO_OLD";

/// The metadata keys naming the leader.
pub const LEADER_ID: &str = "leader_id";
/// See [`LEADER_ID`].
pub const LEADER_ADDR: &str = "leader_addr";
// ANCHOR_END: reasons

// ANCHOR: with_info
fn leader_metadata(leader: Option<(NodeId, &Node)>) -> HashMap<String, String> {
    leader.map_or_else(HashMap::new, |(id, node)| {
        HashMap::from([
            (LEADER_ID.to_string(), id.to_string()),
            (LEADER_ADDR.to_string(), node.rpc_addr.clone()),
        ])
    })
}

fn with_info(
    code: Code,
    message: String,
    reason: &str,
    metadata: HashMap<String, String>,
) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
    details.set_localized_message("en-US", message.clone());
    Status::with_error_details(code, message, details)
}
// ANCHOR_END: with_info

// ANCHOR: not_leader
/// This server does not lead; `leader` does. Nothing was appended.
pub fn not_leader(leader: (NodeId, &Node)) -> Status {
    let message = format!(
        "this server does not lead the cluster: node {} at {} does (the record was not appended; send it there)",
        leader.0, leader.1.rpc_addr
    );
    with_info(
        Code::FailedPrecondition,
        message,
        NOT_LEADER,
        leader_metadata(Some(leader)),
    )
}

/// No leader is known (an election is under way). Nothing was appended.
pub fn no_leader() -> Status {
    with_info(
        Code::Unavailable,
        "no leader is known yet (an election is under way): the record was not appended; retry shortly".into(),
        NO_LEADER,
        HashMap::new(),
    )
}

/// The record was proposed but its fate is unknown: `why`, and the leader
/// now (if known).
pub fn fate_unknown(why: &str, leader: Option<(NodeId, &Node)>) -> Status {
    let message = format!(
        "{why}: the record may or may not have been appended; only a retry with the same producer id and sequence is safe"
    );
    with_info(
        Code::Unavailable,
        message,
        FATE_UNKNOWN,
        leader_metadata(leader),
    )
}
// ANCHOR_END: not_leader

// ANCHOR: sequence_too_old
/// A retried record older than its producer's window.
pub fn sequence_too_old(producer: u64, sequence: u64, oldest_remembered: u64) -> Status {
    let message = format!(
        "sequence {sequence} of producer {producer} is older than the oldest one remembered ({oldest_remembered}): whether it was appended is no longer known"
    );
    let metadata = HashMap::from([
        ("producer_id".to_string(), producer.to_string()),
        ("sequence".to_string(), sequence.to_string()),
        (
            "oldest_remembered".to_string(),
            oldest_remembered.to_string(),
        ),
    ]);
    with_info(
        Code::FailedPrecondition,
        message,
        SEQUENCE_TOO_OLD,
        metadata,
    )
}
// ANCHOR_END: sequence_too_old

// ANCHOR: client_side
/// The leader named in a not-leader or fate-unknown status, if any: what a
/// client follows.
pub fn leader_in(status: &Status) -> Option<(NodeId, String)> {
    let info = status.get_details_error_info()?;
    let id = info.metadata.get(LEADER_ID)?.parse().ok()?;
    let addr = info.metadata.get(LEADER_ADDR)?.clone();
    Some((id, addr))
}

/// The `ErrorInfo` reason of `status`, if it has one.
pub fn reason_of(status: &Status) -> Option<String> {
    Some(status.get_details_error_info()?.reason)
}
// ANCHOR_END: client_side
