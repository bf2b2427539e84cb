//! The store: an append-only file of framed records.
//!
//! Every record is written as a *frame*:
//!
//! ```text
//! +----------------+-------------+----------------------+
//! | length: u64 BE | crc: u32 BE | payload: length bytes|
//! +----------------+-------------+----------------------+
//! ```
//!
//! The CRC-32C covers the length bytes and the payload, so a torn write, a
//! flipped bit or a zero-filled block is detected on every read and on
//! recovery, instead of being handed back as data.
//!
//! The store keeps no buffer of its own: [`Store::write_at_end`] hands its
//! bytes to the operating system before it returns, so whatever the log has
//! acknowledged survives a crash of the process. (Batching happens a level
//! up: one append of many records, and many appenders sharing one write,
//! are one system call.)
//!
//! Reads go through a read-only memory map of the file, not a `pread` each:
//! a point read is then a copy from the page cache and a checksum, with no
//! system call at all (a system call costs more than reading a small record
//! does). The map covers the segment's whole limit from the start, so it
//! never has to grow; only the bytes below [`Store::size`] are ever read,
//! and those never change once written. Nothing here takes a lock: the one
//! writer is chosen by the log.

// ANCHOR: imports
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{Corruption, Error, Result};
// ANCHOR_END: imports

// ANCHOR: store_struct
/// Bytes of the length field at the start of every frame.
const LENGTH_WIDTH: usize = 8;
/// Bytes of the frame header: the length, then the CRC-32C.
const HEADER_WIDTH: usize = LENGTH_WIDTH + 4;
/// The bytes every record costs on disk beyond its payload.
pub const FRAME_OVERHEAD: u64 = HEADER_WIDTH as u64;
/// Data files are private: only the server's user may read them (as etcd
/// and PostgreSQL do). Directories get 0o700 (see [`Log::open`](crate::Log::open)).
pub(crate) const FILE_MODE: u32 = 0o600;

/// An append-only file of checksummed, length-prefixed records.
#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    file: File,
    /// Where the records end: the next frame is written here. Bytes past it
    /// (a failed write not yet cut off) are not the log's.
    size: AtomicU64,
    /// The file, mapped read-only to its limit, for reads.
    map: MmapRaw,
}

/// The on-disk size of a record with a payload of `len` bytes.
pub(crate) fn framed_len(len: usize) -> u64 {
    FRAME_OVERHEAD + len as u64
}
// ANCHOR_END: store_struct

// ANCHOR: encode
/// Appends `value`, framed, to `frames`.
pub(crate) fn encode_frame(frames: &mut Vec<u8>, value: &[u8]) {
    let length = (value.len() as u64).to_be_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&length), value);
    frames.extend_from_slice(&length);
    frames.extend_from_slice(&crc.to_be_bytes());
    frames.extend_from_slice(value);
}
// ANCHOR_END: encode

