//! The log: a directory of segments that looks like one endless array.
//!
//! ```text
//!   dir/
//!     00000000000000000000.store  00000000000000000000.index   sealed
//!     00000000000000000873.store  00000000000000000873.index   sealed
//!     00000000000000001746.store  00000000000000001746.index   active: appends go here
//! ```
//!
//! Appends go to the active segment and are serialized by one lock. Reads find
//! their segment with a binary search over base offsets (O(log segments)),
//! then the record through the index (O(1)); they share a read lock with
//! appends and never wait for one, except for the moment a segment rolls.
//! Retention (`truncate`) deletes whole segments from the front.

use std::fs::{self, File};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use crate::config::{Config, SyncPolicy};
use crate::error::{Corruption, Error, Result};
use crate::reader::LogReader;
use crate::recovery::Repair;
use crate::segment::{Segment, segment_path};
use crate::store::{FRAME_OVERHEAD, framed_len};

/// What [`Log::segments`] says about one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The offset of its first record.
    pub base_offset: u64,
    /// One past the offset of its last record.
    pub next_offset: u64,
    /// The bytes its store holds.
    pub store_bytes: u64,
    /// When its store was last written: the time of its newest record.
    pub last_modified: std::time::SystemTime,
    /// Whether it is the active segment (the one appends go to).
    pub active: bool,
}

/// The name of the lock file that keeps two `Log`s out of one directory.
const LOCK_FILE: &str = "LOCK";
/// How long opening waits for another `Log` to release the directory.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A segmented, crash-safe commit log in a directory. `Send + Sync`: share it
/// with an `Arc` and call any method from any thread.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    config: Config,
    /// Oldest first; the last one is active. Appends and reads take the read
    /// lock; rolling, truncating and resetting take the write lock.
    segments: RwLock<Vec<Segment>>,
    /// Held for the whole of an append, so appends are serialized (and keep
    /// the count of records since the last sync).
    writer: Mutex<SyncState>,
    /// What recovery repaired when the log was opened.
    repairs: Vec<Repair>,
    /// Holds the directory's lock for as long as the log is open.
    _lock: File,
}

/// What the sync policy needs to know about the appends since the last sync.
#[derive(Debug)]
struct SyncState {
    unsynced_records: u64,
    last_sync: Instant,
}

impl Log {
    // ANCHOR: open
    /// Opens the log in `dir`, creating the directory and a first segment at
    /// `config.initial_offset` if there is none, and recovering every segment
    /// after a crash (see [`Repair`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for limits that cannot hold a record,
    /// [`Error::Locked`] if another `Log` has the directory open,
    /// [`Error::Corrupt`] for damage recovery must not paper over, and
    /// [`Error::Io`] when a file cannot be read or written.
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<Log> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(Error::io("creating log directory", &dir))?;
        let lock = lock_directory(&dir)?;

