// ANCHOR: crate_docs
//! # Chapter 7: replication with consensus
//!
//! One server's disk can die with everything on it. This chapter keeps
//! every acknowledged record on a majority of servers, with Raft (through
//! openraft, a tested engine, as the Go book uses hashicorp/raft): one
//! server leads, appends what clients produce to its Raft log, replicates
//! it to the others, and answers once a majority has it; when the leader
//! dies, the others elect a new one, and every server's log stays the same.
//! The major components are:
//!
//! * [`types`]: what Raft replicates ([`types::Append`] of records) and
//!   openraft's type configuration.
//! * [`codec`]: openraft's types as bytes (postcard).
//! * [`log_store`]: the Raft log, in a chapter 1 log ([`LogStore`]), with
//!   its newest entries kept decoded in memory ([`recent`]).
//! * [`producers`] and [`state_machine`]: applying committed entries to a
//!   second chapter 1 log, the one clients read ([`StateMachine`]), with
//!   idempotent produce; the private `snapshot` module is its snapshot file.
//! * [`network`] and [`raft_service`]: Raft's messages between servers, as
//!   a second gRPC service on the same port, over mutual TLS.
//! * [`service`]: the Log service, replicated ([`ReplicatedLog`]); and
//!   [`status`]: NOT_LEADER and "fate unknown", which a client must tell apart.
//! * [`admission`]: gossip proposes members, the leader checks them over
//!   mutual TLS, Raft adds them; [`bootstrap`]: several servers forming a
//!   cluster at once.
//! * [`node`]: one server, put together ([`ClusterNode`]).
//! * `testing` (feature `testing`): clusters of real servers for tests.
// ANCHOR_END: crate_docs

// ANCHOR: modules
pub mod admission;
pub mod api;
pub mod bootstrap;
pub mod codec;
pub mod error;
pub mod log_store;
pub mod network;
pub mod node;
pub mod producers;
pub mod raft_service;
pub mod recent;
pub mod service;
mod snapshot;
pub mod state_machine;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;
pub mod types;

pub use error::{Error, Result};
pub use log_store::LogStore;
pub use node::{ClusterNode, NodeConfig, RaftTiming, routes};
pub use service::ReplicatedLog;
pub use state_machine::StateMachine;
// ANCHOR_END: modules