// ANCHOR: open
impl Store {
    /// Opens (or creates) the store file at `path`, which may grow to
    /// `max_bytes`. The file is taken as it is; [`Store::scan`] says how much
    /// of it is valid.
    pub(crate) fn open(path: &Path, max_bytes: u64) -> Result<Store> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(path)
            .map_err(Error::io("opening store", path))?;
        let size = file
            .metadata()
            .map_err(Error::io("inspecting store", path))?
            .len();
        let map_len = usize::try_from(size.max(max_bytes).max(1)).unwrap_or(usize::MAX);
        let map = MmapOptions::new()
            .len(map_len)
            .map_raw_read_only(&file)
            .map_err(Error::io("mapping store", path))?;
        Ok(Store {
            path: path.to_path_buf(),
            file,
            size: AtomicU64::new(size),
            map,
        })
    }
    // ANCHOR_END: open

    // ANCHOR: accessors
    /// The file this store lives in.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// When the file was last written.
    pub(crate) fn last_modified(&self) -> Result<std::time::SystemTime> {
        let metadata = self
            .file
            .metadata()
            .map_err(Error::io("inspecting store", &self.path))?;
        metadata
            .modified()
            .map_err(Error::io("inspecting store", &self.path))
    }

    /// The bytes of records the store holds.
    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }
    // ANCHOR_END: accessors

    // ANCHOR: write_at_end
    /// Writes `frames` (whole frames) where the records end, and returns
    /// the position they start at.
    ///
    /// The write goes exactly where [`Store::size`] says the records end,
    /// never simply "at the end of the file": if an earlier failed write
    /// left bytes behind, the next write covers them instead of landing
    /// after them. On failure nothing is counted as written; the caller
    /// cuts the file back with [`Store::truncate`].
    pub(crate) fn write_at_end(&self, frames: &[u8]) -> Result<u64> {
        let position = self.size();
        self.file
            .write_all_at(frames, position)
            .map_err(Error::io("writing store", &self.path))?;
        self.size
            .store(position + frames.len() as u64, Ordering::Release);
        Ok(position)
    }
    // ANCHOR_END: write_at_end

    // ANCHOR: read
    /// Reads the record whose frame starts at `position`.
    ///
    /// `end` is where the next frame starts, when the index knows it; for
    /// the newest record it is `None`, and the header says. Either way the
    /// checksum is verified before a byte is returned.
    pub(crate) fn read(&self, position: u64, end: Option<u64>) -> Result<Vec<u8>> {
        let header = self.bytes(position, FRAME_OVERHEAD)?;
        let (len, stored) = split_header(header.first_chunk().unwrap_or(&[0; HEADER_WIDTH]));
        if let Some(end) = end
            && FRAME_OVERHEAD + len != end.saturating_sub(position)
        {
            let expected = end.saturating_sub(position).saturating_sub(FRAME_OVERHEAD);
            return Err(self.corrupt(position, Corruption::LengthMismatch { len, expected }));
        }
        let available = self.size().saturating_sub(position + FRAME_OVERHEAD);
        if len > available {
            return Err(self.corrupt(position, Corruption::LengthPastEnd { len, available }));
        }
        let payload = self.bytes(position + FRAME_OVERHEAD, len)?;
        let computed = crc32c::crc32c_append(crc32c::crc32c(&header[..LENGTH_WIDTH]), payload);
        if computed != stored {
            let problem = Corruption::ChecksumMismatch { stored, computed };
            return Err(self.corrupt(position, problem));
        }
        Ok(payload.to_vec())
    }
    // ANCHOR_END: read

    // ANCHOR: bytes
    /// The `len` bytes of the file at `position`, through the map: only
    /// bytes below [`Store::size`], which are written and never change.
    fn bytes(&self, position: u64, len: u64) -> Result<&[u8]> {
        let available = self.size().saturating_sub(position);
        if len > available {
            return Err(self.corrupt(position, Corruption::TruncatedHeader { available }));
        }
        let (start, len) = (position as usize, len as usize);
        #[allow(unsafe_code)]
        // SAFETY: `start + len` is at most the store's size, which is at most
        // the file's length (the size only grows after a write completes, and
        // the file is only cut back, by recovery or a failed append, past
        // bytes no reader has been given an offset for), and at most the
        // map's length (the map covers the segment's limit, which the size
        // never passes). Those bytes are written once and never change, so
        // the slice stays valid for as long as the store lives: the file is
        // the log's alone (a locked directory, private files).
        let bytes = unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(start), len) };
        Ok(bytes)
    }
    // ANCHOR_END: bytes

    // ANCHOR: pread
    /// The frame header at `position`, read from the file (recovery's reads
    /// go through `pread`: they may look at bytes no record owns yet).
    fn read_header(&self, position: u64) -> Result<[u8; HEADER_WIDTH]> {
        let available = self.size().saturating_sub(position);
        if available < FRAME_OVERHEAD {
            return Err(self.corrupt(position, Corruption::TruncatedHeader { available }));
        }
        let mut header = [0; HEADER_WIDTH];
        self.pread(&mut header, position)?;
        Ok(header)
    }

    fn pread(&self, bytes: &mut [u8], position: u64) -> Result<()> {
        self.file
            .read_exact_at(bytes, position)
            .map_err(Error::io("reading store", &self.path))
    }
    // ANCHOR_END: pread

    // ANCHOR: sync_truncate
    /// Waits until the disk has every byte written so far (`fdatasync`: the
    /// data and the file's size, not its access times).
    pub(crate) fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(Error::io("syncing store", &self.path))
    }

    /// Cuts the file to `len` bytes: recovery cuts torn tails, and a failed
    /// append takes its bytes back, this way. A file that is not longer is
    /// left alone (a write refused outright left nothing to take back). Not
    /// synced: the caller decides.
    pub(crate) fn truncate(&self, len: u64) -> Result<()> {
        let longer = self
            .file
            .metadata()
            .map_or(true, |metadata| metadata.len() > len);
        if longer {
            self.file
                .set_len(len)
                .map_err(Error::io("truncating store", &self.path))?;
        }
        self.size.store(len, Ordering::Release);
        Ok(())
    }

    /// A handle for reading the file's raw bytes (see [`Log::reader`](crate::Log::reader)).
    pub(crate) fn raw_file(&self) -> Result<File> {
        self.file
            .try_clone()
            .map_err(Error::io("opening store", &self.path))
    }
    // ANCHOR_END: sync_truncate

    // ANCHOR: scan
    // ANCHOR: scan_head
    /// Walks every frame from the start of the file, verifying each checksum,
    /// and reports where each record starts and where the valid bytes end.
    /// Streams the file in chunks: a garbage length can make it read to the
    /// end of the file, but never allocate a buffer of that length.
    pub(crate) fn scan(&self) -> Result<Scan> {
        let file_len = self.size();
        let mut reader = io::BufReader::with_capacity(
            1 << 20,
            PositionalReader {
                file: &self.file,
                position: 0,
            },
        );
        let mut chunk = vec![0; 64 * 1024];
        let mut positions = Vec::new();
        let mut position = 0;
        let problem = loop {
            let remaining = file_len - position;
            if remaining == 0 {
                break None;
            }
            if remaining < FRAME_OVERHEAD {
                break Some(Corruption::TruncatedHeader {
                    available: remaining,
                });
            }
            let mut header = [0; HEADER_WIDTH];
            reader
                .read_exact(&mut header)
                .map_err(Error::io("scanning store", &self.path))?;
            let (len, stored) = split_header(&header);
            let available = remaining - FRAME_OVERHEAD;
            if len > available {
                break Some(Corruption::LengthPastEnd { len, available });
            }
            // ANCHOR_END: scan_head
            // ANCHOR: scan_tail
            let mut computed = crc32c::crc32c(&header[..LENGTH_WIDTH]);
            let mut left = len;
            while left > 0 {
                let take = left.min(chunk.len() as u64) as usize;
                reader
                    .read_exact(&mut chunk[..take])
                    .map_err(Error::io("scanning store", &self.path))?;
                computed = crc32c::crc32c_append(computed, &chunk[..take]);
                left -= take as u64;
            }
            if computed != stored {
                break Some(Corruption::ChecksumMismatch { stored, computed });
            }
            positions.push(position);
            position += FRAME_OVERHEAD + len;
        };
        Ok(Scan {
            positions,
            valid_len: position,
            file_len,
            problem,
        })
    }
    // ANCHOR_END: scan_tail
    // ANCHOR_END: scan

    // ANCHOR: frame_end_at
    /// Where the frame at `position` ends, if a whole, valid frame starts
    /// there; `None` if not (a bad header, a length past the end, a bad
    /// checksum).
    pub(crate) fn frame_end_at(&self, position: u64) -> Result<Option<u64>> {
        let file_len = self.size();
        if position + FRAME_OVERHEAD > file_len {
            return Ok(None);
        }
        let header = self.read_header(position)?;
        let (len, _) = split_header(&header);
        if len > file_len - position - FRAME_OVERHEAD {
            return Ok(None);
        }
        let mut frame = vec![0; (FRAME_OVERHEAD + len) as usize];
        self.pread(&mut frame, position)?;
        Ok(decode_frame(&frame)
            .ok()
            .map(|_| position + FRAME_OVERHEAD + len))
    }
    // ANCHOR_END: frame_end_at

    // ANCHOR: evidence
    // ANCHOR: evidence_hints
    /// The position of a valid frame that starts after `damaged` (where a
    /// bad frame starts), if there is one: proof that records were written
    /// *after* the damage, so it cannot be a torn final write.
    ///
    /// `hints` are positions worth trying first (what the index said). Then
    /// every byte position is tried: a frame's length must fit in the file
    /// and its checksum must match, which random bytes and zeros almost
    /// never do, so each try is cheap and a false find is a one-in-four-
    /// billion event.
    pub(crate) fn find_frame_after(&self, damaged: u64, hints: &[u64]) -> Result<Option<u64>> {
        for &hint in hints.iter().filter(|&&hint| hint > damaged) {
            if self.frame_end_at(hint)?.is_some() {
                return Ok(Some(hint));
            }
        }
        // ANCHOR_END: evidence_hints
        // ANCHOR: evidence_scan
        let file_len = self.size();
        let window = 1 << 20;
        let mut bytes = vec![0; window + HEADER_WIDTH];
        let mut start = damaged + 1;
        while start + FRAME_OVERHEAD <= file_len {
            let take = (file_len - start).min(bytes.len() as u64) as usize;
            self.pread(&mut bytes[..take], start)?;
            let candidates = take.saturating_sub(HEADER_WIDTH - 1).min(window);
            for at in 0..candidates {
                let position = start + at as u64;
                let header = bytes[at..at + HEADER_WIDTH]
                    .first_chunk::<HEADER_WIDTH>()
                    .copied()
                    .unwrap_or([0; HEADER_WIDTH]);
                let (len, _) = split_header(&header);
                if len <= file_len - position - FRAME_OVERHEAD
                    && self.frame_end_at(position)?.is_some()
                {
                    return Ok(Some(position));
                }
            }
            start += candidates as u64;
        }
        Ok(None)
    }
    // ANCHOR_END: evidence_scan
    // ANCHOR_END: evidence

    // ANCHOR: corrupt
    pub(crate) fn corrupt(&self, position: u64, problem: Corruption) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            position,
            problem,
        }
    }
}
// ANCHOR_END: corrupt

