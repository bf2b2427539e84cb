//! # Chapter 8: a client of the cluster
//!
//! Chapter 7's cluster answers a produce only on its leader, and tells a
//! client that asks a follower where the leader is. A client should not
//! have to care: this chapter's [`Client`] finds the servers from a few
//! seed addresses, keeps their list fresh, sends produces to the leader and
//! spreads reads over the followers, and when the leader dies it carries
//! on with the new one, without losing a record or appending one twice.
//!
//! * [`config`]: what a client is told ([`ClientConfig`], [`RetryPolicy`]).
//! * [`servers`]: the cluster as the client sees it, and which server each
//!   call goes to (what the Go book's resolver and picker do).
//! * [`retry`]: which failures are worth another try, and for how long.
//! * [`deadline`]: how long one attempt may wait for an answer (a server
//!   cut off by the network never gives one).
//! * [`client`]: [`Client`]: `produce` and `consume`, one record at a time.
//! * [`produce_stream`] and [`consume_stream`]: streams that resume on
//!   another server where they broke off.
//! * [`error`]: what the caller sees when it cannot be done.

pub mod client;
pub mod config;
pub mod consume_stream;
pub mod deadline;
pub mod error;
pub mod produce_stream;
pub mod retry;
pub mod servers;

pub use client::Client;
pub use config::{ClientConfig, RetryPolicy};
pub use error::{Error, Result};
