// ANCHOR: crate_docs
//! # Chapter 1: the commit log
//!
//! A commit log is an append-only sequence of records, each named by its
//! *offset*. It is the storage engine of Kafka, of Raft, of every database's
//! write-ahead log, and of the service this book builds.
//!
//! This crate is a segmented, memory-mapped commit log that survives crashes
//! and checks every byte it returns. The major components are:
//!
//! * `store`: an append-only file of records framed with a
//!   length and a CRC-32C checksum.
//! * `index`: a memory-mapped array from offset to position
//!   in the store.
//! * `segment`: one store and its index, for one run of
//!   offsets; sealed when full.
//! * [`recovery`]: what a crash can leave behind, how to tell it from
//!   damage, and how opening a segment repairs it ([`Repair`]).
//! * [`meta`]: small files written atomically, like the clean-shutdown
//!   marker.
//! * `commit`: group commit, where appenders share writes and syncs.
//! * `sealer`: the background thread that seals full segments.
//! * [`log`]: the directory of segments, and the public API
//!   ([`Log`]).
//! * [`config`]: limits and the durability policy ([`Config`],
//!   [`SyncPolicy`]).
//! * [`error`]: what can go wrong ([`Error`], [`Corruption`]).
//!
//! ```
//! use chapter_01::{Config, Log};
//!
//! # fn main() -> chapter_01::Result<()> {
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let log = Log::open(dir.path(), Config::default())?;
//! let offset = log.append(b"hello, log")?;
//! assert_eq!(log.read(offset)?, b"hello, log");
//! # Ok(())
//! # }
//! ```
// ANCHOR_END: crate_docs

// ANCHOR: modules
mod commit;
pub mod config;
pub mod error;
mod index;
pub mod log;
pub mod meta;
mod reader;
pub mod recovery;
mod sealer;
mod segment;
mod store;

pub use config::{Config, SyncPolicy};
pub use error::{Corruption, Error, Result};
pub use log::{Log, SegmentInfo};
pub use reader::LogReader;
pub use recovery::Repair;
pub use store::FRAME_OVERHEAD;
// ANCHOR_END: modules