// ANCHOR: scan_types
/// What [`Store::scan`] found.
#[derive(Debug)]
pub(crate) struct Scan {
    /// Where each valid record starts, in order.
    pub(crate) positions: Vec<u64>,
    /// The end of the last valid record.
    pub(crate) valid_len: u64,
    /// The size of the file.
    pub(crate) file_len: u64,
    /// Why the scan stopped before the end of the file, if it did.
    pub(crate) problem: Option<Corruption>,
}

/// Sequential reads over a shared file through `pread`, leaving the file's
/// own offset alone.
struct PositionalReader<'a> {
    file: &'a File,
    position: u64,
}

impl Read for PositionalReader<'_> {
    fn read(&mut self, bytes: &mut [u8]) -> io::Result<usize> {
        let read = self.file.read_at(bytes, self.position)?;
        self.position += read as u64;
        Ok(read)
    }
}
// ANCHOR_END: scan_types

// ANCHOR: decode
fn split_header(header: &[u8; HEADER_WIDTH]) -> (u64, u32) {
    let mut length = [0; LENGTH_WIDTH];
    length.copy_from_slice(&header[..LENGTH_WIDTH]);
    let mut crc = [0; 4];
    crc.copy_from_slice(&header[LENGTH_WIDTH..]);
    (u64::from_be_bytes(length), u32::from_be_bytes(crc))
}

