//! A segment: one store and its index, holding a contiguous run of offsets.
//!
//! A segment is named by its *base offset*, the offset of its first record,
//! zero-padded to 20 digits so that a directory listing sorts like the log
//! (`00000000000000000016.store`, `00000000000000000016.index`). Record
//! `base_offset + n` is entry `n` of the index, which points into the store.
//!
//! Only the newest segment, the *active* one, takes appends. When a record
//! would not fit in its store, or its index is full, the log *seals* it
//! (syncs the store, trims the index) and starts a new segment at the next
//! offset. Sealed segments never change again; retention deletes them whole.

use std::fs;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::index::Index;
use crate::recovery::{Repair, recover};
use crate::store::{Store, framed_len};

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

impl Segment {
    /// Opens the segment at `base_offset` in `dir`, creating its files if they
    /// do not exist, and recovers it (see [`recovery`](crate::recovery)).
    /// `active` says whether it is the newest segment, the one that takes
    /// appends.
    pub(crate) fn open(
        dir: &Path,
        base_offset: u64,
        config: &Config,
        active: bool,
    ) -> Result<(Segment, Vec<Repair>)> {
        let store = Store::open(&segment_path(dir, base_offset, "store"))?;
        let mut index = Index::open(
            &segment_path(dir, base_offset, "index"),
            config.max_index_bytes,
            active,
        )?;
        let repairs = recover(&store, &mut index, active)?;
        let segment = Segment {
            base_offset,
            max_store_bytes: config.max_store_bytes,
            store,
            index,
        };
        Ok((segment, repairs))
    }

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

    // ANCHOR: fit
    /// How many of `values`, from the first, fit in this segment: both the
    /// store's byte limit and the index's entry limit must hold *before*
    /// anything is written, so a full segment never has orphan bytes.
    pub(crate) fn how_many_fit(&self, values: &[&[u8]]) -> usize {
        let mut free_bytes = self.max_store_bytes.saturating_sub(self.store.size());
        let free_entries = self.index.room().min(values.len() as u64) as usize;
        values[..free_entries]
            .iter()
            .take_while(|value| {
                let needed = framed_len(value.len());
                let fits = needed <= free_bytes;
                free_bytes = free_bytes.saturating_sub(needed);
                fits
            })
            .count()
    }
    // ANCHOR_END: fit

    // ANCHOR: append
    /// Appends `values`, which the caller has checked fit: frames to the
    /// store first, then their positions to the index. A reader finds a
    /// record through the index, so it never sees an entry whose bytes are
    /// not yet in the store.
    pub(crate) fn append(&self, values: &[&[u8]]) -> Result<()> {
        let position = self.store.append(values)?;
        self.index
            .append(position, values.iter().map(|value| framed_len(value.len())));
        Ok(())
    }
    // ANCHOR_END: append

    // ANCHOR: read
    /// Reads the record at `offset`, or `None` if this segment does not hold it.
    pub(crate) fn read(&self, offset: u64) -> Result<Option<Vec<u8>>> {
        let Some(relative) = offset.checked_sub(self.base_offset) else {
            return Ok(None);
        };
        match self.index.locate(relative) {
            Some((position, end)) => self.store.read(position, end).map(Some),
            None => Ok(None),
        }
    }
    // ANCHOR_END: read

    /// Writes buffered records to the store file (no fsync).
    pub(crate) fn flush(&self) -> Result<()> {
        self.store.flush()
    }

    /// Forces every appended record to disk.
    pub(crate) fn sync(&self) -> Result<()> {
        self.store.sync()
    }

    /// Seals the segment: syncs the store and trims the index to its entries.
    pub(crate) fn seal(&mut self) -> Result<()> {
        self.store.sync()?;
        self.index.seal()
    }

    /// A file handle on the store and its size now, for [`LogReader`](crate::LogReader).
    pub(crate) fn raw_store(&self) -> Result<(fs::File, u64)> {
        self.store.flush()?;
        Ok((self.store.raw_file()?, self.store.size()))
    }

    /// Deletes the segment's files: the store first, so a crash in between
    /// leaves an orphan index (which recovery removes), never a store without
    /// an index that claims to be complete.
    pub(crate) fn remove(self) -> Result<()> {
        let store_path = self.store.path().to_path_buf();
        let index_path = self.index.path().to_path_buf();
        drop(self);
        fs::remove_file(&store_path).map_err(Error::io("removing store", &store_path))?;
        fs::remove_file(&index_path).map_err(Error::io("removing index", &index_path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_store_bytes: u64, max_index_bytes: u64) -> Config {
        Config {
            max_store_bytes,
            max_index_bytes,
            ..Config::default()
        }
    }

    // A segment's offsets start at its base offset; its files are named by it.
    #[test]
    fn offsets_start_at_the_base_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, repairs) = Segment::open(dir.path(), 16, &config(1024, 1024), true).unwrap();
        assert!(repairs.is_empty());
        assert_eq!((segment.base_offset(), segment.next_offset()), (16, 16));
        segment.append(&[b"a", b"b"]).unwrap();
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
        let (segment, _) = Segment::open(dir.path(), 0, &config(1024, 3 * 12), true).unwrap();
        let values: [&[u8]; 4] = [b"1", b"2", b"3", b"4"];
        assert_eq!(segment.how_many_fit(&values), 3);
        segment.append(&values[..3]).unwrap();
        assert_eq!(segment.how_many_fit(&values), 0);
    }

    // A full store admits no more records, whatever room the index has; the
    // check counts each record's frame.
    #[test]
    fn is_full_when_the_store_is() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, _) = Segment::open(dir.path(), 0, &config(2 * (12 + 4), 1024), true).unwrap();
        let values: [&[u8]; 3] = [b"1234", b"1234", b"1234"];
        assert_eq!(segment.how_many_fit(&values), 2);
        segment.append(&values[..2]).unwrap();
        assert_eq!(segment.how_many_fit(&values), 0);
        assert_eq!(
            segment.store_bytes(),
            32,
            "exactly full, nothing written past the limit"
        );
    }

    // Removing a segment deletes both of its files.
    #[test]
    fn remove_deletes_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, _) = Segment::open(dir.path(), 0, &config(1024, 1024), true).unwrap();
        segment.append(&[b"x"]).unwrap();
        segment.remove().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
