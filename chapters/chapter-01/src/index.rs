//! The index: a memory-mapped array that turns an offset into a store position.
//!
//! Entry `n` of a segment's index says where record `base_offset + n` starts
//! in the store:
//!
//! ```text
//! +------------------------+------------------------+----
//! | store position: u64 BE | store position: u64 BE | ...    entry n at byte 8·n
//! +------------------------+------------------------+----
//!    record base_offset+0     record base_offset+1
//! ```
//!
//! No offset is stored: an entry's place in the array *is* its offset, so
//! finding a record is arithmetic, not a search, and 100,000 entries fit in
//! 800 KB (a CPU's L2 cache). The file is memory-mapped (with the
//! [`memmap2`] crate), so writing an entry is an 8-byte copy into memory
//! that the kernel writes back for us.
//!
//! A mapping cannot grow, so while its segment is active the file is
//! allocated for real (`fallocate`) to one entry *more* than its limit:
//! writing to a page the disk has no room for would kill the process with
//! SIGBUS, and the extra entry, never used, marks the file as unsealed.
//! Sealing trims it to the entries in use, which makes its size say how many
//! records the segment holds, and that it was sealed.
//!
//! The index is a cache of the store: recovery rebuilds it from the store
//! whenever the two disagree, which is why an entry never needs an fsync of
//! its own.

// ANCHOR: imports
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use memmap2::MmapMut;

use crate::error::{Error, Result};
use crate::store::FILE_MODE;
// ANCHOR_END: imports

// ANCHOR: index_struct
/// The bytes of one index entry: a `u64` store position.
pub(crate) const ENTRY_WIDTH: u64 = 8;

/// A memory-mapped array of store positions.
#[derive(Debug)]
pub(crate) struct Index {
    path: PathBuf,
    file: File,
    /// How many entries this index may hold.
    capacity: u64,
    /// Whether the file was trimmed by a finished seal when it was opened.
    sealed_on_disk: bool,
    /// The mapping and how many of its entries are in use. Appends and
    /// resizes write under the write lock (for nanoseconds); reads share
    /// the read lock. No lock here is ever held across an fsync.
    entries: RwLock<Entries>,
}

#[derive(Debug)]
struct Entries {
    map: MmapMut,
    len: u64,
}
// ANCHOR_END: index_struct

// ANCHOR: entries
impl Entries {
    /// Entry `n`, if the mapping holds it.
    fn position(&self, n: u64) -> Option<u64> {
        let at = usize::try_from(n.checked_mul(ENTRY_WIDTH)?).ok()?;
        let bytes = self.map.get(at..at.checked_add(8)?)?;
        Some(u64::from_be_bytes(bytes.try_into().ok()?))
    }

    /// Writes entry `n`. The caller keeps `n` below the mapping's entries.
    fn write(&mut self, n: u64, position: u64) {
        let at = (n * ENTRY_WIDTH) as usize;
        self.map[at..at + 8].copy_from_slice(&position.to_be_bytes());
    }

    fn mapped_entries(&self) -> u64 {
        self.map.len() as u64 / ENTRY_WIDTH
    }
}
// ANCHOR_END: entries

