//! How a log is shaped and how hard it tries to be durable.
//!
//! Segments roll when either file reaches its limit, so the two limits decide
//! how large the unit of retention is. [`SyncPolicy`] decides when bytes move
//! from the operating system's page cache to the disk: the trade between
//! throughput and how much a power loss can take away.

// ANCHOR: imports
use std::time::Duration;

use crate::error::{Error, Result};
use crate::index::ENTRY_WIDTH;
use crate::store::FRAME_OVERHEAD;
// ANCHOR_END: imports

// ANCHOR: config
// ANCHOR: config_struct
/// The shape and durability of a [`Log`](crate::Log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The most bytes one store file may hold, framing included. A record
    /// that does not fit in an empty store is rejected.
    pub max_store_bytes: u64,
    /// The most bytes one index file may hold: `max_index_bytes / 8`
    /// records per segment (any remainder is unused).
    pub max_index_bytes: u64,
    /// The offset of the first record of a new, empty log.
    pub initial_offset: u64,
    /// When appended bytes are forced to disk.
    pub sync: SyncPolicy,
}
// ANCHOR_END: config_struct

// ANCHOR: sync_policy
/// When the log calls `fsync` (strictly, `fdatasync`) on its store files.
///
/// Whatever the policy, [`Log::sync`](crate::Log::sync) forces everything
/// appended so far to disk, and [`Log::close`](crate::Log::close) does too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Never sync: every append is handed to the operating system before
    /// it returns, and reaches the disk when the OS writes its page cache
    /// back (within about 30 seconds on Linux). Fastest. A crash of the
    /// process loses nothing; a power loss loses what the OS had not
    /// written back.
    Os,
    /// Sync after every `n` appended records (in between, as [`SyncPolicy::Os`]).
    EveryRecords(u64),
    /// Sync on the first append at least this long after the previous sync
    /// (in between, as [`SyncPolicy::Os`]).
    /// (Checked when appending: a server that can go idle also calls
    /// [`Log::sync`](crate::Log::sync) on a timer.)
    Interval(Duration),
    /// Sync before `append` and `append_batch` return: every record whose
    /// offset was returned survives a process crash and a power loss, and
    /// no reader sees a record before it is on disk. Appends from
    /// concurrent threads share one sync (group commit), and so do the
    /// records of one `append_batch`.
    Always,
}
// ANCHOR_END: sync_policy
// ANCHOR_END: config

// ANCHOR: default
impl Default for Config {
    /// Production sizes: 1 GiB stores, 10 MiB indexes (1,310,720 records per
    /// segment), offsets from 0, syncing left to the operating system.
    fn default() -> Self {
        Config {
            max_store_bytes: 1 << 30,
            max_index_bytes: 10 << 20,
            initial_offset: 0,
            sync: SyncPolicy::Os,
        }
    }
}
// ANCHOR_END: default

// ANCHOR: validate
impl Config {
    /// Checks that the limits describe a log that can hold at least one record.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the setting that is off.
    pub fn validate(&self) -> Result<()> {
        if self.max_index_bytes < ENTRY_WIDTH {
            return Err(Error::InvalidConfig(format!(
                "max_index_bytes is {}, but one index entry needs {ENTRY_WIDTH} bytes",
                self.max_index_bytes
            )));
        }
        if self.max_store_bytes < FRAME_OVERHEAD {
            return Err(Error::InvalidConfig(format!(
                "max_store_bytes is {}, but one record's frame needs {FRAME_OVERHEAD} bytes",
                self.max_store_bytes
            )));
        }
        if self.sync == SyncPolicy::EveryRecords(0) {
            return Err(Error::InvalidConfig(
                "sync every 0 records: use SyncPolicy::Always to sync every record".into(),
            ));
        }
        if self.sync == SyncPolicy::Interval(Duration::ZERO) {
            return Err(Error::InvalidConfig(
                "sync at an interval of 0: use SyncPolicy::Always to sync every append".into(),
            ));
        }
        Ok(())
    }
}
// ANCHOR_END: validate
