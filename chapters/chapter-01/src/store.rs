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
//! Appends go into a small in-memory buffer and reach the file in large
//! writes (one system call per 64 KiB instead of one per record). A reader
//! may ask for a record that is still in that buffer, so reads look there
//! first: whatever `append` returned is readable at once.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Corruption, Error, Result};

/// Bytes of the length field at the start of every frame.
const LENGTH_WIDTH: usize = 8;
/// Bytes of the frame header: the length, then the CRC-32C.
const HEADER_WIDTH: usize = LENGTH_WIDTH + 4;
/// The bytes every record costs on disk beyond its payload.
pub const FRAME_OVERHEAD: u64 = HEADER_WIDTH as u64;
/// How much the store buffers before it writes to the file.
const BUFFER_BYTES: usize = 64 * 1024;

/// An append-only file of checksummed, length-prefixed records.
#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    file: File,
    /// Bytes appended but not yet written to the file, and how many bytes the
    /// file holds. One lock for both, so a reader always sees them agree.
    tail: Mutex<Tail>,
}

#[derive(Debug)]
struct Tail {
    /// Frames appended since the last flush; they belong at `flushed..`.
    buffer: Vec<u8>,
    /// Bytes already written to the file.
    flushed: u64,
}

impl Tail {
    fn size(&self) -> u64 {
        self.flushed + self.buffer.len() as u64
    }
}

/// The on-disk size of a record with a payload of `len` bytes.
pub(crate) fn framed_len(len: usize) -> u64 {
    FRAME_OVERHEAD + len as u64
}

impl Store {
    /// Opens (or creates) the store file at `path`. The file is taken as it is;
    /// [`Store::scan`] says how much of it is valid.
    pub(crate) fn open(path: &Path) -> Result<Store> {
        // `append` mode: every write lands at the end of the file, whatever
        // the file offset, so a write can never overwrite a record.
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(Error::io("opening store", path))?;
        let flushed = file
            .metadata()
            .map_err(Error::io("inspecting store", path))?
            .len();
        Ok(Store {
            path: path.to_path_buf(),
            file,
            tail: Mutex::new(Tail {
                buffer: Vec::with_capacity(BUFFER_BYTES),
                flushed,
            }),
        })
    }

    /// The file this store lives in.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// When the file was last written (buffered frames not counted).
    pub(crate) fn last_modified(&self) -> Result<std::time::SystemTime> {
        let metadata = self
            .file
            .metadata()
            .map_err(Error::io("inspecting store", &self.path))?;
        metadata
            .modified()
            .map_err(Error::io("inspecting store", &self.path))
    }

    /// The store's size in bytes, including frames still in the buffer.
    pub(crate) fn size(&self) -> u64 {
        self.lock_tail().size()
    }

    // ANCHOR: append
    /// Appends one frame per value, and returns the position of the first.
    /// The caller has checked that they fit; the frames of one call are
    /// contiguous, so the position of each is the previous one plus its frame.
    pub(crate) fn append(&self, values: &[&[u8]]) -> Result<u64> {
        let mut tail = self.lock_tail();
        let position = tail.size();
        let before = tail.buffer.len();
        for value in values {
            let length = (value.len() as u64).to_be_bytes();
            let crc = crc32c::crc32c_append(crc32c::crc32c(&length), value);
            tail.buffer.extend_from_slice(&length);
            tail.buffer.extend_from_slice(&crc.to_be_bytes());
            tail.buffer.extend_from_slice(value);
        }
        if tail.buffer.len() >= BUFFER_BYTES
            && let Err(error) = self.write_out(&mut tail)
        {
            // Take this call's frames back: the caller will not index them,
            // so they must not reach the file. Earlier frames stay buffered
            // and are written by the next flush.
            tail.buffer.truncate(before);
            return Err(error);
        }
        Ok(position)
    }
    // ANCHOR_END: append

    // ANCHOR: read
    /// Reads the record whose frame starts at `position`.
    ///
    /// `end` is where the next frame starts, when the index knows it; for the
    /// newest record it is `None` and the store's current size bounds the read.
    /// Either way the read is a single `pread` (or a copy from the buffer), and
    /// the checksum is verified before a byte is returned.
    pub(crate) fn read(&self, position: u64, end: Option<u64>) -> Result<Vec<u8>> {
        let (end, end_is_exact) = match end {
            Some(end) => (end, true),
            None => (self.size(), false),
        };
        let span = end.saturating_sub(position);
        if span < FRAME_OVERHEAD {
            return Err(self.corrupt(position, Corruption::TruncatedHeader { available: span }));
        }
        let mut frame = self.read_at(position, span)?;
        let len = decode_frame(&frame).map_err(|problem| self.corrupt(position, problem))?;
        if end_is_exact && FRAME_OVERHEAD + len != span {
            let problem = Corruption::LengthMismatch {
                len,
                expected: span - FRAME_OVERHEAD,
            };
            return Err(self.corrupt(position, problem));
        }
        frame.drain(..HEADER_WIDTH);
        frame.truncate(len as usize);
        Ok(frame)
    }
    // ANCHOR_END: read

