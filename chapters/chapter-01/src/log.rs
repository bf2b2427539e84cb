//! The log: a directory of segments that looks like one endless array.
//!
//! ```text
//!   dir/
//!     00000000000000000000.store  00000000000000000000.index   sealed
//!     00000000000000001310.store  00000000000000001310.index   sealed
//!     00000000000000002620.store  00000000000000002620.index   active: appends go here
//!     LOCK                                                     one Log per directory
//! ```
//!
//! Appends go through the commit queue (`commit.rs`): the appender at
//! the front writes for everyone waiting, fills the active segment, starts
//! a new one when it is full (handing the full one to the
//! sealer, `sealer.rs`), syncs as the [`SyncPolicy`] says, and only then
//! *publishes* the new records by advancing the log's next offset. A failed
//! group is taken back before anyone sees it.
//!
//! Reads never wait for appends or syncs: they check the published next
//! offset, find their segment with a binary search over base offsets
//! (O(log segments)), then the record through the index (O(1)), and copy it
//! out of the store's memory map (no system call). Retention
//! ([`Log::truncate`]) deletes whole segments from the front.

// ANCHOR: imports
use std::fs::{self, File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Instant;

use crate::commit::{Batch, CommitQueue};
use crate::config::{Config, SyncPolicy};
use crate::error::{Corruption, Error, Result};
use crate::meta::{CleanShutdown, sync_directory};
use crate::reader::LogReader;
use crate::recovery::{Repair, Role};
use crate::sealer::Sealer;
use crate::segment::{End, Segment, segment_path};
use crate::store::{FILE_MODE, FRAME_OVERHEAD, encode_frame, framed_len};
// ANCHOR_END: imports

// ANCHOR: segment_info
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
// ANCHOR_END: segment_info

// ANCHOR: log_struct
/// The name of the lock file that keeps two `Log`s out of one directory.
const LOCK_FILE: &str = "LOCK";
/// How long opening waits for another `Log` to release the directory.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Log directories are private to the user that runs the log.
const DIR_MODE: u32 = 0o700;

// ANCHOR: log
/// A segmented, crash-safe commit log in a directory. `Send + Sync`: share it
/// with an `Arc` and call any method from any thread.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    config: Config,
    /// Oldest first; the last one is active. Readers take the read lock;
    /// a roll, retention and reset take the write lock, briefly.
    segments: RwLock<Vec<Arc<Segment>>>,
    /// One past the newest record readers may see: advanced only once a
    /// group of appends is written (and synced, if the policy says so).
    next_offset: AtomicU64,
    /// Appenders line up here; the one at the front writes for all.
    queue: CommitQueue,
    /// Held by whoever changes the files: a commit leader, retention, reset,
    /// sync, close. Never taken by readers.
    writer: Mutex<Writer>,
    /// What the background sealer shares with the log.
    shared: Arc<Shared>,
    /// Seals full segments in the background.
    sealer: Mutex<Sealer>,
    /// What recovery repaired when the log was opened.
    repairs: Vec<Repair>,
    /// Holds the directory's lock for as long as the log is open.
    _lock: File,
}
// ANCHOR_END: log_struct

// ANCHOR: writer_shared
/// The writer's bookkeeping for the sync policy.
#[derive(Debug)]
struct Writer {
    /// Records appended since the last sync.
    unsynced_records: u64,
    /// When the last sync was.
    last_sync: Instant,
    /// Segments that rolled since the last sync: a sync covers them and the
    /// active one, oldest first, so that what it promises is a prefix of
    /// the log.
    unsynced: Vec<Weak<Segment>>,
    /// Whether segment files were created or removed since the last sync.
    directory_changed: bool,
    /// Whether the log was closed.
    closed: bool,
}

