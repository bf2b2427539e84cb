//! The index: a memory-mapped array that turns an offset into a store position.
//!
//! Entry `n` of a segment's index says where record `base_offset + n` starts
//! in the store:
//!
//! ```text
//! +------------------------+------------------------+
//! | relative offset: u32 BE| store position: u64 BE |   12 bytes, entry n at byte 12·n
//! +------------------------+------------------------+
//! ```
//!
//! Finding a record is arithmetic, not a search. The file is memory-mapped, so
//! writing an entry is a 12-byte copy into memory that the kernel writes back
//! for us. A mapping cannot grow, so the file is pre-sized to its limit while
//! the segment is active, and trimmed to the entries in use when it is sealed.
//!
//! The index is a cache of the store: recovery rebuilds it from the store
//! whenever the two disagree, which is why it never needs an fsync of its own.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use memmap2::MmapMut;

use crate::error::{Error, Result};

/// The bytes of one index entry: a `u32` relative offset and a `u64` position.
pub(crate) const ENTRY_WIDTH: u64 = 12;

/// A memory-mapped array of (relative offset, store position) entries.
#[derive(Debug)]
pub(crate) struct Index {
    path: PathBuf,
    file: File,
    /// How many entries this index may hold.
    capacity: u64,
    /// The mapping and how many of its entries are in use. Appends write
    /// under the write lock; reads share the read lock.
    entries: RwLock<Entries>,
}

#[derive(Debug)]
struct Entries {
    map: MmapMut,
    len: u64,
}

impl Entries {
    fn position(&self, n: u64) -> u64 {
        let at = (n * ENTRY_WIDTH) as usize;
        let mut position = [0; 8];
        position.copy_from_slice(&self.map[at + 4..at + 12]);
        u64::from_be_bytes(position)
    }

    fn relative_offset(&self, n: u64) -> u32 {
        let at = (n * ENTRY_WIDTH) as usize;
        let mut relative = [0; 4];
        relative.copy_from_slice(&self.map[at..at + 4]);
        u32::from_be_bytes(relative)
    }

    fn write(&mut self, n: u64, position: u64) {
        let at = (n * ENTRY_WIDTH) as usize;
        // Relative offsets fit in u32: `Index::open` caps the capacity.
        self.map[at..at + 4].copy_from_slice(&(n as u32).to_be_bytes());
        self.map[at + 4..at + 12].copy_from_slice(&position.to_be_bytes());
    }
}

