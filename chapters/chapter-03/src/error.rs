//! What can go wrong setting up or serving TLS. Every file problem names
//! the file, because "invalid certificate" alone sends an operator hunting.

use std::path::PathBuf;

// ANCHOR: file_errors
/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can fail in this chapter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configured file does not exist.
    #[error("{what} file {}: not found", path.display())]
    FileMissing {
        /// What the file should hold ("certificate", "private key", "CA certificate").
        what: &'static str,
        /// The file.
        path: PathBuf,
    },

    /// A configured file exists but cannot be read.
    #[error("{what} file {}: cannot be read: {source}", path.display())]
    FileUnreadable {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },

    /// A file holds no usable PEM block of the expected kind.
    #[error("{what} file {}: not a PEM {what}: {reason}", path.display())]
    NotPem {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    // ANCHOR_END: file_errors

    // ANCHOR: other_errors
    /// The private key is not the key of the certificate.
    #[error("private key file {} does not match the certificate in {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
    },

    /// A CA file holds a certificate that cannot be a trust anchor.
    #[error("CA certificate file {}: {reason}", path.display())]
    BadCa {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },

    /// rustls refused the configuration for another reason.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),

    /// The server name for the client is not a valid DNS name or IP address.
    #[error("invalid server name {0:?}")]
    ServerName(String),

    /// The service failed (chapter 2's errors: transport, storage).
    #[error(transparent)]
    Service(#[from] chapter_02::Error),
}

impl From<tonic::transport::Error> for Error {
    fn from(error: tonic::transport::Error) -> Self {
        Error::Service(chapter_02::Error::Transport(error))
    }
}
// ANCHOR_END: other_errors
