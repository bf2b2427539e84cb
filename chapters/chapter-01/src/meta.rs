//! Small metadata files that must never be half-written: the log's
//! clean-shutdown marker here, and (in chapter 7) Raft's vote.
//!
//! A file that is rewritten in place can be torn by a crash: half old, half
//! new. [`write_atomically`] never rewrites in place. It writes a temporary
//! file, syncs it, renames it over the old one and syncs the directory:
//!
//! ```text
//!   write NAME.tmp ─▶ fsync NAME.tmp ─▶ rename NAME.tmp → NAME ─▶ fsync dir
//! ```
//!
//! `rename` replaces a name in one step, so after a crash the name holds
//! the old contents or the new, never a mix; the first fsync makes sure the
//! new contents are on disk before the name points at them, the last that
//! the rename itself is. Every file also ends with a CRC-32C of its
//! contents, so a file damaged later is reported, not believed.

// ANCHOR: imports
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Corruption, Error, Result};
use crate::store::FILE_MODE;
// ANCHOR_END: imports

// ANCHOR: write_atomically
/// Replaces `dir/name` with `contents`, atomically and durably (see the
/// module docs). The file is private to the log's user.
///
/// # Errors
/// [`Error::Io`] naming the file when any step fails; the old contents are
/// then still in place.
pub fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let temporary = dir.join(format!("{name}.tmp"));
    let crc = crc32c::crc32c(contents).to_be_bytes();
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&temporary)
        .map_err(Error::io("creating", &temporary))?;
    file.write_all(contents)
        .and_then(|()| file.write_all(&crc))
        .and_then(|()| file.sync_all())
        .map_err(Error::io("writing", &temporary))?;
    fs::rename(&temporary, &path).map_err(Error::io("renaming into place", &path))?;
    sync_directory(dir)
}
// ANCHOR_END: write_atomically

// ANCHOR: read_checked
/// The contents of `dir/name` as [`write_atomically`] wrote them, or `None`
/// if there is no such file.
///
/// # Errors
/// [`Error::Corrupt`] if the checksum does not match, [`Error::Io`] if the
/// file cannot be read.
pub fn read_checked(dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let path = dir.join(name);
    let mut bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(Error::io("reading", &path)(error)),
    };
    let Some(split) = bytes.len().checked_sub(4) else {
        let problem = Corruption::TruncatedHeader {
            available: bytes.len() as u64,
        };
        return Err(Error::Corrupt {
            path,
            position: 0,
            problem,
        });
    };
    let stored = u32::from_be_bytes(bytes[split..].try_into().unwrap_or_default());
    bytes.truncate(split);
    let computed = crc32c::crc32c(&bytes);
    if stored != computed {
        let problem = Corruption::ChecksumMismatch { stored, computed };
        return Err(Error::Corrupt {
            path,
            position: 0,
            problem,
        });
    }
    Ok(Some(bytes))
}
// ANCHOR_END: read_checked

// ANCHOR: remove_sync
/// Removes `dir/name` if it exists, and syncs the directory so the removal
/// survives a crash.
///
/// # Errors
/// [`Error::Io`] if the file cannot be removed or the directory synced.
pub fn remove_durably(dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(name);
    match fs::remove_file(&path) {
        Ok(()) => sync_directory(dir),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::io("removing", &path)(error)),
    }
}

/// Syncs a directory: an fsync of a file does not make its *name* durable
/// (a new file, a rename, a removal); an fsync of the directory does.
///
/// # Errors
/// [`Error::Io`] naming the directory.
pub fn sync_directory(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(Error::io("syncing directory", dir))
}
// ANCHOR_END: remove_sync

// ANCHOR: clean_record
/// The name of the clean-shutdown marker in a log's directory.
pub(crate) const CLEAN_SHUTDOWN: &str = "CLEAN";

/// The on-disk format the marker vouches for: 2 is the format with 8-byte
/// index entries. A log without a marker of this format gets a full
/// recovery (which also rebuilds indexes written in an older format).
const FORMAT: u32 = 2;

// ANCHOR: clean_shutdown
/// What [`Log::close`](crate::Log::close) records after everything is on
/// disk, and opening reads (and removes before the first append): proof that
/// the log was not torn by a crash, so that any bad byte is damage, never
/// a torn write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CleanShutdown {
    /// The log's next offset when it was closed.
    pub(crate) next_offset: u64,
}