// ANCHOR: open
impl Index {
    /// Opens (or creates) the index at `path`, able to hold
    /// `max_bytes / 8` entries. An `active` index is allocated to its full
    /// size (plus the unsealed marker entry). The entries in use are taken
    /// from the file's size, as a sealed (trimmed) index records them;
    /// recovery checks them against the store before they are trusted.
    pub(crate) fn open(path: &Path, max_bytes: u64, active: bool) -> Result<Index> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(path)
            .map_err(Error::io("opening index", path))?;
        let file_len = file
            .metadata()
            .map_err(Error::io("inspecting index", path))?
            .len();
        let capacity = max_bytes / ENTRY_WIDTH;
        let sealed_on_disk = file_len <= capacity * ENTRY_WIDTH && file_len % ENTRY_WIDTH == 0;
        let presized = (capacity + 1) * ENTRY_WIDTH;
        if active && file_len < presized {
            allocate(&file, presized).map_err(Error::io("allocating index", path))?;
        }
        let map = map(&file, path)?;
        Ok(Index {
            path: path.to_path_buf(),
            file,
            capacity,
            sealed_on_disk,
            entries: RwLock::new(Entries {
                map,
                len: file_len / ENTRY_WIDTH,
            }),
        })
    }
    // ANCHOR_END: open

    // ANCHOR: small
    /// The file this index lives in.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file had been trimmed by a finished seal when it was
    /// opened: then its store had been synced, and its size is a record count.
    pub(crate) fn was_sealed_on_disk(&self) -> bool {
        self.sealed_on_disk
    }

    /// How many entries are in use.
    pub(crate) fn len(&self) -> u64 {
        self.read_lock().len
    }

    /// How many more entries fit.
    pub(crate) fn room(&self) -> u64 {
        self.capacity.saturating_sub(self.len())
    }

    /// Every entry the file holds, in use or not: where recovery looks first
    /// for records after damage.
    pub(crate) fn raw_positions(&self) -> Vec<u64> {
        let entries = self.read_lock();
        (0..entries.mapped_entries())
            .filter_map(|n| entries.position(n))
            .collect()
    }
    // ANCHOR_END: small

    // ANCHOR: locate
    /// Where entry `n`'s record starts in the store, and where the next
    /// record starts if there is one (that is where entry `n`'s record ends).
    ///
    /// # Errors
    /// [`Error::Poisoned`] if a failed resize left the index without its
    /// mapping.
    pub(crate) fn locate(&self, n: u64) -> Result<Option<(u64, Option<u64>)>> {
        let entries = self.read_lock();
        if n >= entries.len {
            return Ok(None);
        }
        let position = entries.position(n).ok_or_else(|| self.unmapped())?;
        let end = (n + 1 < entries.len)
            .then(|| entries.position(n + 1).ok_or_else(|| self.unmapped()))
            .transpose()?;
        Ok(Some((position, end)))
    }
    // ANCHOR_END: locate

    // ANCHOR: append
    /// Appends one entry per record: the first starts at `position`, each
    /// following one where the previous frame ends. The caller has checked
    /// that they fit.
    ///
    /// # Errors
    /// [`Error::Poisoned`] if the mapping has no room (a failed resize).
    pub(crate) fn append(
        &self,
        mut position: u64,
        framed_lens: impl Iterator<Item = u64>,
    ) -> Result<()> {
        let mut entries = self.write_lock();
        for framed_len in framed_lens {
            let n = entries.len;
            if n >= entries.mapped_entries() {
                return Err(self.unmapped());
            }
            entries.write(n, position);
            entries.len = n + 1;
            position += framed_len;
        }
        Ok(())
    }
    // ANCHOR_END: append

    // ANCHOR: truncate
    /// Forgets every entry from `len` on (a failed append taking its
    /// entries back).
    pub(crate) fn truncate(&self, len: u64) {
        let mut entries = self.write_lock();
        entries.len = entries.len.min(len);
    }
    // ANCHOR_END: truncate

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
            && positions
                .iter()
                .enumerate()
                .all(|(n, position)| entries.position(n as u64) == Some(*position));
        if agrees {
            entries.len = count;
            return Ok(false);
        }
        if entries.mapped_entries() < count {
            entries.map = empty_map(&self.path)?;
            allocate(&self.file, count * ENTRY_WIDTH)
                .map_err(Error::io("allocating index", &self.path))?;
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
    /// size says how many records its segment holds, and that the seal
    /// finished. The caller has synced the store first.
    pub(crate) fn seal(&self) -> Result<()> {
        // The slow part, writing dirty entries back, needs no exclusive lock.
        self.read_lock()
            .map
            .flush()
            .map_err(Error::io("syncing index", &self.path))?;
        let mut entries = self.write_lock();
        let used = entries.len * ENTRY_WIDTH;
        if entries.map.len() as u64 != used {
            // Shrinking a file under a live mapping would turn reads past the
            // new end into SIGBUS: unmap first, then trim, then map what is
            // left. If the trim fails, map the file as it still is.
            entries.map = empty_map(&self.path)?;
            let trimmed = self
                .file
                .set_len(used)
                .map_err(Error::io("trimming index", &self.path));
            entries.map = map(&self.file, &self.path)?;
            trimmed?;
        }
        drop(entries);
        self.file
            .sync_all()
            .map_err(Error::io("syncing index", &self.path))
    }
    // ANCHOR_END: seal

    // ANCHOR: locks
    fn unmapped(&self) -> Error {
        Error::Poisoned {
            cause: format!(
                "the index {} has no mapped room for this entry (a failed resize?)",
                self.path.display()
            ),
        }
    }

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
// ANCHOR_END: locks

// ANCHOR: allocate
/// Makes `file` `len` bytes long with real disk blocks behind every byte
/// (`fallocate`), so that no write through the mapping can find the disk
/// full. Where the file system cannot (`EOPNOTSUPP`), zeros are written.
fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    let current = file.metadata()?.len();
    if len <= current {
        return file.set_len(len);
    }
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP) => {
            use std::os::unix::fs::FileExt;
            let zeros = vec![0; 64 * 1024];
            let mut at = current;
            while at < len {
                let take = (len - at).min(zeros.len() as u64) as usize;
                file.write_all_at(&zeros[..take], at)?;
                at += take as u64;
            }
            Ok(())
        }
        Err(errno) => Err(errno.into()),
    }
}
// ANCHOR_END: allocate

