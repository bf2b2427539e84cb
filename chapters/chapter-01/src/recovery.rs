//! Recovery: what a crash can leave in a segment, and how opening repairs it.
//!
//! A process killed mid-append, or a machine that loses power, can leave:
//!
//! - a **torn tail**: the last frame cut short, or complete but with bytes
//!   that never reached the disk (bad checksum), or a run of zeros where the
//!   file grew but its data was not written;
//! - an **index that disagrees** with the store: pre-sized and full of zero
//!   entries, shorter (entries not yet written back), longer (the store lost
//!   its tail), or missing.
//!
//! Opening a segment scans its store, checking every frame's CRC, and keeps
//! exactly the longest valid prefix. A torn tail is cut off, but only in the
//! active (last) segment and only when the damage runs to the end of the file:
//! a sealed segment was synced when it was sealed, and bad bytes followed by
//! good ones are not a torn write. Those are reported as corruption, never
//! dropped. The index is then made to agree with the store. Every repair is
//! returned as a [`Repair`], and a second recovery finds nothing to repair.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Corruption, Result};
use crate::index::Index;
use crate::store::Store;

/// A change recovery made to a segment's files when the log was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The end of the active store held a torn write, which was cut off.
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

// ANCHOR: recover
/// Brings a segment's store and index back to the longest valid prefix of
/// what was appended. `active` says whether this is the log's last segment,
/// the only one a crash can leave half-written.
///
/// # Errors
/// [`Error::Corrupt`](crate::Error::Corrupt) naming the file and position
/// when bytes that are not a torn tail fail their checks.
pub(crate) fn recover(store: &Store, index: &mut Index, active: bool) -> Result<Vec<Repair>> {
    let mut repairs = Vec::new();
    let scan = store.scan()?;
    if let Some(problem) = scan.problem {
        let torn = active && (scan.reaches_end || store.is_zero_from(scan.valid_len)?);
        if !torn {
            return Err(store.corrupt(scan.valid_len, problem));
        }
        store.truncate(scan.valid_len)?;
        repairs.push(Repair::CutTornTail {
            path: store.path().to_path_buf(),
            valid_len: scan.valid_len,
            cut_bytes: scan.file_len - scan.valid_len,
            problem,
        });
    }
    if index.reconcile(&scan.positions)? {
        repairs.push(Repair::RebuiltIndex {
            path: index.path().to_path_buf(),
            entries: scan.positions.len() as u64,
        });
    }
    if !active {
        index.seal()?;
    }
    Ok(repairs)
}
// ANCHOR_END: recover
