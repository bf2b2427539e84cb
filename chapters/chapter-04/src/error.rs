//! What can go wrong: loading the ACL, and the two refusals.

use std::path::PathBuf;

// ANCHOR: load_errors
/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can fail in this chapter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An ACL file cannot be read.
    #[error("{what} file {}: {source}", path.display())]
    File {
        /// "ACL model" or "ACL policy".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },

    /// The model file is not a usable casbin model.
    #[error("ACL model file {}: {reason}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A line of the policy file is malformed.
    #[error("ACL policy file {}, line {line}: {reason}", path.display())]
    Policy {
        /// The file.
        path: PathBuf,
        /// The line number (from 1).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    // ANCHOR_END: load_errors

    // ANCHOR: refusals
    /// The request carries no identity (no client certificate with a CN).
    #[error("the caller has no identity: a client certificate with a Common Name is required")]
    Unauthenticated,

    /// The ACL does not allow the subject to perform the action on the object.
    #[error("{subject} is not permitted to {action} to {object}")]
    PermissionDenied {
        /// Who asked.
        subject: String,
        /// What they asked to do.
        action: String,
        /// On what.
        object: String,
    },

    /// The caller asked for a method the service does not have.
    #[error("{method} is not a method of this server")]
    Unimplemented {
        /// The request's path.
        method: String,
    },

    /// The policy engine failed while evaluating a request.
    #[error("evaluating the ACL failed: {0}")]
    Enforcement(String),

    /// The server failed (chapter 3's errors: TLS, transport, storage).
    #[error(transparent)]
    Server(#[from] chapter_03::Error),
}
// ANCHOR_END: refusals
