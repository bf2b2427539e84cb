//! What a caller of the client sees when a call cannot be done.

use std::time::Duration;

/// The client's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// ANCHOR: error
/// Why a call of the [`Client`](crate::Client) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No server answered: not the seeds, not the servers known before.
    #[error("no server of the cluster answered (tried {}): {last}", tried.join(", "))]
    NoServer {
        /// Every address tried, in order.
        tried: Vec<String>,
        /// What the last one said.
        last: String,
    },
    /// The call was retried as long as the [`RetryPolicy`](crate::RetryPolicy)
    /// allows, and failed each time.
    #[error("gave up after {attempts} attempts in {elapsed:.1?}: {}", last.message())]
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// How long they took.
        elapsed: Duration,
        /// The last failure.
        last: tonic::Status,
    },
    /// The cluster refused the call, and another try would be refused too
    /// (an invalid request, a permission denied, an offset out of range).
    #[error("refused: {}", .0.message())]
    Refused(tonic::Status),
    /// A setting that cannot work.
    #[error("invalid client configuration: {0}")]
    InvalidConfig(String),
}
// ANCHOR_END: error

impl Error {
    /// The gRPC status behind the error, if there is one.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            Error::GaveUp { last, .. } | Error::Refused(last) => Some(last),
            Error::NoServer { .. } | Error::InvalidConfig(_) => None,
        }
    }
}

impl From<chapter_03::Error> for Error {
    fn from(error: chapter_03::Error) -> Self {
        Error::InvalidConfig(error.to_string())
    }
}
