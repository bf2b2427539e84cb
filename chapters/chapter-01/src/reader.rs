//! Reading the log's raw bytes: every store file, oldest first, as one stream.
//!
//! This is the log's on-disk format exactly (frames and all), which makes it
//! the right thing to copy when a later chapter snapshots a log to send it to
//! another node.

// ANCHOR: imports
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
// ANCHOR_END: imports

// ANCHOR: log_reader
/// An [`io::Read`] over the raw bytes of every store, made by
/// [`Log::reader`](crate::Log::reader).
#[derive(Debug)]
pub struct LogReader {
    /// Each store's file handle and its size when the reader was made.
    stores: Vec<(File, u64)>,
    /// Which store is being read, and where in it.
    current: usize,
    position: u64,
}

impl LogReader {
    pub(crate) fn new(stores: Vec<(File, u64)>) -> LogReader {
        LogReader {
            stores,
            current: 0,
            position: 0,
        }
    }
}
// ANCHOR_END: log_reader

// ANCHOR: read_impl
impl Read for LogReader {
    fn read(&mut self, bytes: &mut [u8]) -> io::Result<usize> {
        while let Some((file, size)) = self.stores.get(self.current) {
            let left = size - self.position;
            if left == 0 {
                self.current += 1;
                self.position = 0;
                continue;
            }
            let wanted = bytes.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            // Positional reads: the store's own file offset is left alone.
            let read = file.read_at(&mut bytes[..wanted], self.position)?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "a store shrank while it was being read",
                ));
            }
            self.position += read as u64;
            return Ok(read);
        }
        Ok(0)
    }
}
// ANCHOR_END: read_impl