// ANCHOR: map
/// Maps the whole file, read-write and shared, so writes reach the file.
#[allow(unsafe_code)]
fn map(file: &File, path: &Path) -> Result<MmapMut> {
    // SAFETY: a mapping is only undefined behaviour if the file changes
    // underneath it (another process truncating it, say). The file belongs
    // to this log: the log holds an exclusive lock on its directory, its
    // files are private (0600), and this index only resizes the file after
    // replacing the mapping (see `seal` and `reconcile`).
    let map = unsafe { MmapMut::map_mut(file) }.map_err(Error::io("mapping index", path))?;
    // The index is touched 8 bytes at a time, mostly at its end. Without
    // this, the kernel's read-ahead answers the first write to a new index
    // by reading megabytes of zeros into memory. Advice only tunes the
    // kernel's behaviour, so a refusal is harmless.
    let _ = map.advise(memmap2::Advice::Random);
    Ok(map)
}
// ANCHOR_END: map

// ANCHOR: empty_map
/// An anonymous zero-length stand-in, held while the file is resized.
fn empty_map(path: &Path) -> Result<MmapMut> {
    MmapMut::map_anon(0).map_err(Error::io("mapping index", path))
}
// ANCHOR_END: empty_map

// ANCHOR: test_helpers
#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir, active: bool) -> Index {
        Index::open(&dir.path().join("test.index"), 1024, active).unwrap()
    }
    // ANCHOR_END: test_helpers

    // Entries written are read back; the last entry's end is unknown.
    #[test]
    fn writes_and_locates_entries() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir, true);
        assert_eq!(
            index.locate(0).unwrap(),
            None,
            "an empty index has no entries"
        );
        index.append(0, [10, 20].into_iter()).unwrap();
        assert_eq!(index.locate(0).unwrap(), Some((0, Some(10))));
        assert_eq!(index.locate(1).unwrap(), Some((10, None)));
        assert_eq!(index.len(), 2);
    }

    // Reading past the last entry finds nothing, not a zeroed entry.
    #[test]
    fn locating_past_the_end_finds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir, true);
        index.append(0, [10].into_iter()).unwrap();
        assert_eq!(index.locate(1).unwrap(), None);
        assert_eq!(index.locate(u64::MAX / ENTRY_WIDTH).unwrap(), None);
        assert_eq!(index.locate(u64::MAX).unwrap(), None);
    }

    // ANCHOR: test_seal
    // While active the file holds the limit plus the marker entry, with real
    // blocks behind it; sealing trims it to the entries in use, and
    // reopening it finds the last entry and knows it was sealed.
    #[test]
    fn seal_trims_and_reopen_keeps_the_last_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.index");
        let index = open(&dir, true);
        index.append(0, [10, 20, 30].into_iter()).unwrap();
        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!(metadata.len(), 1024 + 8, "128 entries and the marker");
        {
            use std::os::unix::fs::MetadataExt;
            assert!(
                metadata.blocks() * 512 >= metadata.len(),
                "allocated, not sparse"
            );
        }
        assert!(
            !Index::open(&path, 1024, false)
                .unwrap()
                .was_sealed_on_disk()
        );
        index.seal().unwrap();
        drop(index);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * ENTRY_WIDTH);
        let index = open(&dir, false);
        assert!(index.was_sealed_on_disk());
        assert_eq!(index.len(), 3);
        assert_eq!(index.locate(2).unwrap(), Some((30, None)));
    }
    // ANCHOR_END: test_seal

    // A full index is a sealed one too: the marker entry tells it apart
    // from an active index of the same limit.
    #[test]
    fn a_full_sealed_index_is_not_taken_for_an_active_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.index");
        let index = Index::open(&path, 16, true).unwrap();
        index.append(0, [1, 1].into_iter()).unwrap();
        assert_eq!(index.room(), 0);
        index.seal().unwrap();
        drop(index);
        assert!(Index::open(&path, 16, false).unwrap().was_sealed_on_disk());
    }

    // The capacity is the whole entries that fit in the limit.
    #[test]
    fn capacity_rounds_down_to_whole_entries() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("test.index"), 20, true).unwrap();
        assert_eq!(index.room(), 2);
        index.append(0, [1, 1].into_iter()).unwrap();
        assert_eq!(index.room(), 0);
    }

    // Reconcile keeps entries that agree with the store and rewrites ones that don't.
    #[test]
    fn reconcile_keeps_agreeing_entries_and_rewrites_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = open(&dir, true);
        index.append(0, [10, 20, 30].into_iter()).unwrap();
        assert!(
            !index.reconcile(&[0, 10]).unwrap(),
            "a prefix that agrees is kept"
        );
        assert_eq!(index.len(), 2);
        assert!(
            index.reconcile(&[0, 11]).unwrap(),
            "a disagreement rewrites"
        );
        assert_eq!(index.locate(1).unwrap(), Some((11, None)));
    }

    // Taking entries back forgets them; the next append reuses their places.
    #[test]
    fn truncate_forgets_entries() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(&dir, true);
        index.append(0, [10, 20, 30].into_iter()).unwrap();
        index.truncate(1);
        assert_eq!(index.locate(1).unwrap(), None);
        index.append(10, [5].into_iter()).unwrap();
        assert_eq!(index.locate(1).unwrap(), Some((10, None)));
    }
}
