//! The one place where an [`Error`] becomes a gRPC [`Status`].
//!
//! A status code tells a client *what kind* of failure it is, and so what to
//! do: `OUT_OF_RANGE` means "ask for another offset", `INVALID_ARGUMENT`
//! "fix the request", `UNAVAILABLE` "retry later, maybe elsewhere",
//! `DATA_LOSS` "an operator must look". The google.rpc error details
//! (through tonic-types) carry what a program needs to act without parsing
//! the message: the offsets in an `ErrorInfo`, the offending field in a
//! `BadRequest`, a message for people in a `LocalizedMessage`.
//!
//! Messages never contain file paths: they go to a client, who has no
//! business knowing the server's file system. The server logs the full error.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::Error;

/// The `ErrorInfo` domain of every error this service reports.
pub const ERROR_DOMAIN: &str = "proglog.log.v1";
/// The `ErrorInfo` reason for an offset outside the log.
pub const OFFSET_OUT_OF_RANGE: &str = "OFFSET_OUT_OF_RANGE";
/// The locale of every `LocalizedMessage` this service sends.
const LOCALE: &str = "en-US";

// ANCHOR: status
impl From<Error> for Status {
    fn from(error: Error) -> Status {
        match error {
            Error::Log(chapter_01::Error::OffsetOutOfRange {
                offset,
                lowest,
                next,
            }) => {
                let message = format!(
                    "offset {offset} is out of range: the log holds offsets {lowest}..{next}"
                );
                let metadata = HashMap::from([
                    ("offset".to_string(), offset.to_string()),
                    ("lowest_offset".to_string(), lowest.to_string()),
                    ("next_offset".to_string(), next.to_string()),
                ]);
                let mut details = ErrorDetails::new();
                details.set_error_info(OFFSET_OUT_OF_RANGE, ERROR_DOMAIN, metadata);
                details.set_localized_message(LOCALE, message.clone());
                Status::with_error_details(Code::OutOfRange, message, details)
            }
            // ANCHOR_END: status
            // ANCHOR: status_invalid
            Error::RecordTooLarge { len, max } => {
                let description = format!("the value is {len} bytes; the maximum is {max}");
                let details = ErrorDetails::with_bad_request_violation("record.value", description);
                Status::with_error_details(
                    Code::InvalidArgument,
                    Error::RecordTooLarge { len, max }.to_string(),
                    details,
                )
            }
            Error::MissingRecord => {
                let details =
                    ErrorDetails::with_bad_request_violation("record", "a record is required");
                Status::with_error_details(
                    Code::InvalidArgument,
                    Error::MissingRecord.to_string(),
                    details,
                )
            }
            // ANCHOR_END: status_invalid
            // ANCHOR: status_rest
            Error::Log(chapter_01::Error::Corrupt {
                position, problem, ..
            }) => Status::data_loss(format!(
                "the stored record failed its integrity check (byte {position} of its segment: {problem})"
            )),
            Error::Log(chapter_01::Error::Io { action, source, .. }) => {
                Status::internal(format!("storage failure while {action}: {}", source.kind()))
            }
            Error::Log(other) => {
                Status::internal(format!("storage failure: {}", without_paths(&other)))
            }
            Error::ShuttingDown => Status::unavailable("the server is shutting down"),
            Error::Task(_) => Status::internal("a storage task failed"),
            Error::InvalidConfig(_) | Error::Transport(_) => {
                Status::internal("the server is misconfigured")
            }
        }
    }
}
// ANCHOR_END: status_rest

// ANCHOR: without_paths
/// The message of a storage error that may name a file, without the file.
fn without_paths(error: &chapter_01::Error) -> String {
    match error {
        chapter_01::Error::Locked { .. } => "the log is locked by another process".to_string(),
        chapter_01::Error::RecordTooLarge { .. } | chapter_01::Error::InvalidConfig(_) => {
            error.to_string()
        }
        _ => "see the server's log".to_string(),
    }
}
// ANCHOR_END: without_paths
