//! What can go wrong when a member starts, changes what it publishes, or
//! leaves. Bad packets from the network are not here: they are logged and
//! dropped, never returned (see `membership.rs`).

use std::net::SocketAddr;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can fail in this chapter.
// ANCHOR: error
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting makes no sense; the message names it and says why.
    #[error("membership setting {setting}: {reason}")]
    InvalidSetting {
        /// The setting's name, as in `MembershipConfig` (`seeds[1]`, `phi_threshold`).
        setting: String,
        /// What is wrong with its value.
        reason: String,
    },

    /// The gossip socket cannot be bound (the port is in use, the address
    /// is not this machine's, ...).
    #[error("cannot bind the gossip address {addr}/UDP: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why the operating system refused.
        #[source]
        source: std::io::Error,
    },

    /// The gossip engine failed to start or to stop for another reason.
    #[error("gossip: {0}")]
    Gossip(String),
}
// ANCHOR_END: error

impl Error {
    /// An [`Error::InvalidSetting`] for `setting`.
    pub(crate) fn setting(setting: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidSetting {
            setting: setting.into(),
            reason: reason.into(),
        }
    }
}