        let (base_offsets, mut repairs) = list_segments(&dir)?;
        let mut segments = Vec::with_capacity(base_offsets.len().max(1));
        for (n, base_offset) in base_offsets.iter().enumerate() {
            let active = n + 1 == base_offsets.len();
            let (segment, repaired) = Segment::open(&dir, *base_offset, &config, active)?;
            if let Some(previous) = segments.last().map(Segment::next_offset)
                && previous != segment.base_offset()
            {
                let problem = Corruption::SegmentGap {
                    expected: previous,
                    found: segment.base_offset(),
                };
                return Err(Error::Corrupt {
                    path: segment_path(&dir, *base_offset, "store"),
                    position: 0,
                    problem,
                });
            }
            repairs.extend(repaired);
            segments.push(segment);
        }
        if segments.is_empty() {
            segments.push(create_segment(&dir, config.initial_offset, &config)?);
        }
        Ok(Log {
            dir,
            config,
            segments: RwLock::new(segments),
            writer: Mutex::new(SyncState {
                unsynced_records: 0,
                last_sync: Instant::now(),
            }),
            repairs,
            _lock: lock,
        })
    }
    // ANCHOR_END: open

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration the log was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What recovery repaired when the log was opened (empty after a clean
    /// shutdown): worth logging, since a repair means a crash happened.
    pub fn repairs(&self) -> &[Repair] {
        &self.repairs
    }

    /// Appends `value` and returns its offset.
    ///
    /// # Errors
    /// [`Error::RecordTooLarge`] if it cannot fit in a store (nothing is
    /// written), [`Error::Io`] if the disk refuses it.
    pub fn append(&self, value: &[u8]) -> Result<u64> {
        self.append_batch(&[value]).map(|offsets| offsets.start)
    }

    // ANCHOR: append_batch
    /// Appends `values` in order and returns their offsets: one lock, one
    /// buffered write, and at most one sync for the whole batch (a batch that
    /// fills a segment also syncs the segment it seals).
    ///
    /// # Errors
    /// [`Error::RecordTooLarge`] if any value cannot fit in a store (nothing
    /// is written), [`Error::Io`] if the disk refuses it. After an I/O error,
    /// the values before the failing segment may have been appended;
    /// [`Log::next_offset`] tells.
    pub fn append_batch(&self, values: &[&[u8]]) -> Result<Range<u64>> {
        self.check_sizes(values)?;
        let mut sync_state = self.lock_writer();
        let first = self.next_offset();
        let mut rest = values;
        while !rest.is_empty() {
            let segments = self.read_segments();
            let active = active(&segments);
            let fit = active.how_many_fit(rest);
            if fit == 0 {
                drop(segments);
                self.roll()?;
                continue;
            }
            active.append(&rest[..fit])?;
            rest = &rest[fit..];
        }
        self.sync_if_due(&mut sync_state, values.len() as u64)?;
        Ok(first..first + values.len() as u64)
    }
    // ANCHOR_END: append_batch

    fn check_sizes(&self, values: &[&[u8]]) -> Result<()> {
        let max_store_bytes = self.config.max_store_bytes;
        match values
            .iter()
            .find(|value| framed_len(value.len()) > max_store_bytes)
        {
            Some(value) => Err(Error::RecordTooLarge {
                len: value.len() as u64,
                max_store_bytes,
                overhead: FRAME_OVERHEAD,
            }),
            None => Ok(()),
        }
    }

    // ANCHOR: sync_policy
    fn sync_if_due(&self, state: &mut SyncState, appended: u64) -> Result<()> {
        state.unsynced_records += appended;
        let due = match self.config.sync {
            SyncPolicy::Os => false,
            SyncPolicy::EveryRecords(records) => state.unsynced_records >= records,
            SyncPolicy::Interval(interval) => state.last_sync.elapsed() >= interval,
            SyncPolicy::Always => true,
        };
        if due {
            active(&self.read_segments()).sync()?;
            state.unsynced_records = 0;
            state.last_sync = Instant::now();
        }
        Ok(())
    }
    // ANCHOR_END: sync_policy

    // ANCHOR: roll
    /// Seals the active segment and starts a new one at the next offset.
    /// Called with the writer lock held, so no append runs meanwhile.
    fn roll(&self) -> Result<()> {
        // The slow part (fsync of the full store) runs under the read lock,
        // so readers carry on; only the index trim needs readers out.
        active(&self.read_segments()).sync()?;
        let mut segments = self.write_segments();
        let next_offset = active(&segments).next_offset();
        if let Some(sealing) = segments.last_mut() {
            sealing.seal()?;
        }
        segments.push(create_segment(&self.dir, next_offset, &self.config)?);
        Ok(())
    }
    // ANCHOR_END: roll

    // ANCHOR: read
    /// Reads the value at `offset`.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] below the lowest offset or at/after the
    /// next one, [`Error::Corrupt`] if the record's bytes fail their checks,
    /// [`Error::Io`] if the disk refuses.
    pub fn read(&self, offset: u64) -> Result<Vec<u8>> {
        let segments = self.read_segments();
        // Segments are sorted by base offset: the record lives in the last
        // segment whose base offset is not past it.
        let holder = segments.partition_point(|segment| segment.base_offset() <= offset);
        let found = match holder.checked_sub(1) {
            Some(n) => segments[n].read(offset)?,
            None => None,
        };
        found.ok_or_else(|| Error::OffsetOutOfRange {
            offset,
            lowest: lowest(&segments),
            next: active(&segments).next_offset(),
        })
    }
    // ANCHOR_END: read

    /// The lowest offset still in the log (for an empty log, the offset the
    /// next append will get).
    pub fn lowest_offset(&self) -> u64 {
        lowest(&self.read_segments())
    }

    /// The offset the next append will get: one past the highest offset.
    pub fn next_offset(&self) -> u64 {
        active(&self.read_segments()).next_offset()
    }

    /// The offset of the newest record, or `None` if the log holds no records.
    pub fn highest_offset(&self) -> Option<u64> {
        let segments = self.read_segments();
        let next = active(&segments).next_offset();
        (next > lowest(&segments)).then(|| next - 1)
    }

    /// How many segments the log has (sealed ones and the active one).
    pub fn segment_count(&self) -> usize {
        self.read_segments().len()
    }

    /// The bytes the log's stores hold (what retention by size measures).
    pub fn size_bytes(&self) -> u64 {
        self.read_segments().iter().map(Segment::store_bytes).sum()
    }

    /// A description of every segment, oldest first (the last is active):
    /// what retention needs to choose what to delete.
    ///
    /// # Errors
    /// [`Error::Io`] if a store's modification time cannot be read.
    pub fn segments(&self) -> Result<Vec<SegmentInfo>> {
        let segments = self.read_segments();
        let last = segments.len().saturating_sub(1);
        segments
            .iter()
            .enumerate()
            .map(|(n, segment)| {
                Ok(SegmentInfo {
                    base_offset: segment.base_offset(),
                    next_offset: segment.next_offset(),
                    store_bytes: segment.store_bytes(),
                    last_modified: segment.last_modified()?,
                    active: n == last,
                })
            })
            .collect()
    }

    // ANCHOR: truncate
    /// Removes every segment whose records are all below `lowest`: retention
    /// by offset. Works on whole segments, so records below `lowest` that
    /// share a segment with records at or above it stay. If even the active
    /// segment goes, a new empty one starts at the next offset: offsets are
    /// never reused.
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be created or removed.
    pub fn truncate(&self, lowest: u64) -> Result<()> {
        let _appends_wait = self.lock_writer();
        let mut segments = self.write_segments();
        let next_offset = active(&segments).next_offset();
        let doomed = segments
            .iter()
            .take_while(|segment| !segment.is_empty() && segment.next_offset() <= lowest)
            .count();
        if doomed == segments.len() {
            // Create the replacement before deleting anything: a crash in
            // between leaves a valid log, never an empty directory.
            segments.push(create_segment(&self.dir, next_offset, &self.config)?);
        }
        // Oldest first, so a crash midway leaves a contiguous run of segments.
        for segment in segments.drain(..doomed) {
            segment.remove()?;
        }
        Ok(())
    }
    // ANCHOR_END: truncate

    /// An [`io::Read`](std::io::Read) over the raw bytes of every store, oldest first, as
    /// they are now (records appended later are not included).
    ///
    /// # Errors
    /// [`Error::Io`] if buffered records cannot be written out first.
    pub fn reader(&self) -> Result<LogReader> {
        let segments = self.read_segments();
        let stores = segments
            .iter()
            .map(Segment::raw_store)
            .collect::<Result<Vec<_>>>()?;
        Ok(LogReader::new(stores))
    }

    /// Writes every appended record out of the log's buffer to the operating
    /// system, without waiting for the disk: after this, a crash of the
    /// process loses nothing (a power loss still can). A server calls it once
    /// per request, so many appends share one `write`.
    ///
    /// # Errors
    /// [`Error::Io`] if the write fails.
    pub fn flush(&self) -> Result<()> {
        active(&self.read_segments()).flush()
    }

    /// Writes every appended record to disk and waits for the disk to have it.
    ///
    /// # Errors
    /// [`Error::Io`] if the write or the fsync fails.
    pub fn sync(&self) -> Result<()> {
        let mut state = self.lock_writer();
        // Sealed segments were synced when they were sealed.
        active(&self.read_segments()).sync()?;
        state.unsynced_records = 0;
        state.last_sync = Instant::now();
        Ok(())
    }

    /// Syncs and closes the log: every store synced, every index trimmed.
    ///
    /// # Errors
    /// The first error met; every segment is still closed.
    pub fn close(mut self) -> Result<()> {
        let segments = std::mem::take(
            self.segments
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        close_segments(segments)
    }

    /// Closes the log and deletes its directory and everything in it.
    ///
    /// # Errors
    /// [`Error::Io`] if the directory cannot be removed.
    pub fn remove(self) -> Result<()> {
        let dir = self.dir.clone();
        // The files are about to go: a failed sync does not matter.
        let _ = self.close();
        fs::remove_dir_all(&dir).map_err(Error::io("removing log directory", &dir))
    }

    // ANCHOR: reset
    /// Deletes every record and leaves an empty, usable log that starts again
    /// at `config.initial_offset`. (The Go book's `Reset` leaves a closed log.)
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be removed or created.
    pub fn reset(&self) -> Result<()> {
        let _appends_wait = self.lock_writer();
        let mut segments = self.write_segments();
        // Oldest first, so a crash midway leaves a contiguous run of segments.
        for segment in segments.drain(..) {
            segment.remove()?;
        }
        segments.push(create_segment(
            &self.dir,
            self.config.initial_offset,
            &self.config,
        )?);
        Ok(())
    }
    // ANCHOR_END: reset

    fn read_segments(&self) -> RwLockReadGuard<'_, Vec<Segment>> {
        // Every change to the segment list is a single push or drain of
        // whole segments: a panicking holder cannot leave it half-changed.
        self.segments
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_segments(&self) -> RwLockWriteGuard<'_, Vec<Segment>> {
        self.segments
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_writer(&self) -> MutexGuard<'_, SyncState> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Log {
    /// Closes whatever [`Log::close`] did not: buffered records reach the
    /// file even when the log is simply dropped. Errors cannot be reported
    /// here; call [`Log::close`] to see them.
    fn drop(&mut self) {
        let segments = std::mem::take(
            self.segments
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        let _ = close_segments(segments);
    }
}

/// The active segment: the last one. There always is one.
fn active(segments: &[Segment]) -> &Segment {
    match segments.last() {
        Some(segment) => segment,
        None => unreachable!("a log always has an active segment"),
    }
}

fn lowest(segments: &[Segment]) -> u64 {
    segments.first().map_or(0, Segment::base_offset)
}

fn close_segments(segments: Vec<Segment>) -> Result<()> {
    let mut first_error = Ok(());
    for mut segment in segments {
        if let Err(error) = segment.seal() {
            first_error = first_error.and(Err(error));
        }
    }
    first_error
}

/// Creates a new segment's files and syncs the directory, so that after a
/// crash the files are there (an fsync of a file does not persist its name).
fn create_segment(dir: &Path, base_offset: u64, config: &Config) -> Result<Segment> {
    let (segment, _) = Segment::open(dir, base_offset, config, true)?;
    sync_directory(dir)?;
    Ok(segment)
}

fn sync_directory(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(Error::io("syncing log directory", dir))
}

/// Takes the directory's lock, so a second `Log` on the same directory (in
/// this process or another) fails instead of corrupting the first one's files.
/// Waits up to [`LOCK_WAIT`] for it: a server restarted right after it was
/// told to stop can start while the old process is still closing its files.
fn lock_directory(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = File::create(&path).map_err(Error::io("creating lock file", &path))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: dir.to_path_buf(),
                });
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(Error::Io {
                    action: "locking",
                    path,
                    source,
                });
            }
        }
    }
}