/// Checks a frame read from the store, returning its payload length.
fn decode_frame(frame: &[u8]) -> std::result::Result<u64, Corruption> {
    let Some(header) = frame.first_chunk::<HEADER_WIDTH>() else {
        return Err(Corruption::TruncatedHeader {
            available: frame.len() as u64,
        });
    };
    let (len, stored) = split_header(header);
    let available = (frame.len() - HEADER_WIDTH) as u64;
    if len > available {
        return Err(Corruption::LengthPastEnd { len, available });
    }
    let payload = &frame[HEADER_WIDTH..HEADER_WIDTH + len as usize];
    let computed = crc32c::crc32c_append(crc32c::crc32c(&frame[..LENGTH_WIDTH]), payload);
    if computed != stored {
        return Err(Corruption::ChecksumMismatch { stored, computed });
    }
    Ok(len)
}
// ANCHOR_END: decode

// ANCHOR: test_helpers
#[cfg(test)]
mod tests {
    use super::*;

    const RECORDS: [&[u8]; 3] = [b"hello world", b"", b"the third record"];

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("test.store"), 1 << 20).unwrap();
        (dir, store)
    }

    fn frames(values: &[&[u8]]) -> Vec<u8> {
        let mut frames = Vec::new();
        for value in values {
            encode_frame(&mut frames, value);
        }
        frames
    }

    fn append_all(store: &Store) -> Vec<u64> {
        RECORDS
            .iter()
            .map(|record| store.write_at_end(&frames(&[record])).unwrap())
            .collect()
    }
    // ANCHOR_END: test_helpers

    // ANCHOR: test_appends
    // Each record starts where the previous frame ends and reads back intact.
    #[test]
    fn appends_and_reads_back() {
        let (_dir, store) = temp_store();
        let positions = append_all(&store);
        assert_eq!(positions, [0, 12 + 11, 12 + 11 + 12]);
        for (position, record) in positions.iter().zip(RECORDS) {
            assert_eq!(store.read(*position, None).unwrap(), record);
        }
        assert_eq!(store.size(), 3 * FRAME_OVERHEAD + 11 + 16);
    }
    // ANCHOR_END: test_appends

    // A read bounded by the next record's position returns exactly one record.
    #[test]
    fn reads_with_an_exact_end() {
        let (_dir, store) = temp_store();
        let positions = append_all(&store);
        assert_eq!(
            store.read(positions[0], Some(positions[1])).unwrap(),
            RECORDS[0]
        );
        let wrong_end = store.read(positions[0], Some(positions[2]));
        assert!(matches!(
            wrong_end,
            Err(Error::Corrupt {
                problem: Corruption::LengthMismatch { .. },
                ..
            })
        ));
    }

    // An append is in the file when it returns, as exactly length, CRC-32C, payload.
    #[test]
    fn writes_the_documented_frame_at_once() {
        let (dir, store) = temp_store();
        store.write_at_end(&frames(&[b"abc"])).unwrap();
        let bytes = std::fs::read(dir.path().join("test.store")).unwrap();
        let crc = crc32c::crc32c_append(crc32c::crc32c(&3u64.to_be_bytes()), b"abc");
        let expected = [&3u64.to_be_bytes()[..], &crc.to_be_bytes(), b"abc"].concat();
        assert_eq!(bytes, expected);
    }

    // A write goes where the records end, over anything a failed write left
    // behind, never after it.
    #[test]
    fn writes_over_bytes_past_the_records() {
        let (dir, store) = temp_store();
        store.write_at_end(&frames(&[b"first"])).unwrap();
        let path = dir.path().join("test.store");
        let reopened = Store::open(&path, 1 << 20).unwrap();
        let good = store.size();
        // Garbage appended behind the store's back (as a half-failed write leaves).
        std::fs::write(
            &path,
            [std::fs::read(&path).unwrap(), vec![0xee; 7]].concat(),
        )
        .unwrap();
        drop(reopened);
        let position = store.write_at_end(&frames(&[b"second"])).unwrap();
        assert_eq!(position, good);
        assert_eq!(store.read(position, None).unwrap(), b"second");
        assert_eq!(store.scan().unwrap().problem, None);
    }

    // Reopening a store finds every record where it was.
    #[test]
    fn reopens_with_every_record() {
        let (dir, store) = temp_store();
        let positions = append_all(&store);
        drop(store);
        let store = Store::open(&dir.path().join("test.store"), 1 << 20).unwrap();
        for (position, record) in positions.iter().zip(RECORDS) {
            assert_eq!(store.read(*position, None).unwrap(), record);
        }
        let scan = store.scan().unwrap();
        assert_eq!(scan.positions, positions);
        assert_eq!(scan.problem, None);
    }

    // ANCHOR: test_flipped_bit
    // A bit flip in a payload is caught by the checksum, on read and on
    // scan, and the good frame after it is evidence that it is not a torn write.
    #[test]
    fn detects_a_flipped_bit_and_the_frames_after_it() {
        let (dir, store) = temp_store();
        append_all(&store);
        drop(store);
        let path = dir.path().join("test.store");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[12] ^= 0x01; // first payload byte
        std::fs::write(&path, bytes).unwrap();
        let store = Store::open(&path, 1 << 20).unwrap();
        assert!(matches!(
            store.read(0, None),
            Err(Error::Corrupt {
                position: 0,
                problem: Corruption::ChecksumMismatch { .. },
                ..
            })
        ));
        let scan = store.scan().unwrap();
        assert!(scan.positions.is_empty());
        assert!(matches!(
            scan.problem,
            Some(Corruption::ChecksumMismatch { .. })
        ));
        assert_eq!(store.find_frame_after(0, &[]).unwrap(), Some(23));
    }
    // ANCHOR_END: test_flipped_bit

    // Zeros and noise after the last frame hold no frame: a torn tail looks like this.
    #[test]
    fn finds_no_frame_in_zeros_or_noise() {
        let (dir, store) = temp_store();
        append_all(&store);
        let end = store.size();
        drop(store);
        let path = dir.path().join("test.store");
        let noise: Vec<u8> = (0..4096u32)
            .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let tail = [vec![0; 4096], noise].concat();
        std::fs::write(&path, [std::fs::read(&path).unwrap(), tail].concat()).unwrap();
        let store = Store::open(&path, 1 << 20).unwrap();
        assert_eq!(store.find_frame_after(end, &[end + 100]).unwrap(), None);
    }

    // A garbage length field cannot make the store allocate a huge buffer:
    // it is checked against the bytes that exist.
    #[test]
    fn garbage_length_is_reported_not_allocated() {
        let (dir, store) = temp_store();
        drop(store);
        let path = dir.path().join("test.store");
        std::fs::write(&path, [&u64::MAX.to_be_bytes()[..], &[0; 20]].concat()).unwrap();
        let store = Store::open(&path, 1 << 20).unwrap();
        let scan = store.scan().unwrap();
        assert_eq!(
            scan.problem,
            Some(Corruption::LengthPastEnd {
                len: u64::MAX,
                available: 16
            })
        );
        assert!(matches!(
            store.read(0, None),
            Err(Error::Corrupt {
                problem: Corruption::LengthPastEnd { .. },
                ..
            })
        ));
    }

    // The store's files are private to the user that runs the log.
    #[test]
    fn creates_its_file_private() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, _store) = temp_store();
        let mode = std::fs::metadata(dir.path().join("test.store"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
