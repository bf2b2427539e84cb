//! What can go wrong in the service, in one enum. The [`status`](crate::status)
//! module turns each variant into the gRPC status a client sees.

// ANCHOR: error
/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage engine failed, or refused the request (out of range, ...).
    #[error(transparent)]
    Log(#[from] chapter_01::Error),

    /// A request had no `record`.
    #[error("the request has no record")]
    MissingRecord,

    /// A record's value is larger than the service accepts. Nothing was written.
    #[error("the record's value is {len} bytes, more than the maximum of {max}")]
    RecordTooLarge {
        /// The value's length.
        len: usize,
        /// The maximum the service accepts.
        max: usize,
    },

    /// The server is shutting down; the stream ends here.
    #[error("the server is shutting down")]
    ShuttingDown,

    /// The service's configuration cannot work with the log it was given.
    #[error("invalid service configuration: {0}")]
    InvalidConfig(String),

    /// The network transport failed (binding, serving, connecting).
    #[error("{}", with_causes(.0))]
    Transport(#[from] tonic::transport::Error),

    /// A blocking storage task did not finish (it panicked or was cancelled).
    #[error("a storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
// ANCHOR_END: error

/// An error and its chain of causes on one line: tonic's transport errors
/// say only "transport error" at the top, and the reason is further down.
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let text = error.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = error.source();
    }
    line
}
