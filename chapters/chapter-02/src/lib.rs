// ANCHOR: crate_docs
//! # Chapter 2: the log as a gRPC service
//!
//! Chapter 1's log, served over the network with gRPC (tonic and prost), so
//! that other programs can append to it and follow it. The major components
//! are:
//!
//! * [`api`]: the Rust code generated from `proto/log/v1/log.proto` (the
//!   messages, and the client and server stubs of the `log.v1.Log` service).
//! * [`commit_log`]: the [`CommitLog`] trait the service depends on, and
//!   [`FollowableLog`], which wakes followers when records are appended.
//! * [`service`]: [`LogService`], the four RPCs: unary `Produce` and
//!   `Consume`, `ProduceStream` with group commit in a two-stage pipeline,
//!   and `ConsumeStream`, which follows the log without polling.
//! * [`budget`] and [`stream`]: what a stream may buffer for a slow client,
//!   and how it ends with the right status.
//! * `committer`: group commit for the service, when appends wait for
//!   the disk: one thread appends for every call waiting.
//! * [`server`]: [`serve`], the entry point: a listener, a log and a
//!   shutdown future, in the style of mini-redis.
//! * [`client`]: [`connect`], a client for the service.
//! * [`echo`]: a service that stores nothing, the benchmarks' baseline.
//! * [`error`] and [`status`]: what can go wrong, and the one place where it
//!   becomes a `tonic::Status` with google.rpc error details.
// ANCHOR_END: crate_docs

// ANCHOR: modules
pub mod api;
pub mod budget;
pub mod client;
pub mod commit_log;
mod committer;
pub mod echo;
pub mod error;
pub mod server;
pub mod service;
pub mod status;
pub mod stream;

pub use client::connect;
pub use commit_log::{CommitLog, FollowableLog};
pub use error::{Error, Result};
pub use server::{serve, serve_gracefully, serve_service};
pub use service::{LogService, ServiceConfig};
// ANCHOR_END: modules