/// What the log and its sealer thread share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Whether the log refuses writes (checked on every append, so an
    /// atomic rather than the lock below).
    refuses_writes: AtomicBool,
    /// Why the log refuses writes, once it does.
    poisoned: Mutex<Option<String>>,
    /// How many times a store was synced.
    syncs: AtomicU64,
}
// ANCHOR_END: writer_shared
// ANCHOR_END: log

// ANCHOR: shared_impl
impl Shared {
    /// Makes the log refuse writes from now on (the first cause is kept).
    pub(crate) fn poison(&self, cause: String) {
        let mut poisoned = self
            .poisoned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        poisoned.get_or_insert(cause);
        self.refuses_writes.store(true, Ordering::Release);
    }

    /// `Err` if the log refuses writes.
    fn check(&self) -> Result<()> {
        if !self.refuses_writes.load(Ordering::Acquire) {
            return Ok(());
        }
        let poisoned = self
            .poisoned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*poisoned {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Counts one store sync.
    pub(crate) fn count_sync(&self) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
    }
}
// ANCHOR_END: shared_impl

// ANCHOR: open_a
impl Log {
    // ANCHOR: open
    /// Opens the log in `dir`, creating the directory (private: 0700) and a
    /// first segment at `config.initial_offset` if there is none, and
    /// recovering every segment after a crash (see [`Repair`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for limits that cannot hold a record,
    /// [`Error::Locked`] if another `Log` has the directory open,
    /// [`Error::Corrupt`] for damage recovery must not paper over, and
    /// [`Error::Io`] when a file cannot be read or written.
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<Log> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&dir)
            .map_err(Error::io("creating log directory", &dir))?;
        let lock = lock_directory(&dir)?;
        let clean = CleanShutdown::find(&dir)?;
        let (mut segments, repairs) = open_segments(&dir, &config, clean.is_some())?;
        if segments.is_empty() {
            segments.push(Arc::new(Segment::create(
                &dir,
                config.initial_offset,
                &config,
            )?));
            sync_directory(&dir)?;
        }
        // ANCHOR_END: open_a
        // ANCHOR: open_b
        let next_offset =
            active(&segments).map_or(config.initial_offset, |segment| segment.next_offset());
        if let Some(clean) = clean {
            if clean.next_offset != next_offset {
                return Err(Error::Corrupt {
                    path: segment_path(&dir, active_base(&segments), "store"),
                    position: 0,
                    problem: Corruption::MissingRecords {
                        expected_next: clean.next_offset,
                        found_next: next_offset,
                    },
                });
            }
            // From the first append on, a crash can tear the log again.
            CleanShutdown::clear(&dir)?;
        }
        let shared = Arc::new(Shared::default());
        let sealer = Sealer::start(Arc::clone(&shared))?;
        Ok(Log {
            dir,
            config,
            segments: RwLock::new(segments),
            next_offset: AtomicU64::new(next_offset),
            queue: CommitQueue::default(),
            writer: Mutex::new(Writer {
                unsynced_records: 0,
                last_sync: Instant::now(),
                unsynced: Vec::new(),
                directory_changed: false,
                closed: false,
            }),
            shared,
            sealer: Mutex::new(sealer),
            repairs,
            _lock: lock,
        })
    }
    // ANCHOR_END: open_b
    // ANCHOR_END: open

    // ANCHOR: accessors
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

    /// How many times the log has forced a store to disk (`fdatasync`)
    /// since it was opened: what shows that a sync policy really syncs.
    pub fn sync_count(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }

    /// Appends `value` and returns its offset.
    ///
    /// # Errors
    /// As [`Log::append_batch`].
    pub fn append(&self, value: &[u8]) -> Result<u64> {
        self.append_batch(&[value]).map(|offsets| offsets.start)
    }
    // ANCHOR_END: accessors

    // ANCHOR: append_batch
    /// Appends `values` in order and returns their offsets, all or nothing:
    /// when it returns, the records are in the operating system's hands
    /// (and on disk, if the sync policy says so), and readers can see them.
    /// Appends from many threads at once share writes and syncs (the
    /// commit queue, `commit.rs`).
    ///
    /// # Errors
    /// [`Error::RecordTooLarge`] if any value cannot fit in a store,
    /// [`Error::Io`] if the disk refuses it, [`Error::Poisoned`] after a
    /// failure the log cannot take back. In every case no value was
    /// appended: a retry cannot duplicate a record.
    pub fn append_batch(&self, values: &[&[u8]]) -> Result<Range<u64>> {
        self.check_sizes(values)?;
        let mut batch = Batch {
            frames: Vec::with_capacity(values.iter().map(|v| framed_len(v.len()) as usize).sum()),
            framed_lens: Vec::with_capacity(values.len()),
        };
        for value in values {
            encode_frame(&mut batch.frames, value);
            batch.framed_lens.push(framed_len(value.len()));
        }
        self.queue.commit(batch, |group| self.write_group(group))
    }
    // ANCHOR_END: append_batch

    // ANCHOR: check_sizes
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
    // ANCHOR_END: check_sizes

    // ANCHOR: write_group
    /// The leader's work: writes every batch of a group, rolling segments as
    /// they fill, syncs as the policy says, then publishes the records. If
    /// anything fails, the whole group is taken back and every batch gets
    /// the error.
    fn write_group(&self, group: &[Batch]) -> Result<u64> {
        let mut writer = self.lock_writer();
        self.shared.check()?;
        if writer.closed {
            return Err(Error::Poisoned {
                cause: "the log is closed".into(),
            });
        }
        let Some(start) = active(&self.read_segments()).cloned() else {
            return Err(Error::Poisoned {
                cause: "the log has no active segment".into(),
            });
        };
        let first = self.next_offset.load(Ordering::Acquire);
        let mut written = Written {
            start: (Arc::clone(&start), start.end()),
            segments: vec![start],
        };
        let records = match self.write_batches(&mut writer, group, &mut written) {
            Ok(records) => records,
            Err(error) => return Err(self.roll_back(&mut writer, written, error, false)),
        };
        if let Err(error) = self.sync_if_due(&mut writer, &written, records) {
            return Err(self.roll_back(&mut writer, written, error, true));
        }
        // Only now may readers see the records.
        self.next_offset.store(first + records, Ordering::Release);
        if written.segments.len() > 1 {
            // Every segment but the last one written filled up: seal it.
            let sealer = self.lock_sealer();
            for full in &written.segments[..written.segments.len() - 1] {
                sealer.seal(Arc::clone(full));
            }
        }
        Ok(first)
    }
    // ANCHOR_END: write_group

    // ANCHOR: write_batches
    /// Writes the batches' frames into the active segment, rolling to a new
    /// one whenever the next record does not fit; returns how many records
    /// were written. `written` keeps track of the segments touched, for the
    /// sync and for taking it all back.
    fn write_batches(
        &self,
        writer: &mut Writer,
        group: &[Batch],
        written: &mut Written,
    ) -> Result<u64> {
        let mut records = 0;
        for batch in group {
            let (mut frames, mut lens) = (&batch.frames[..], &batch.framed_lens[..]);
            while !lens.is_empty() {
                let active = written.active();
                let fit = active.how_many_fit(lens);
                if fit == 0 {
                    let next = active.next_offset();
                    written.segments.push(self.roll(writer, next)?);
                    continue;
                }
                let bytes: u64 = lens[..fit].iter().sum();
                active.append(&frames[..bytes as usize], &lens[..fit])?;
                (frames, lens) = (&frames[bytes as usize..], &lens[fit..]);
                records += fit as u64;
            }
        }
        Ok(records)
    }
    // ANCHOR_END: write_batches

    // ANCHOR: roll
    /// Starts a new active segment at `next_offset`. The full one is sealed
    /// in the background once the group that filled it is published; until
    /// then, a failure can still take the roll back.
    fn roll(&self, writer: &mut Writer, next_offset: u64) -> Result<Arc<Segment>> {
        let segment = Arc::new(Segment::create(&self.dir, next_offset, &self.config)?);
        // The new files' names reach the disk with the next sync's
        // directory fsync, before any record in them is promised.
        writer.directory_changed = true;
        self.write_segments().push(Arc::clone(&segment));
        Ok(segment)
    }
    // ANCHOR_END: roll

    // ANCHOR: sync_policy
    /// Syncs if the policy says it is time, after `records` more records.
    fn sync_if_due(&self, writer: &mut Writer, written: &Written, records: u64) -> Result<()> {
        writer.unsynced_records += records;
        if written.segments.len() > 1 {
            for segment in &written.segments {
                remember_unsynced(&mut writer.unsynced, segment);
            }
        }
        let due = match self.config.sync {
            SyncPolicy::Os => false,
            SyncPolicy::EveryRecords(every) => writer.unsynced_records >= every,
            SyncPolicy::Interval(interval) => writer.last_sync.elapsed() >= interval,
            SyncPolicy::Always => true,
        };
        if due {
            self.sync_unsynced(writer)?;
        }
        Ok(())
    }

    /// Syncs every segment written since the last sync, oldest first, then
    /// the directory if segment files came or went.
    fn sync_unsynced(&self, writer: &mut Writer) -> Result<()> {
        if let Some(active) = active(&self.read_segments()) {
            remember_unsynced(&mut writer.unsynced, active);
        }
        for segment in writer.unsynced.iter().filter_map(Weak::upgrade) {
            segment.sync()?;
            self.shared.count_sync();
        }
        if writer.directory_changed {
            sync_directory(&self.dir)?;
            writer.directory_changed = false;
        }
        writer.unsynced.clear();
        writer.unsynced_records = 0;
        writer.last_sync = Instant::now();
        Ok(())
    }
    // ANCHOR_END: sync_policy

    // ANCHOR: roll_back
    /// Takes a failed group back: removes the segments it created, newest
    /// first, and cuts the segment it started in back to where it was. If
    /// that fails too, or if a sync failed under a policy that had already
    /// acknowledged unsynced records, the log is poisoned: it no longer knows
    /// what it holds, and refuses writes until it is reopened and recovered.
    fn roll_back(
        &self,
        writer: &mut Writer,
        written: Written,
        error: Error,
        in_sync: bool,
    ) -> Error {
        let (start, end) = written.start;
        let mut undone = Ok(());
        for created in written.segments.iter().skip(1).rev() {
            self.write_segments()
                .retain(|segment| !Arc::ptr_eq(segment, created));
            undone = undone.and(created.remove_files());
            writer.directory_changed = true;
        }
        undone = undone.and(start.roll_back_to(end));
        let acknowledged_unsynced = in_sync && self.config.sync != SyncPolicy::Always;
        match undone {
            Err(undo) => self.shared.poison(format!(
                "{error}; taking the failed append back also failed: {undo}"
            )),
            Ok(()) if acknowledged_unsynced => self.shared.poison(format!(
                "{error}; records acknowledged before this sync may not be on disk"
            )),
            Ok(()) => {}
        }
        error
    }
    // ANCHOR_END: roll_back

    // ANCHOR: read
    /// Reads the value at `offset`.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] below the lowest offset or at/after the
    /// next one, [`Error::Corrupt`] if the record's bytes fail their checks,
    /// [`Error::Io`] if the disk refuses.
    pub fn read(&self, offset: u64) -> Result<Vec<u8>> {
        let next = self.next_offset();
        let segments = self.read_segments();
        let out_of_range = || Error::OffsetOutOfRange {
            offset,
            lowest: lowest(&segments, next),
            next,
        };
        if offset >= next {
            return Err(out_of_range());
        }
        // Segments are sorted by base offset: the record lives in the last
        // segment whose base offset is not past it.
        let holder = segments.partition_point(|segment| segment.base_offset() <= offset);
        let found = match holder.checked_sub(1) {
            Some(n) => segments[n].read(offset)?,
            None => None,
        };
        found.ok_or_else(out_of_range)
    }
    // ANCHOR_END: read

    // ANCHOR: queries
    /// The lowest offset still in the log (for an empty log, the offset the
    /// next append will get).
    pub fn lowest_offset(&self) -> u64 {
        lowest(&self.read_segments(), self.next_offset())
    }

    /// The offset the next append will get: one past the highest offset.
    pub fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// The offset of the newest record, or `None` if the log holds no records.
    pub fn highest_offset(&self) -> Option<u64> {
        let next = self.next_offset();
        (next > self.lowest_offset()).then(|| next - 1)
    }

    /// How many segments the log has (sealed ones and the active one).
    pub fn segment_count(&self) -> usize {
        self.read_segments().len()
    }

    /// The bytes the log's stores hold (what retention by size measures).
    pub fn size_bytes(&self) -> u64 {
        self.read_segments()
            .iter()
            .map(|segment| segment.store_bytes())
            .sum()
    }
    // ANCHOR_END: queries

    // ANCHOR: segments
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
    // ANCHOR_END: segments

    // ANCHOR: truncate
    /// Removes every segment whose records are all below `lowest`: retention
    /// by offset. Works on whole segments, so records below `lowest` that
    /// share a segment with records at or above it stay. If even the active
    /// segment goes, a new empty one starts at the next offset: offsets are
    /// never reused.
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be created or removed; the segments
    /// not yet removed then stay, still a contiguous log.
    pub fn truncate(&self, lowest: u64) -> Result<()> {
        let mut writer = self.lock_writer();
        let next_offset = self.next_offset();
        let doomed: Vec<Arc<Segment>> = self
            .read_segments()
            .iter()
            .take_while(|segment| !segment.is_empty() && segment.next_offset() <= lowest)
            .cloned()
            .collect();
        if doomed.is_empty() {
            return Ok(());
        }
        if doomed.len() == self.segment_count() {
            // Create the replacement before deleting anything: a crash in
            // between leaves a valid log, never an empty directory.
            self.roll(&mut writer, next_offset)?;
        }
        // Oldest first, so a crash midway leaves a contiguous run of segments.
        let removed = self.remove_segments(&mut writer, &doomed);
        let synced = sync_directory(&self.dir);
        writer.directory_changed = false;
        removed.and(synced)
    }
    // ANCHOR_END: truncate

    // ANCHOR: remove_segments
    /// Removes `doomed` from the list and deletes their files, in order,
    /// stopping at the first failure.
    fn remove_segments(&self, writer: &mut Writer, doomed: &[Arc<Segment>]) -> Result<()> {
        for segment in doomed {
            segment.remove_files()?;
            writer.directory_changed = true;
            self.write_segments()
                .retain(|kept| !Arc::ptr_eq(kept, segment));
        }
        Ok(())
    }
    // ANCHOR_END: remove_segments

    // ANCHOR: reader
    /// An [`io::Read`](std::io::Read) over the raw bytes of every store, oldest first, as
    /// they are now (records appended later are not included).
    ///
    /// # Errors
    /// [`Error::Io`] if a store cannot be opened for reading.
    pub fn reader(&self) -> Result<LogReader> {
        let segments = self.read_segments();
        let stores = segments
            .iter()
            .map(|segment| segment.raw_store())
            .collect::<Result<Vec<_>>>()?;
        Ok(LogReader::new(stores))
    }
    // ANCHOR_END: reader

    // ANCHOR: sync
    /// Forces every appended record to disk and waits for the disk to have
    /// it, whatever the sync policy, and for every full segment to be
    /// sealed. Readers carry on meanwhile.
    ///
    /// # Errors
    /// [`Error::Io`] if an fsync fails (the log is then poisoned: see
    /// [`Error::Poisoned`]), or [`Error::Poisoned`] if sealing failed.
    pub fn sync(&self) -> Result<()> {
        let mut writer = self.lock_writer();
        self.shared.check()?;
        if let Err(error) = self.sync_unsynced(&mut writer) {
            self.shared.poison(format!("{error}"));
            return Err(error);
        }
        let sealed = self.lock_sealer().barrier();
        drop(writer);
        // An error means the sealer is gone: it sealed what it had.
        let _ = sealed.recv();
        self.shared.check()
    }
    // ANCHOR_END: sync

    // ANCHOR: close
    /// Closes the log: seals what the sealer has not yet, syncs the active
    /// segment, trims its index, and records a clean shutdown, so the next
    /// open knows no write was torn.
    ///
    /// # Errors
    /// The first error met; the log is closed either way, but without the
    /// clean-shutdown record if anything failed.
    pub fn close(self) -> Result<()> {
        self.shut_down()
    }

    fn shut_down(&self) -> Result<()> {
        self.lock_sealer().finish();
        let mut writer = self.lock_writer();
        if writer.closed {
            return Ok(());
        }
        writer.closed = true;
        self.shared.check()?;
        self.sync_unsynced(&mut writer)?;
        if let Some(active) = active(&self.read_segments()) {
            active.seal()?;
        }
        sync_directory(&self.dir)?;
        CleanShutdown {
            next_offset: self.next_offset(),
        }
        .record(&self.dir)
    }
    // ANCHOR_END: close

    // ANCHOR: remove
    /// Closes the log and deletes its directory and everything in it.
    ///
    /// # Errors
    /// [`Error::Io`] if the directory cannot be removed.
    pub fn remove(self) -> Result<()> {
        let dir = self.dir.clone();
        // The files are about to go: a failed sync does not matter.
        let _ = self.shut_down();
        drop(self);
        fs::remove_dir_all(&dir).map_err(Error::io("removing log directory", &dir))
    }
    // ANCHOR_END: remove

    // ANCHOR: reset
    /// Deletes every record and leaves an empty, usable log that starts again
    /// at `config.initial_offset`. (The Go book's `Reset` leaves a closed log.)
    ///
    /// # Errors
    /// As [`Log::reset_to`].
    pub fn reset(&self) -> Result<()> {
        self.reset_to(self.config.initial_offset)
    }

    /// Deletes every record and leaves an empty log whose next append gets
    /// `next_offset`: what a Raft log needs after a snapshot replaced
    /// everything it held (chapter 7), whatever offsets it held before.
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be removed or created. Segments not
    /// yet removed then stay (still a contiguous log); if every segment went
    /// but the new one could not be created, the log is poisoned.
    pub fn reset_to(&self, next_offset: u64) -> Result<()> {
        let mut writer = self.lock_writer();
        self.reset_locked(&mut writer, next_offset)
    }

    fn reset_locked(&self, writer: &mut Writer, next_offset: u64) -> Result<()> {
        let doomed = self.read_segments().clone();
        self.remove_segments(writer, &doomed)?;
        match Segment::create(&self.dir, next_offset, &self.config) {
            Ok(segment) => self.write_segments().push(Arc::new(segment)),
            Err(error) => {
                self.shared
                    .poison(format!("the log was reset but no new segment: {error}"));
                return Err(error);
            }
        }
        self.next_offset.store(next_offset, Ordering::Release);
        writer.unsynced.clear();
        writer.unsynced_records = 0;
        sync_directory(&self.dir)?;
        writer.directory_changed = false;
        Ok(())
    }
    // ANCHOR_END: reset

    // ANCHOR: truncate_after
    // ANCHOR: truncate_after_a
    /// Drops every record after `offset`: the next append gets `offset + 1`.
    /// What a Raft follower does when the leader's log disagrees with the end
    /// of its own (chapter 7). If `offset` is below the lowest record, the
    /// log is emptied and starts at `offset + 1`; if it is the newest record
    /// or later, nothing changes.
    ///
    /// Crash-safe: the segments after the one holding `offset` are removed
    /// newest first, then that one is cut after `offset`'s record and
    /// synced, so a crash at any point leaves a valid log that ends at
    /// `offset` or later, never a gap.
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be removed or cut (the log is then as
    /// a crash at that point would leave it, and still valid),
    /// [`Error::Poisoned`] if the log refuses writes.
    pub fn truncate_after(&self, offset: u64) -> Result<()> {
        let mut writer = self.lock_writer();
        self.shared.check()?;
        let keep = offset.saturating_add(1);
        if keep >= self.next_offset() {
            return Ok(());
        }
        if keep <= self.lowest_offset() {
            return self.reset_locked(&mut writer, keep);
        }
        // New readers stop at `offset` from here on; the write lock below
        // waits for the ones already reading.
        self.next_offset.store(keep, Ordering::Release);
        // ANCHOR_END: truncate_after_a
        // ANCHOR: truncate_after_b
        let later: Vec<Arc<Segment>> = self
            .read_segments()
            .iter()
            .filter(|segment| segment.base_offset() > offset)
            .rev()
            .cloned()
            .collect();
        let rolled_back = !later.is_empty();
        self.remove_segments(&mut writer, &later)?;
        if rolled_back {
            sync_directory(&self.dir)?;
            writer.directory_changed = false;
            // The segment that now ends the log was full, perhaps still being
            // sealed: let the sealer finish before the segment takes appends.
            let sealed = self.lock_sealer().barrier();
            let _ = sealed.recv();
        }
        let mut segments = self.write_segments();
        let Some(holder) = segments.last().cloned() else {
            return Err(Error::Poisoned {
                cause: "the log has no segment left to cut".into(),
            });
        };
        holder.roll_back_to(holder.end_after(offset)?)?;
        holder.sync()?;
        self.shared.count_sync();
        if rolled_back {
            // Open it again as the active segment: its index allocated to its
            // full size for the appends to come.
            let base = holder.base_offset();
            segments.pop();
            drop(holder);
            let (reopened, _) = Segment::open(&self.dir, base, &self.config, Role::Active, false)?;
            segments.push(Arc::new(reopened));
        }
        writer.unsynced.clear();
        writer.unsynced_records = 0;
        Ok(())
    }
    // ANCHOR_END: truncate_after_b
    // ANCHOR_END: truncate_after

    // ANCHOR: locks
    fn read_segments(&self) -> RwLockReadGuard<'_, Vec<Arc<Segment>>> {
        // Every change to the segment list is a single push or removal of
        // whole segments: a panicking holder cannot leave it half-changed.
        self.segments
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_segments(&self) -> RwLockWriteGuard<'_, Vec<Arc<Segment>>> {
        self.segments
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_sealer(&self) -> MutexGuard<'_, Sealer> {
        self.sealer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Log {
    /// Closes whatever [`Log::close`] did not. Errors cannot be reported
    /// here; call [`Log::close`] to see them.
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}
// ANCHOR_END: locks

// ANCHOR: written
/// The segments a group wrote to: where it started (to take it back), and
/// every segment it touched, oldest first (the last is the active one).
struct Written {
    start: (Arc<Segment>, End),
    segments: Vec<Arc<Segment>>,
}

impl Written {
    fn active(&self) -> Arc<Segment> {
        let last = self.segments.len() - 1;
        Arc::clone(&self.segments[last])
    }
}

fn remember_unsynced(unsynced: &mut Vec<Weak<Segment>>, segment: &Arc<Segment>) {
    unsynced.retain(|known| known.strong_count() > 0);
    if !unsynced
        .iter()
        .any(|known| std::ptr::eq(known.as_ptr(), Arc::as_ptr(segment)))
    {
        unsynced.push(Arc::downgrade(segment));
    }
}

/// The active segment: the last one (there always is one, unless a reset
/// failed halfway).
fn active(segments: &[Arc<Segment>]) -> Option<&Arc<Segment>> {
    segments.last()
}

fn active_base(segments: &[Arc<Segment>]) -> u64 {
    active(segments).map_or(0, |segment| segment.base_offset())
}

fn lowest(segments: &[Arc<Segment>], next: u64) -> u64 {
    segments
        .first()
        .map_or(next, |segment| segment.base_offset())
}
// ANCHOR_END: written

// ANCHOR: open_segments
// ANCHOR: open_segments_a
/// Opens and recovers every segment in `dir`, oldest first, checking that
/// their offsets run on without a gap. If the last sealed segment had a torn
/// tail, the segment after it starts past records that are gone: it is
/// removed, and the segments are opened again.
fn open_segments(
    dir: &Path,
    config: &Config,
    clean: bool,
) -> Result<(Vec<Arc<Segment>>, Vec<Repair>)> {
    let mut repairs = Vec::new();
    'open: loop {
        let base_offsets = list_segments(dir, &mut repairs)?;
        let last = base_offsets.len().saturating_sub(1);
        let mut segments: Vec<Arc<Segment>> = Vec::with_capacity(base_offsets.len());
        for (n, &base_offset) in base_offsets.iter().enumerate() {
            let role = match last - n {
                0 => Role::Active,
                1 => Role::LastSealed,
                _ => Role::Sealed,
            };
            let (segment, recovered) = Segment::open(dir, base_offset, config, role, clean)?;
            // ANCHOR_END: open_segments_a
            // ANCHOR: open_segments_b
            if let Some(previous) = segments.last().map(|segment| segment.next_offset())
                && previous != base_offset
            {
                let problem = Corruption::SegmentGap {
                    expected: previous,
                    found: base_offset,
                };
                return Err(Error::Corrupt {
                    path: segment_path(dir, base_offset, "store"),
                    position: 0,
                    problem,
                });
            }
            repairs.extend(recovered.repairs);
            if recovered.later_segments_follow_a_tear {
                drop(segment);
                for &later in &base_offsets[n + 1..] {
                    let path = segment_path(dir, later, "store");
                    fs::remove_file(&path).map_err(Error::io("removing store", &path))?;
                    repairs.push(Repair::RemovedSegmentAfterTornTail { path });
                }
                sync_directory(dir)?;
                continue 'open; // its index is orphaned now, and removed
            }
            segments.push(Arc::new(segment));
        }
        return Ok((segments, repairs));
    }
}
// ANCHOR_END: open_segments_b
// ANCHOR_END: open_segments

// ANCHOR: lock_directory
/// Takes the directory's lock, so a second `Log` on the same directory (in
/// this process or another) fails instead of corrupting the first one's files.
/// Waits up to [`LOCK_WAIT`] for it: a server restarted right after it was
/// told to stop can start while the old process is still closing its files.
fn lock_directory(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(&path)
        .map_err(Error::io("creating lock file", &path))?;
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
// ANCHOR_END: lock_directory

// ANCHOR: list_segments
/// The base offsets of the segments in `dir`, sorted, after removing index
/// files whose store is gone (they hold no records, only pointers to them).
fn list_segments(dir: &Path, repairs: &mut Vec<Repair>) -> Result<Vec<u64>> {
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
    for orphan in indexes
        .into_iter()
        .filter(|base_offset| stores.binary_search(base_offset).is_err())
    {
        let path = segment_path(dir, orphan, "index");
        fs::remove_file(&path).map_err(Error::io("removing orphan index", &path))?;
        repairs.push(Repair::RemovedOrphanIndex { path });
    }
    Ok(stores)
}

/// Parses a segment file's stem: exactly 20 decimal digits.
fn parse_base_offset(stem: &str) -> Option<u64> {
    (stem.len() == 20 && stem.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}
// ANCHOR_END: list_segments