/// The base offsets of the segments in `dir`, sorted, after removing index
/// files whose store is gone (they hold no records, only pointers to them).
fn list_segments(dir: &Path) -> Result<(Vec<u64>, Vec<Repair>)> {
    let mut stores = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io("listing log directory", dir))? {
        let path = entry
            .map_err(Error::io("listing log directory", dir))?
            .path();
        let base_offset = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .and_then(parse_base_offset);
        match (
            base_offset,
            path.extension().and_then(|extension| extension.to_str()),
        ) {
            (Some(base_offset), Some("store")) => stores.push(base_offset),
            (Some(base_offset), Some("index")) => indexes.push(base_offset),
            _ => {} // Not ours (the lock file, an editor's backup): leave it.
        }
    }
    stores.sort_unstable();
    let mut repairs = Vec::new();
    for orphan in indexes
        .into_iter()
        .filter(|base_offset| stores.binary_search(base_offset).is_err())
    {
        let path = segment_path(dir, orphan, "index");
        fs::remove_file(&path).map_err(Error::io("removing orphan index", &path))?;
        repairs.push(Repair::RemovedOrphanIndex { path });
    }
    Ok((stores, repairs))
}

/// Parses a segment file's stem: exactly 20 decimal digits.
fn parse_base_offset(stem: &str) -> Option<u64> {
    (stem.len() == 20 && stem.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}
