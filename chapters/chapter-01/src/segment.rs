//! A segment: one store and its index, holding a contiguous run of offsets.
//!
//! A segment is named by its *base offset*, the offset of its first record,
//! zero-padded to 20 digits so that a directory listing sorts like the log
//! (`00000000000000000016.store`, `00000000000000000016.index`). Record
//! `base_offset + n` is entry `n` of the index, which points into the store.
//!
//! Only the newest segment, the *active* one, takes appends. When a record
//! would not fit in its store, or its index is full, the log starts a new
//! segment at the next offset and hands the full one to a background thread
//! that *seals* it (syncs the store, trims the index). Sealed segments never
//! change again; retention deletes them whole.

// ANCHOR: imports
use std::fs;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::index::Index;
use crate::recovery::{Recovered, Role, recover};
use crate::store::Store;
// ANCHOR_END: imports

// ANCHOR: segment_struct
/// One store file and its index file, for the offsets `base_offset..next_offset()`.
#[derive(Debug)]
pub(crate) struct Segment {
    base_offset: u64,
    max_store_bytes: u64,
    store: Store,
    index: Index,
}

/// The path of a segment file: the base offset, zero-padded, and `extension`.
pub(crate) fn segment_path(dir: &Path, base_offset: u64, extension: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{extension}"))
}

/// Where a segment's records end: what a failed append is rolled back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct End {
    /// The store's size.
    pub(crate) store_bytes: u64,
    /// The index's entries.
    pub(crate) entries: u64,
}
// ANCHOR_END: segment_struct

// ANCHOR: create
impl Segment {
    /// Creates a new, empty, active segment at `base_offset` in `dir`.
    pub(crate) fn create(dir: &Path, base_offset: u64, config: &Config) -> Result<Segment> {
        let store_path = segment_path(dir, base_offset, "store");
        let store = Store::open(&store_path, config.max_store_bytes)?;
        let index = Index::open(
            &segment_path(dir, base_offset, "index"),
            config.max_index_bytes,
            true,
        )
        .inspect_err(|_| {
            // Leave no half-made segment behind (it would be harmless, an
            // empty store, but it is not ours to keep).
            if store.size() == 0 {
                let _ = fs::remove_file(&store_path);
            }
        })?;
        Ok(Segment {
            base_offset,
            max_store_bytes: config.max_store_bytes,
            store,
            index,
        })
    }
    // ANCHOR_END: create

    // ANCHOR: open
    /// Opens the existing segment at `base_offset` in `dir` and recovers it
    /// (see [`recovery`](crate::recovery)) for its `role` in the log.
    pub(crate) fn open(
        dir: &Path,
        base_offset: u64,
        config: &Config,
        role: Role,
        clean: bool,
    ) -> Result<(Segment, Recovered)> {
        let store = Store::open(
            &segment_path(dir, base_offset, "store"),
            config.max_store_bytes,
        )?;
        let mut index = Index::open(
            &segment_path(dir, base_offset, "index"),
            config.max_index_bytes,
            role == Role::Active,
        )?;
        let recovered = recover(&store, &mut index, role, clean)?;
        let segment = Segment {
            base_offset,
            max_store_bytes: config.max_store_bytes,
            store,
            index,
        };
        Ok((segment, recovered))
    }
    // ANCHOR_END: open

    // ANCHOR: accessors
    /// The offset of the segment's first record.
    pub(crate) fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// The offset the segment's next record would get.
    pub(crate) fn next_offset(&self) -> u64 {
        self.base_offset + self.index.len()
    }

    /// Whether the segment holds no records.
    pub(crate) fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// The bytes the segment's store holds.
    pub(crate) fn store_bytes(&self) -> u64 {
        self.store.size()
    }

    /// When the store file was last written.
    pub(crate) fn last_modified(&self) -> Result<std::time::SystemTime> {
        self.store.last_modified()
    }

    /// Where its records end now.
    pub(crate) fn end(&self) -> End {
        End {
            store_bytes: self.store.size(),
            entries: self.index.len(),
        }
    }
    // ANCHOR_END: accessors

    // ANCHOR: fit
    /// How many of the records whose frames are `framed_lens` long, from
    /// the first, fit in this segment: both the store's byte limit and the
    /// index's entry limit must hold *before* anything is written, so a full
    /// segment never has orphan bytes.
    pub(crate) fn how_many_fit(&self, framed_lens: &[u64]) -> usize {
        let mut free_bytes = self.max_store_bytes.saturating_sub(self.store.size());
        let free_entries = self.index.room().min(framed_lens.len() as u64) as usize;
        framed_lens[..free_entries]
            .iter()
            .take_while(|&&needed| {
                let fits = needed <= free_bytes;
                free_bytes = free_bytes.saturating_sub(needed);
                fits
            })
            .count()
    }
    // ANCHOR_END: fit

    // ANCHOR: append
    /// Appends records already framed into `frames`, one per entry of
    /// `framed_lens`, which the caller has checked fit: frames to the store
    /// first, then their positions to the index. A reader finds a record
    /// through the index, so it never sees an entry whose bytes are not yet
    /// in the store.
    pub(crate) fn append(&self, frames: &[u8], framed_lens: &[u64]) -> Result<()> {
        let position = self.store.write_at_end(frames)?;
        self.index.append(position, framed_lens.iter().copied())
    }
    // ANCHOR_END: append

    // ANCHOR: roll_back
    /// Where the segment's records end once every record after `offset` (one
    /// of its own) is gone.
    pub(crate) fn end_after(&self, offset: u64) -> Result<End> {
        let relative = offset.saturating_sub(self.base_offset);
        let end = match self.index.locate(relative)? {
            Some((_, Some(next))) => next,
            Some((_, None)) => self.store.size(),
            None => return Ok(self.end()),
        };
        Ok(End {
            store_bytes: end,
            entries: relative + 1,
        })
    }

