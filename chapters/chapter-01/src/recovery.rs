//! Recovery: what a crash can leave in a segment, how to tell it from
//! damage, and how opening repairs it.
//!
//! A process killed mid-append, or a machine that loses power, can leave:
//!
//! - a **torn tail**: the last write cut short, or complete but with bytes
//!   that never reached the disk (bad checksum), or a run of zeros where the
//!   file grew but its data was not written;
//! - an **index that disagrees** with the store: pre-sized and full of zero
//!   entries, shorter (entries not yet written back), longer (the store lost
//!   its tail), or missing.
//!
//! A torn tail holds only records nobody was told about (the log
//! acknowledges an append after its write, and under `SyncPolicy::Always`
//! after its sync), so cutting it loses nothing that was promised. Damage
//! anywhere else is different: cutting it would silently delete records
//! that *were* promised, and hand their offsets out again. So recovery cuts
//! bad bytes only when everything says "torn tail" (the rule of
//! *Protocol-Aware Recovery*, FAST '18):
//!
//! ```text
//!   bad bytes at position p of a segment's store
//!        │
//!        ├─ the log was closed cleanly? ──────────── yes ─▶ Corrupt: nothing was torn
//!        ├─ the segment takes appends (the last), or
//!        │  it is the last sealed one and its seal
//!        │  never finished? ─────────────────────── no ──▶ Corrupt: it was synced
//!        ├─ a valid frame starts after p?  ───────── yes ─▶ Corrupt: records follow the damage
//!        └─ otherwise ─────────────────────────────────▶ torn tail: cut the file at p
//! ```
//!
//! Corruption is reported as [`Error::Corrupt`](crate::Error::Corrupt)
//! naming the file and byte, and nothing is changed. The index is then made
//! to agree with the store. Every repair is returned as a [`Repair`], and a
//! second recovery finds nothing to repair.

// ANCHOR: imports
use std::fmt;
use std::path::PathBuf;

use crate::error::{Corruption, Result};
use crate::index::Index;
use crate::store::Store;
// ANCHOR_END: imports

// ANCHOR: repair
/// A change recovery made to a segment's files when the log was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The end of a store held a torn write, which was cut off.
    CutTornTail {
        /// The store file.
        path: PathBuf,
        /// Where the valid records end (the file's new size).
        valid_len: u64,
        /// How many bytes were cut.
        cut_bytes: u64,
        /// What was wrong with the first bad frame.
        problem: Corruption,
    },
    /// A segment that started after a torn tail was removed: its records
    /// followed records that were lost, and were never acknowledged either.
    RemovedSegmentAfterTornTail {
        /// The store file that was removed.
        path: PathBuf,
    },
    /// The index disagreed with its store and was rebuilt from it.
    RebuiltIndex {
        /// The index file.
        path: PathBuf,
        /// The entries it holds now.
        entries: u64,
    },
    /// An index file had no store beside it and was removed.
    RemovedOrphanIndex {
        /// The index file.
        path: PathBuf,
    },
}
// ANCHOR_END: repair

// ANCHOR: repair_display
impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repair::CutTornTail {
                path,
                valid_len,
                cut_bytes,
                problem,
            } => write!(
                f,
                "cut a torn write of {cut_bytes} bytes from the end of {} (valid records end at byte {valid_len}; {problem})",
                path.display()
            ),
            Repair::RemovedSegmentAfterTornTail { path } => write!(
                f,
                "removed {}, which started after a torn write in the segment before it",
                path.display()
            ),
            Repair::RebuiltIndex { path, entries } => {
                write!(
                    f,
                    "rebuilt {} from its store ({entries} entries)",
                    path.display()
                )
            }
            Repair::RemovedOrphanIndex { path } => {
                write!(f, "removed {}, an index without a store", path.display())
            }
        }
    }
}
// ANCHOR_END: repair_display

// ANCHOR: role
/// A segment's place in the log, which decides what a crash can have done
/// to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The newest segment: it took appends until the crash.
    Active,
    /// The segment before the active one: its seal (sync, then index trim)
    /// runs in the background after the roll, and may not have finished.
    LastSealed,
    /// Any older segment: sealed and synced long ago.
    Sealed,
}

/// What recovering one segment did.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// The repairs made.
    pub(crate) repairs: Vec<Repair>,
    /// Whether a torn tail was cut from the last sealed segment: then the
    /// segment after it starts past records that are gone, and must go too.
    pub(crate) later_segments_follow_a_tear: bool,
}
// ANCHOR_END: role

// ANCHOR: recover
// ANCHOR: recover_scan
/// Brings a segment's store and index back to the longest valid prefix of
/// what was appended, or refuses. `clean` says whether the log was closed
/// cleanly (see [`Log::close`](crate::Log::close)).
///
/// # Errors
/// [`Error::Corrupt`](crate::Error::Corrupt) naming the file and position
/// when bytes that are not a torn tail fail their checks.
pub(crate) fn recover(
    store: &Store,
    index: &mut Index,
    role: Role,
    clean: bool,
) -> Result<Recovered> {
    let mut recovered = Recovered::default();
    let scan = store.scan()?;
    if let Some(problem) = scan.problem {
        if !is_torn_tail(store, index, role, clean, scan.valid_len)? {
            return Err(store.corrupt(scan.valid_len, problem));
        }
        store.truncate(scan.valid_len)?;
        store.sync()?;
        recovered.repairs.push(Repair::CutTornTail {
            path: store.path().to_path_buf(),
            valid_len: scan.valid_len,
            cut_bytes: scan.file_len - scan.valid_len,
            problem,
        });
        recovered.later_segments_follow_a_tear = role == Role::LastSealed;
    }
    // ANCHOR_END: recover_scan
    // ANCHOR: recover_index
    let rebuilt = index.reconcile(&scan.positions)?;
    if rebuilt {
        recovered.repairs.push(Repair::RebuiltIndex {
            path: index.path().to_path_buf(),
            entries: scan.positions.len() as u64,
        });
    }
    if role != Role::Active && (rebuilt || !index.was_sealed_on_disk()) {
        // Finish the seal the crash interrupted.
        store.sync()?;
        index.seal()?;
    }
    Ok(recovered)
}
// ANCHOR_END: recover_index
// ANCHOR_END: recover

// ANCHOR: is_torn_tail
/// Whether bad bytes starting at `damaged` can only be a torn final write
/// (see the decision in the module docs).
fn is_torn_tail(
    store: &Store,
    index: &Index,
    role: Role,
    clean: bool,
    damaged: u64,
) -> Result<bool> {
    if clean {
        return Ok(false);
    }
    let may_be_torn = match role {
        Role::Active => true,
        Role::LastSealed => !index.was_sealed_on_disk(),
        Role::Sealed => false,
    };
    if !may_be_torn {
        return Ok(false);
    }
    let later_frame = store.find_frame_after(damaged, &index.raw_positions())?;
    Ok(later_frame.is_none())
}
// ANCHOR_END: is_torn_tail