    /// Reads `len` bytes at `position`, from the file or from the buffer.
    fn read_at(&self, position: u64, len: u64) -> Result<Vec<u8>> {
        let mut bytes = vec![0; len as usize];
        let tail = self.lock_tail();
        if position + len <= tail.flushed {
            // All on disk (or in the page cache): read without holding the lock,
            // so readers never wait for appends.
            drop(tail);
            self.pread(&mut bytes, position)?;
            return Ok(bytes);
        }
        // Some or all of it is still in the buffer. Under the lock the buffer
        // cannot be flushed, so `flushed` and `buffer` agree.
        let on_disk = tail.flushed.saturating_sub(position).min(len) as usize;
        self.pread(&mut bytes[..on_disk], position)?;
        let from = (position + on_disk as u64 - tail.flushed) as usize;
        let wanted = bytes.len() - on_disk;
        let available = tail.buffer.len().saturating_sub(from).min(wanted);
        bytes[on_disk..on_disk + available].copy_from_slice(&tail.buffer[from..from + available]);
        bytes.truncate(on_disk + available);
        Ok(bytes)
    }

    fn pread(&self, bytes: &mut [u8], position: u64) -> Result<()> {
        self.file
            .read_exact_at(bytes, position)
            .map_err(Error::io("reading store", &self.path))
    }

    /// Writes the buffer to the file (no fsync).
    pub(crate) fn flush(&self) -> Result<()> {
        self.write_out(&mut self.lock_tail())
    }

    /// Writes the buffer to the file and waits until the disk has it.
    pub(crate) fn sync(&self) -> Result<()> {
        let mut tail = self.lock_tail();
        self.write_out(&mut tail)?;
        // fdatasync: the data and the file size, not the access times.
        self.file
            .sync_data()
            .map_err(Error::io("syncing store", &self.path))
    }

    fn write_out(&self, tail: &mut Tail) -> Result<()> {
        if tail.buffer.is_empty() {
            return Ok(());
        }
        let result = (&self.file).write_all(&tail.buffer);
        if result.is_err() {
            // A short write may have put part of the buffer on disk. Put the
            // file back to its last known good size so a retry cannot leave
            // a half frame in the middle of the log.
            let _ = self.file.set_len(tail.flushed);
        }
        result.map_err(Error::io("writing store", &self.path))?;
        tail.flushed += tail.buffer.len() as u64;
        tail.buffer.clear();
        tail.buffer.shrink_to(BUFFER_BYTES);
        Ok(())
    }

    /// Cuts the file to `len` bytes (recovery cuts torn tails this way).
    pub(crate) fn truncate(&self, len: u64) -> Result<()> {
        let mut tail = self.lock_tail();
        self.write_out(&mut tail)?;
        self.file
            .set_len(len)
            .map_err(Error::io("truncating store", &self.path))?;
        self.file
            .sync_data()
            .map_err(Error::io("syncing store", &self.path))?;
        tail.flushed = len;
        Ok(())
    }

    /// A handle for reading the file's raw bytes (see [`Log::reader`](crate::Log::reader)).
    pub(crate) fn raw_file(&self) -> Result<File> {
        self.file
            .try_clone()
            .map_err(Error::io("opening store", &self.path))
    }