    /// Takes back everything appended after `end`: the store is cut to its
    /// size then, the index forgets its entries.
    pub(crate) fn roll_back_to(&self, end: End) -> Result<()> {
        self.index.truncate(end.entries);
        self.store.truncate(end.store_bytes)
    }
    // ANCHOR_END: roll_back

    // ANCHOR: read
    /// Reads the record at `offset`, or `None` if this segment does not hold it.
    pub(crate) fn read(&self, offset: u64) -> Result<Option<Vec<u8>>> {
        let Some(relative) = offset.checked_sub(self.base_offset) else {
            return Ok(None);
        };
        match self.index.locate(relative)? {
            Some((position, end)) => self.store.read(position, end).map(Some),
            None => Ok(None),
        }
    }
    // ANCHOR_END: read

    // ANCHOR: seal
    /// Forces every appended record to disk.
    pub(crate) fn sync(&self) -> Result<()> {
        self.store.sync()
    }

    /// Seals the segment: syncs the store, then trims the index to its
    /// entries (which records that the seal finished).
    pub(crate) fn seal(&self) -> Result<()> {
        self.store.sync()?;
        self.index.seal()
    }

    /// A file handle on the store and its size now, for [`LogReader`](crate::LogReader).
    pub(crate) fn raw_store(&self) -> Result<(fs::File, u64)> {
        Ok((self.store.raw_file()?, self.store.size()))
    }

    /// Deletes the segment's files: the store first, so a crash in between
    /// leaves an orphan index (which recovery removes), never a store without
    /// an index that claims to be complete. Open handles (a reader, the
    /// sealer) keep working on the deleted files until they let go.
    pub(crate) fn remove_files(&self) -> Result<()> {
        let (store, index) = (self.store.path(), self.index.path());
        fs::remove_file(store).map_err(Error::io("removing store", store))?;
        match fs::remove_file(index) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("removing index", index)(error))
            }
            _ => Ok(()),
        }
    }
}
// ANCHOR_END: seal

// ANCHOR: test_helpers
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{encode_frame, framed_len};

    fn config(max_store_bytes: u64, max_index_bytes: u64) -> Config {
        Config {
            max_store_bytes,
            max_index_bytes,
            ..Config::default()
        }
    }

    fn append(segment: &Segment, values: &[&[u8]]) {
        let mut frames = Vec::new();
        for value in values {
            encode_frame(&mut frames, value);
        }
        let lens: Vec<u64> = values.iter().map(|value| framed_len(value.len())).collect();
        segment.append(&frames, &lens).unwrap();
    }

    fn lens(values: &[&[u8]]) -> Vec<u64> {
        values.iter().map(|value| framed_len(value.len())).collect()
    }
    // ANCHOR_END: test_helpers

    // A segment's offsets start at its base offset; its files are named by it.
    #[test]
    fn offsets_start_at_the_base_offset() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), 16, &config(1024, 1024)).unwrap();
        assert_eq!((segment.base_offset(), segment.next_offset()), (16, 16));
        append(&segment, &[b"a", b"b"]);
        assert_eq!(segment.next_offset(), 18);
        assert_eq!(segment.read(17).unwrap().as_deref(), Some(&b"b"[..]));
        assert_eq!(segment.read(15).unwrap(), None);
        assert_eq!(segment.read(18).unwrap(), None);
        assert!(dir.path().join("00000000000000000016.store").exists());
        assert!(dir.path().join("00000000000000000016.index").exists());
    }

    // A full index admits no more records, whatever room the store has.
    #[test]
    fn is_full_when_the_index_is() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), 0, &config(1024, 3 * 8)).unwrap();
        let values: [&[u8]; 4] = [b"1", b"2", b"3", b"4"];
        assert_eq!(segment.how_many_fit(&lens(&values)), 3);
        append(&segment, &values[..3]);
        assert_eq!(segment.how_many_fit(&lens(&values)), 0);
    }

    // ANCHOR: test_store_full
    // A full store admits no more records, whatever room the index has; the
    // check counts each record's frame.
    #[test]
    fn is_full_when_the_store_is() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), 0, &config(2 * (12 + 4), 1024)).unwrap();
        let values: [&[u8]; 3] = [b"1234", b"1234", b"1234"];
        assert_eq!(segment.how_many_fit(&lens(&values)), 2);
        append(&segment, &values[..2]);
        assert_eq!(segment.how_many_fit(&lens(&values)), 0);
        assert_eq!(
            segment.store_bytes(),
            32,
            "exactly full, nothing written past the limit"
        );
    }
    // ANCHOR_END: test_store_full

    // ANCHOR: test_roll_back
    // Rolling back takes records out of both files, as if never appended.
    #[test]
    fn rolls_back_to_an_earlier_end() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), 0, &config(1024, 1024)).unwrap();
        append(&segment, &[b"kept"]);
        let end = segment.end();
        append(&segment, &[b"taken back", b"and this"]);
        segment.roll_back_to(end).unwrap();
        assert_eq!(segment.next_offset(), 1);
        assert_eq!(segment.read(1).unwrap(), None);
        let on_disk = std::fs::metadata(dir.path().join("00000000000000000000.store")).unwrap();
        assert_eq!(on_disk.len(), framed_len(4));
    }
    // ANCHOR_END: test_roll_back

    // Removing a segment deletes both of its files.
    #[test]
    fn remove_deletes_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), 0, &config(1024, 1024)).unwrap();
        append(&segment, &[b"x"]);
        segment.remove_files().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