impl CleanShutdown {
    /// Records a clean shutdown.
    pub(crate) fn record(self, dir: &Path) -> Result<()> {
        let text = format!("format {FORMAT}\nnext_offset {}\n", self.next_offset);
        write_atomically(dir, CLEAN_SHUTDOWN, text.as_bytes())
    }
    // ANCHOR_END: clean_record
    // ANCHOR: clean_find

    /// The marker in `dir`, if there is one of this format. A damaged or
    /// foreign marker counts as none: recovery then assumes a crash, and
    /// still refuses damage that records follow.
    pub(crate) fn find(dir: &Path) -> Result<Option<CleanShutdown>> {
        let bytes = match read_checked(dir, CLEAN_SHUTDOWN) {
            Ok(Some(bytes)) => bytes,
            Ok(None) | Err(Error::Corrupt { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut fields = text.lines().filter_map(|line| line.split_once(' '));
        let format = fields.next().filter(|(key, _)| *key == "format");
        let next = fields.next().filter(|(key, _)| *key == "next_offset");
        match (format, next) {
            (Some((_, format)), Some((_, next))) if format == FORMAT.to_string() => Ok(next
                .parse()
                .ok()
                .map(|next_offset| CleanShutdown { next_offset })),
            _ => Ok(None),
        }
    }

    /// Removes the marker: from now on the log can be torn again.
    pub(crate) fn clear(dir: &Path) -> Result<()> {
        remove_durably(dir, CLEAN_SHUTDOWN)
    }
}
// ANCHOR_END: clean_find
// ANCHOR_END: clean_shutdown

// ANCHOR: test_round_trip
#[cfg(test)]
mod tests {
    use super::*;

    // What was written atomically reads back; a missing file is None.
    #[test]
    fn writes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_checked(dir.path(), "vote").unwrap(), None);
        write_atomically(dir.path(), "vote", b"term 3").unwrap();
        write_atomically(dir.path(), "vote", b"term 4").unwrap();
        assert_eq!(
            read_checked(dir.path(), "vote").unwrap().as_deref(),
            Some(&b"term 4"[..])
        );
        assert!(!dir.path().join("vote.tmp").exists());
    }
    // ANCHOR_END: test_round_trip

    // A file damaged after it was written is reported, never believed; so
    // is one too short to hold its checksum.
    #[test]
    fn a_damaged_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        write_atomically(dir.path(), "vote", b"term 3").unwrap();
        let path = dir.path().join("vote");
        let mut bytes = fs::read(&path).unwrap();
        bytes[0] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            read_checked(dir.path(), "vote"),
            Err(Error::Corrupt { .. })
        ));
        fs::write(&path, [1, 2]).unwrap();
        assert!(matches!(
            read_checked(dir.path(), "vote"),
            Err(Error::Corrupt { .. })
        ));
    }

    // A torn temporary file (a crash before the rename) leaves the old
    // contents in force.
    #[test]
    fn a_torn_temporary_file_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        write_atomically(dir.path(), "vote", b"term 3").unwrap();
        fs::write(dir.path().join("vote.tmp"), b"ter").unwrap();
        assert_eq!(
            read_checked(dir.path(), "vote").unwrap().as_deref(),
            Some(&b"term 3"[..])
        );
    }

    // The clean-shutdown marker round-trips; a damaged one counts as none.
    #[test]
    fn the_clean_shutdown_marker_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(CleanShutdown::find(dir.path()).unwrap(), None);
        CleanShutdown { next_offset: 42 }
            .record(dir.path())
            .unwrap();
        assert_eq!(
            CleanShutdown::find(dir.path()).unwrap(),
            Some(CleanShutdown { next_offset: 42 })
        );
        fs::write(dir.path().join(CLEAN_SHUTDOWN), b"format 2\nnext_offset 9").unwrap();
        assert_eq!(CleanShutdown::find(dir.path()).unwrap(), None);
        CleanShutdown::clear(dir.path()).unwrap();
        assert!(!dir.path().join(CLEAN_SHUTDOWN).exists());
    }
}