    // ANCHOR: scan
    /// Walks every frame from the start of the file, verifying each checksum,
    /// and reports where each record starts and where the valid bytes end.
    /// Streams the file in chunks: a garbage length can make it read to the
    /// end of the file, but never allocate a buffer of that length.
    pub(crate) fn scan(&self) -> Result<Scan> {
        self.flush()?;
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
        // Whether the bad bytes run to the end of the file, as a torn write's do.
        let mut reaches_end = true;
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
                reaches_end = position + FRAME_OVERHEAD + len == file_len;
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
            reaches_end,
        })
    }
    // ANCHOR_END: scan

    /// Whether every byte from `position` to the end of the file is zero, as a
    /// file extended by a crash (size updated, data not) reads back.
    pub(crate) fn is_zero_from(&self, position: u64) -> Result<bool> {
        let file_len = self.size();
        let mut chunk = vec![0; 64 * 1024];
        let mut at = position;
        while at < file_len {
            let take = (file_len - at).min(chunk.len() as u64) as usize;
            self.pread(&mut chunk[..take], at)?;
            if chunk[..take].iter().any(|byte| *byte != 0) {
                return Ok(false);
            }
            at += take as u64;
        }
        Ok(true)
    }

    pub(crate) fn corrupt(&self, position: u64, problem: Corruption) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            position,
            problem,
        }
    }

    fn lock_tail(&self) -> MutexGuard<'_, Tail> {
        // A panic while holding the lock cannot leave `Tail` half-updated in a
        // way that matters (`flushed` changes only after a complete write), so
        // a poisoned lock is still usable.
        self.tail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Buffered frames belong to records `append` already returned: write
        // them out. (Errors cannot be reported from `drop`; `Log::close` and
        // `Log::sync` report them.)
        let _ = self.flush();
    }
}

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
    /// Whether the bad bytes are the file's last frame (a header cut short, a
    /// length past the end, or a bad checksum on the final frame): what an
    /// interrupted append leaves, as opposed to damage in the middle.
    pub(crate) reaches_end: bool,
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

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDS: [&[u8]; 3] = [b"hello world", b"", b"the third record"];

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("test.store")).unwrap();
        (dir, store)
    }

    fn append_all(store: &Store) -> Vec<u64> {
        RECORDS
            .iter()
            .map(|record| store.append(&[record]).unwrap())
            .collect()
    }

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

    // Records still in the write buffer are readable, and the frame bytes on
    // disk are exactly length, CRC-32C, payload.
    #[test]
    fn reads_buffered_records_and_writes_the_documented_frame() {
        let (dir, store) = temp_store();
        store.append(&[b"abc"]).unwrap();
        assert_eq!(fs_len(&dir), 0, "the frame is still buffered");
        assert_eq!(store.read(0, None).unwrap(), b"abc");
        store.flush().unwrap();
        let bytes = std::fs::read(dir.path().join("test.store")).unwrap();
        let crc = crc32c::crc32c_append(crc32c::crc32c(&3u64.to_be_bytes()), b"abc");
        let expected = [&3u64.to_be_bytes()[..], &crc.to_be_bytes(), b"abc"].concat();
        assert_eq!(bytes, expected);
    }

    // The newest record is read up to the store's size, which can reach past
    // the file into the buffer: a read that spans both returns the record.
    #[test]
    fn reads_a_record_split_between_file_and_buffer() {
        let (_dir, store) = temp_store();
        let big = vec![7u8; BUFFER_BYTES - 20];
        store.append(&[&big]).unwrap();
        let position = store
            .append(&[b"0123456789abcdefghijklmnopqrstuvwxyz"])
            .unwrap();
        // The second append filled the buffer past its limit and flushed it;
        // the third stays buffered, right after the second on "disk".
        store.append(&[b"after"]).unwrap();
        assert_eq!(store.read(0, None).unwrap(), big);
        assert_eq!(
            store.read(position, None).unwrap(),
            b"0123456789abcdefghijklmnopqrstuvwxyz"
        );
    }

    // Reopening a store finds every record where it was.
    #[test]
    fn reopens_with_every_record() {
        let (dir, store) = temp_store();
        let positions = append_all(&store);
        drop(store);
        let store = Store::open(&dir.path().join("test.store")).unwrap();
        for (position, record) in positions.iter().zip(RECORDS) {
            assert_eq!(store.read(*position, None).unwrap(), record);
        }
        let scan = store.scan().unwrap();
        assert_eq!(scan.positions, positions);
        assert_eq!(scan.problem, None);
    }

    // Closing (dropping) a store writes out its buffer: nothing appended is lost.
    #[test]
    fn close_flushes_buffered_writes() {
        let (dir, store) = temp_store();
        append_all(&store);
        let size = store.size();
        assert_eq!(fs_len(&dir), 0);
        drop(store);
        assert_eq!(fs_len(&dir), size);
    }

    // A bit flip in a payload is caught by the checksum, on read and on scan.
    #[test]
    fn detects_a_flipped_bit() {
        let (dir, store) = temp_store();
        append_all(&store);
        drop(store);
        let path = dir.path().join("test.store");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[12] ^= 0x01; // first payload byte
        std::fs::write(&path, bytes).unwrap();
        let store = Store::open(&path).unwrap();
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
        assert!(!scan.reaches_end, "good records follow the bad one");
    }

    // A garbage length field cannot make the store allocate a huge buffer:
    // it is checked against the bytes that exist.
    #[test]
    fn garbage_length_is_reported_not_allocated() {
        let (dir, store) = temp_store();
        drop(store);
        let path = dir.path().join("test.store");
        std::fs::write(&path, [&u64::MAX.to_be_bytes()[..], &[0; 20]].concat()).unwrap();
        let store = Store::open(&path).unwrap();
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

    fn fs_len(dir: &tempfile::TempDir) -> u64 {
        std::fs::metadata(dir.path().join("test.store"))
            .unwrap()
            .len()
    }
}
