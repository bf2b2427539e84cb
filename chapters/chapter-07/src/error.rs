//! What can go wrong in a replicated log, in one enum. Client-facing
//! failures become gRPC statuses in one place ([`status`](crate::status)).

// ANCHOR: error_a
/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can fail in this chapter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A log on disk failed (the Raft log or the state machine's log).
    #[error(transparent)]
    Log(#[from] chapter_01::Error),

    /// The service failed (its configuration, or the transport).
    #[error(transparent)]
    Service(#[from] chapter_02::Error),

    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] chapter_03::Error),

    /// Gossip could not start.
    #[error(transparent)]
    Membership(#[from] chapter_06::Error),

    /// Bytes that should be one of openraft's types (an entry, a message,
    /// the meta file) are not.
    #[error("cannot decode {what}: {reason}")]
    Codec {
        /// What was being decoded.
        what: String,
        /// postcard's reason.
        reason: String,
    },
    // ANCHOR_END: error_a

    // ANCHOR: error_b
    /// A snapshot file is not what this server writes.
    #[error("snapshot: {0}")]
    Snapshot(String),

    /// openraft refused or failed (it has stopped, it could not start, ...).
    #[error("raft: {0}")]
    Raft(String),

    /// A setting cannot work.
    #[error("invalid cluster setting: {0}")]
    InvalidConfig(String),

    /// A member that gossip announced did not check out over mutual TLS.
    #[error("member {id} at {rpc_addr} is not admitted: {reason}")]
    NotAdmitted {
        /// The id it claimed.
        id: String,
        /// The address it claimed.
        rpc_addr: String,
        /// Why not.
        reason: String,
    },

    /// A file of the node's own could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}
// ANCHOR_END: error_b

impl Error {
    /// A decoding failure of `what`.
    pub(crate) fn codec(what: impl Into<String>, error: postcard::Error) -> Error {
        Error::Codec {
            what: what.into(),
            reason: error.to_string(),
        }
    }

    /// Wraps an I/O error with what was being done, and to which file.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<std::path::PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
