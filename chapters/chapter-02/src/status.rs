//! The one place where an error becomes a gRPC [`Status`]: ours, and the
//! ones tonic makes when it cannot decode a request.
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
//! business knowing the server's file system. The server logs the full
//! error, once, when storage fails.

use std::collections::HashMap;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use crate::error::{Error, with_causes};

/// The `ErrorInfo` domain of every error this service reports.
pub const ERROR_DOMAIN: &str = "proglog.log.v1";
/// The `ErrorInfo` reason for an offset outside the log.
pub const OFFSET_OUT_OF_RANGE: &str = "OFFSET_OUT_OF_RANGE";
/// The locale of every `LocalizedMessage` this service sends.
const LOCALE: &str = "en-US";

// ANCHOR: status
// ANCHOR: status_offset
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
            // ANCHOR_END: status_offset
            // ANCHOR: status_rest
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
            Error::Log(storage) => storage_status(storage),
            Error::ShuttingDown => Status::unavailable("the server is shutting down"),
            Error::Task(_) => Status::internal("a storage task failed"),
            Error::InvalidConfig(_) | Error::Transport(_) => {
                Status::internal("the server is misconfigured")
            }
        }
    }
}
// ANCHOR_END: status_rest
// ANCHOR_END: status

// ANCHOR: storage_status
/// A storage failure as the client sees it, after logging it in full: the
/// client gets the kind of failure and the operating system's words, never
/// a path; the operator gets everything, once.
fn storage_status(error: chapter_01::Error) -> Status {
    match &error {
        chapter_01::Error::RecordTooLarge { .. } | chapter_01::Error::OffsetOutOfRange { .. } => {}
        _ => tracing::error!(error = %with_causes(&error), "storage failure"),
    }
    match error {
        chapter_01::Error::Corrupt {
            position, problem, ..
        } => Status::data_loss(format!(
            "the stored record failed its integrity check (byte {position} of its segment: {problem})"
        )),
        // The OS's own words ("No space left on device (os error 28)"),
        // not just its category: EMFILE has none ("uncategorized").
        chapter_01::Error::Io { action, source, .. } => {
            Status::internal(format!("storage failure while {action}: {source}"))
        }
        chapter_01::Error::Poisoned { .. } => Status::unavailable(
            "the log refuses writes after a storage failure; the server must be restarted",
        ),
        chapter_01::Error::Locked { .. } => {
            Status::internal("storage failure: the log is locked by another process")
        }
        other => Status::internal(format!("storage failure: {other}")),
    }
}
// ANCHOR_END: storage_status

// ANCHOR: request_error
/// A failure tonic reported while reading a request: a message over the
/// size limit (which tonic reports as `OUT_OF_RANGE`, the code this service
/// uses for offsets) or bytes that are not a protobuf message (which it
/// reports as `INTERNAL`, blaming the server). Both are the client's
/// request at fault: `INVALID_ARGUMENT`, naming the limit. Anything else is
/// passed on as it is.
pub fn request_error(status: Status) -> Status {
    let message = status.message();
    if status.code() == Code::OutOfRange
        && let Some(sizes) = message.strip_prefix("Error, decoded message length too large: ")
    {
        // "found 5242892 bytes, the limit is: 1049600 bytes"
        let numbers: Vec<u64> = sizes
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|word| word.parse().ok())
            .collect();
        let description = match numbers[..] {
            [found, limit] => format!("{found} bytes, and a request may be at most {limit}"),
            _ => sizes.to_string(),
        };
        let details = ErrorDetails::with_bad_request_violation("record.value", description.clone());
        return Status::with_error_details(
            Code::InvalidArgument,
            format!("the request is too large: {description}"),
            details,
        );
    }
    if status.code() == Code::Internal && message.starts_with("failed to decode Protobuf message") {
        let details = ErrorDetails::with_bad_request_violation("request", message.to_string());
        return Status::with_error_details(
            Code::InvalidArgument,
            format!("the request is not a valid message: {message}"),
            details,
        );
    }
    status
}
// ANCHOR_END: request_error

// ANCHOR: codec_layer
// ANCHOR: codec_types
/// A tower layer that gives the errors tonic itself answers a unary call
/// with, before the service sees the request, their proper status (see
/// [`request_error`]). Streams see such errors in the handler, which maps
/// them there.
#[derive(Debug, Clone, Copy, Default)]
pub struct CodecErrorLayer;

impl<S> Layer<S> for CodecErrorLayer {
    type Service = CodecErrors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CodecErrors { inner }
    }
}

/// The service [`CodecErrorLayer`] wraps around the inner one.
#[derive(Debug, Clone)]
pub struct CodecErrors<S> {
    inner: S,
}
// ANCHOR_END: codec_types

// ANCHOR: codec_service
impl<S, B> Service<http::Request<B>> for CodecErrors<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            // A call refused at once is "trailers-only": the status is in
            // the headers, and nothing else follows.
            let Some(status) = Status::from_header_map(response.headers()) else {
                return Ok(response);
            };
            let code = status.code();
            let mapped = request_error(status);
            if mapped.code() == code {
                return Ok(response);
            }
            Ok(mapped.into_http())
        })
    }
}
// ANCHOR_END: codec_service
// ANCHOR_END: codec_layer