impl Index {
    /// Opens (or creates) the index at `path`, able to hold `max_bytes / 12`
    /// entries, and pre-sized to that when `presize` (an active segment's).
    /// The entries in use are taken from the file's size, as a sealed
    /// (trimmed) index records them; recovery checks them against the store
    /// before they are trusted.
    pub(crate) fn open(path: &Path, max_bytes: u64, presize: bool) -> Result<Index> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(Error::io("opening index", path))?;
        let file_len = file
            .metadata()
            .map_err(Error::io("inspecting index", path))?
            .len();
        let capacity = (max_bytes / ENTRY_WIDTH).min(u64::from(u32::MAX) + 1);
        let len = file_len / ENTRY_WIDTH;
        let map_len = if presize {
            file_len.max(capacity * ENTRY_WIDTH)
        } else {
            file_len
        };
        if map_len != file_len {
            file.set_len(map_len)
                .map_err(Error::io("sizing index", path))?;
        }
        let map = map(&file, path)?;
        Ok(Index {
            path: path.to_path_buf(),
            file,
            capacity,
            entries: RwLock::new(Entries { map, len }),
        })
    }

    /// The file this index lives in.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// How many entries are in use.
    pub(crate) fn len(&self) -> u64 {
        self.read_lock().len
    }

    /// How many more entries fit.
    pub(crate) fn room(&self) -> u64 {
        self.capacity.saturating_sub(self.len())
    }

    // ANCHOR: locate
    /// Where entry `n`'s record starts in the store, and where the next
    /// record starts if there is one (that is where entry `n`'s record ends).
    pub(crate) fn locate(&self, n: u64) -> Option<(u64, Option<u64>)> {
        let entries = self.read_lock();
        if n >= entries.len {
            return None;
        }
        let end = (n + 1 < entries.len).then(|| entries.position(n + 1));
        Some((entries.position(n), end))
    }
    // ANCHOR_END: locate

    // ANCHOR: append
    /// Appends one entry per record: the first starts at `position`, each
    /// following one where the previous frame ends. The caller has checked
    /// that they fit.
    pub(crate) fn append(&self, mut position: u64, framed_lens: impl Iterator<Item = u64>) {
        let mut entries = self.write_lock();
        for framed_len in framed_lens {
            let n = entries.len;
            entries.write(n, position);
            entries.len = n + 1;
            position += framed_len;
        }
    }
    // ANCHOR_END: append

    // ANCHOR: reconcile
    /// Makes the index agree with the records the store holds, which start at
    /// `positions`. Entries that already agree are kept (and entries past the
    /// last record forgotten); any disagreement rewrites the whole index from
    /// the store. Returns whether it had to rewrite.
    pub(crate) fn reconcile(&mut self, positions: &[u64]) -> Result<bool> {
        let entries = self
            .entries
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = positions.len() as u64;
        let agrees = entries.len >= count
            && positions.iter().enumerate().all(|(n, position)| {
                let n = n as u64;
                u64::from(entries.relative_offset(n)) == n && entries.position(n) == *position
            });
        if agrees {
            entries.len = count;
            return Ok(false);
        }
        let needed = count * ENTRY_WIDTH;
        if (entries.map.len() as u64) < needed {
            entries.map = empty_map(&self.path)?;
            self.file
                .set_len(needed)
                .map_err(Error::io("sizing index", &self.path))?;
            entries.map = map(&self.file, &self.path)?;
        }
        for (n, position) in positions.iter().enumerate() {
            entries.write(n as u64, *position);
        }
        entries.len = count;
        Ok(true)
    }
    // ANCHOR_END: reconcile

    // ANCHOR: seal
    /// Trims the file to the entries in use and syncs it: a sealed index's
    /// size says how many records its segment holds.
    pub(crate) fn seal(&mut self) -> Result<()> {
        let entries = self
            .entries
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let used = entries.len * ENTRY_WIDTH;
        if entries.map.len() as u64 == used {
            return Ok(());
        }
        entries
            .map
            .flush()
            .map_err(Error::io("syncing index", &self.path))?;
        // Shrinking a file under a live mapping would turn reads past the new
        // end into SIGBUS: unmap first, then trim, then map what is left.
        entries.map = empty_map(&self.path)?;
        self.file
            .set_len(used)
            .map_err(Error::io("trimming index", &self.path))?;
        self.file
            .sync_all()
            .map_err(Error::io("syncing index", &self.path))?;
        entries.map = map(&self.file, &self.path)?;
        Ok(())
    }
    // ANCHOR_END: seal

    fn read_lock(&self) -> RwLockReadGuard<'_, Entries> {
        // Entries are plain bytes and `len` only grows after an entry is
        // written, so data behind a poisoned lock is still consistent.
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, Entries> {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Maps the whole file, read-write and shared, so writes reach the file.
#[allow(unsafe_code)]
fn map(file: &File, path: &Path) -> Result<MmapMut> {
    // SAFETY: a mapping is only undefined behaviour if the file changes
    // underneath it. The file belongs to this log: the log holds an exclusive
    // lock on its directory, and this index only resizes the file after
    // replacing the mapping (see `seal` and `reconcile`).
    let map = unsafe { MmapMut::map_mut(file) }.map_err(Error::io("mapping index", path))?;
    // The index is touched 12 bytes at a time, mostly at its end. Without
    // this, the kernel's read-ahead answers the first write to a new,
    // pre-sized index by reading megabytes of zeros into memory (a third
    // of the time of 4 KiB batch appends in the benchmark). Advice only
    // tunes the kernel's behaviour, so a refusal is harmless.
    let _ = map.advise(memmap2::Advice::Random);
    Ok(map)
}

/// An anonymous zero-length stand-in, held while the file is resized.
fn empty_map(path: &Path) -> Result<MmapMut> {
    MmapMut::map_anon(0).map_err(Error::io("mapping index", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir, presize: bool) -> Index {
        Index::open(&dir.path().join("test.index"), 1024, presize).unwrap()
    }

    // Entries written are read back; the last entry's end is unknown.
    #[test]
    fn writes_and_locates_entries() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir, true);
        assert_eq!(index.locate(0), None, "an empty index has no entries");
        index.append(0, [10, 20].into_iter());
        assert_eq!(index.locate(0), Some((0, Some(10))));
        assert_eq!(index.locate(1), Some((10, None)));
        assert_eq!(index.len(), 2);
    }

    // Reading past the last entry finds nothing, not a zeroed entry.
    #[test]
    fn locating_past_the_end_finds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir, true);
        index.append(0, [10].into_iter());
        assert_eq!(index.locate(1), None);
        assert_eq!(index.locate(u64::MAX / ENTRY_WIDTH), None);
    }

    // While active the file is pre-sized to the limit; sealing trims it to
    // the entries in use, and reopening it finds the last entry.
    #[test]
    fn seal_trims_and_reopen_keeps_the_last_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.index");
        let mut index = open(&dir, true);
        index.append(0, [10, 20, 30].into_iter());
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            1020,
            "1024 rounded down to whole entries"
        );
        index.seal().unwrap();
        drop(index);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * ENTRY_WIDTH);
        let index = open(&dir, false);
        assert_eq!(index.len(), 3);
        assert_eq!(index.locate(2), Some((30, None)));
    }

    // The capacity is the whole entries that fit in the limit.
    #[test]
    fn capacity_rounds_down_to_whole_entries() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("test.index"), 25, true).unwrap();
        assert_eq!(index.room(), 2);
        index.append(0, [1, 1].into_iter());
        assert_eq!(index.room(), 0);
    }

    // Reconcile keeps entries that agree with the store and rewrites ones that don't.
    #[test]
    fn reconcile_keeps_agreeing_entries_and_rewrites_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = open(&dir, true);
        index.append(0, [10, 20, 30].into_iter());
        assert!(
            !index.reconcile(&[0, 10]).unwrap(),
            "a prefix that agrees is kept"
        );
        assert_eq!(index.len(), 2);
        assert!(
            index.reconcile(&[0, 11]).unwrap(),
            "a disagreement rewrites"
        );
        assert_eq!(index.locate(1), Some((11, None)));
    }
}
