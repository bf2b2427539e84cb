//! The Raft log, kept in chapter 1's log: entry `i` at offset `i`.
//!
//! openraft asks its log store for six things (the `RaftLogStorage` trait),
//! and chapter 1's log already does the hard part of each:
//!
//! ```text
//!   openraft asks                 this store does
//!   ────────────────────────────  ────────────────────────────────────────────
//!   append(entries), then "flush"  append_batch of their bytes; the log syncs
//!                                  before it returns (SyncPolicy::Always), so
//!                                  the flush callback can fire at once
//!   truncate(from index i)         truncate_after(i - 1), or reset_to(i)
//!   purge(up to index i)           record i as purged, then remove whole
//!                                  segments below i + 1 (retention), or
//!                                  reset_to(i + 1) if nothing is left
//!   save_vote / read_vote          a small file, written atomically (chapter
//!                                  1's meta::write_atomically)
//!   get_log_state                  the last entry's id, or the last purged one
//!   read entries a..b              read and decode offsets a..b
//! ```
//!
//! The store is durable where Raft needs it to be: a vote is on disk before
//! the server answers with it, and entries are on disk before openraft is
//! told they are. Without that, a server that restarts could vote twice in
//! a term, or forget entries it told a leader it had, and Raft's guarantees
//! would be void.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chapter_01::Log;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, StorageIOError};
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::error::{Error, Result};
use crate::recent::{RECENT_BYTES, Recent};
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

// ANCHOR: meta
/// The file beside the log's segments that holds the vote and the last
/// purged log id.
const META_FILE: &str = "raft-meta";

/// What the store keeps besides entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    /// The last vote this server cast (or saw win).
    vote: Option<Vote>,
    /// The id of the newest entry removed from the front of the log.
    last_purged: Option<LogId>,
}
// ANCHOR_END: meta

// ANCHOR: log_store
/// openraft's log store over chapter 1's [`Log`]. Cheap to clone: clones
/// (the readers openraft's replication tasks use) share the log.
#[derive(Debug, Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    log: Log,
    dir: PathBuf,
    meta: Mutex<Meta>,
    /// The id of the newest entry in the log (or the last purged one).
    last_log_id: Mutex<Option<LogId>>,
    /// The newest entries, decoded (what is read next).
    recent: Mutex<Recent>,
}
// ANCHOR_END: log_store

impl LogStore {
    // ANCHOR: open
    /// Opens (or creates) the Raft log in `dir`. `config.sync` should be
    /// [`SyncPolicy::Always`](chapter_01::SyncPolicy::Always): an entry is
    /// reported flushed when `append` returns.
    ///
    /// # Errors
    /// The log's error when it cannot open, [`Error::Codec`] when the meta
    /// file or the newest entry does not decode.
    pub fn open(dir: &Path, config: chapter_01::Config) -> Result<LogStore> {
        let log = Log::open(dir, config)?;
        let meta = match chapter_01::meta::read_checked(dir, META_FILE)? {
            Some(bytes) => {
                decode(&bytes).map_err(|error| Error::codec("the Raft meta file", error))?
            }
            None => Meta::default(),
        };
        // A crash between recording a purge and removing what it covers
        // can leave the log behind it: finish the purge.
        if let Some(purged) = meta.last_purged
            && log.next_offset() <= purged.index
        {
            log.reset_to(purged.index + 1)?;
        }
        let last_log_id = match log.highest_offset() {
            Some(offset) => Some(decode_entry(&log, offset)?.log_id),
            None => meta.last_purged,
        };
        Ok(LogStore {
            shared: Arc::new(Shared {
                log,
                dir: dir.to_path_buf(),
                meta: Mutex::new(meta),
                last_log_id: Mutex::new(last_log_id),
                recent: Mutex::new(Recent::new(RECENT_BYTES)),
            }),
        })
    }
    // ANCHOR_END: open

    /// The log the entries are in.
    pub fn log(&self) -> &Log {
        &self.shared.log
    }

    fn meta(&self) -> MutexGuard<'_, Meta> {
        self.shared
            .meta
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn recent(&self) -> MutexGuard<'_, Recent> {
        self.shared
            .recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn last_log_id(&self) -> MutexGuard<'_, Option<LogId>> {
        self.shared
            .last_log_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // ANCHOR: save_meta
    /// Writes `meta` to disk (atomically and durably), then keeps it.
    fn save_meta(&self, meta: Meta) -> Result<()> {
        let bytes = encode(&meta).map_err(|error| Error::codec("the Raft meta file", error))?;
        chapter_01::meta::write_atomically(&self.shared.dir, META_FILE, &bytes)?;
        *self.meta() = meta;
        Ok(())
    }
    // ANCHOR_END: save_meta

    // ANCHOR: append_durably
    // ANCHOR: append_durably_a
    /// Appends `entries` (which follow the newest one, without a gap) and
    /// returns once they are on disk (the log syncs before `append_batch`
    /// returns: `SyncPolicy::Always`). A fresh log starts at the first
    /// index it is given; entries a snapshot already holds (at or below the
    /// last purged one) are skipped.
    ///
    /// # Errors
    /// [`Error::Raft`] if the entries do not follow the log; the log's
    /// error if the append fails (nothing is appended then).
    pub fn append_durably(&self, entries: Vec<Entry>) -> Result<()> {
        let purged = self.meta().last_purged.map(|id| id.index);
        let entries: Vec<Entry> = entries
            .into_iter()
            .filter(|entry| Some(entry.log_id.index) > purged)
            .collect();
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(());
        };
        let (first, last) = (first.log_id, last.log_id);
        let frames = entries
            .iter()
            .map(encode)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|error| Error::codec("an entry", error))?;
        // ANCHOR_END: append_durably_a
        // ANCHOR: append_durably_b
        let log = &self.shared.log;
        if log.highest_offset().is_none() && purged.is_none() && log.next_offset() != first.index {
            log.reset_to(first.index)?;
            self.recent().clear();
        }
        if log.next_offset() != first.index {
            return Err(Error::Raft(format!(
                "entry {} does not follow the Raft log, which ends before {}",
                first.index,
                log.next_offset()
            )));
        }
        let slices: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        log.append_batch(&slices)?;
        *self.last_log_id() = Some(last);
        self.recent().extend(entries);
        Ok(())
    }
    // ANCHOR_END: append_durably_b
    // ANCHOR_END: append_durably

    /// Runs blocking file work off tokio's worker threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&LogStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|error| Error::Raft(format!("a storage task failed: {error}")))?
    }
}

/// The entry at `offset`, decoded.
fn decode_entry(log: &Log, offset: u64) -> Result<Entry> {
    let bytes = log.read(offset)?;
    decode(&bytes).map_err(|error| Error::codec(format!("Raft log entry {offset}"), error))
}

fn read_error(error: Error) -> StorageError {
    StorageIOError::read_logs(&error).into()
}

fn write_error(error: Error) -> StorageError {
    StorageIOError::write_logs(&error).into()
}

/// About the most bytes of entries one AppendEntries carries: small
/// enough to be written and synced by a busy follower well within a
/// heartbeat interval.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

// ANCHOR: reader
impl RaftLogReader<TypeConfig> for LogStore {
    /// The entries in `range` that the log holds (none below the last
    /// purged one, nor past the newest).
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<Entry>, StorageError> {
        let log = &self.shared.log;
        let purged = self.meta().last_purged.map_or(0, |id| id.index + 1);
        let start = match range.start_bound() {
            Bound::Included(&start) => start,
            Bound::Excluded(&start) => start + 1,
            Bound::Unbounded => 0,
        }
        .max(purged)
        .max(log.lowest_offset());
        let end = match range.end_bound() {
            Bound::Included(&end) => end + 1,
            Bound::Excluded(&end) => end,
            Bound::Unbounded => u64::MAX,
        }
        .min(log.next_offset());
        // From memory when the entry is recent (the lock is held for one
        // lookup at a time, never across a read from disk).
        let entries: Result<Vec<Entry>> = (start..end)
            .map(|offset| {
                let recent = self.recent().get(offset);
                recent.map_or_else(|| decode_entry(log, offset), Ok)
            })
            .collect();
        entries.map_err(read_error)
    }
    // ANCHOR_END: reader

    // ANCHOR: reader_limited
    /// The entries from `start` (before `end`) that fit in one
    /// AppendEntries message of about [`MAX_PAYLOAD_BYTES`], and at least
    /// one. openraft gives each AppendEntries one heartbeat interval to be
    /// answered: a follower far behind, sent everything it lacks at once,
    /// would time out again and again and never catch up.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> std::result::Result<Vec<Entry>, StorageError> {
        let mut entries = Vec::new();
        let mut bytes = 0;
        let mut next = start;
        while next < end && (entries.is_empty() || bytes < MAX_PAYLOAD_BYTES) {
            let batch_end = end.min(next + 16);
            let batch = self.try_get_log_entries(next..batch_end).await?;
            if batch.is_empty() {
                break;
            }
            for entry in batch {
                if !entries.is_empty() && bytes >= MAX_PAYLOAD_BYTES {
                    break;
                }
                bytes += crate::recent::size_of(&entry);
                next = entry.log_id.index + 1;
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}
// ANCHOR_END: reader_limited

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> std::result::Result<LogState<TypeConfig>, StorageError> {
        Ok(LogState {
            last_purged_log_id: self.meta().last_purged,
            last_log_id: *self.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    // ANCHOR: vote
    /// Durable before it returns: a server that restarts must not vote
    /// again in a term it already voted in.
    async fn save_vote(&mut self, vote: &Vote) -> std::result::Result<(), StorageError> {
        let vote = *vote;
        self.blocking(move |store| {
            let mut meta = *store.meta();
            meta.vote = Some(vote);
            store.save_meta(meta)
        })
        .await
        .map_err(|error| StorageIOError::write_vote(&error).into())
    }

    async fn read_vote(&mut self) -> std::result::Result<Option<Vote>, StorageError> {
        Ok(self.meta().vote)
    }
    // ANCHOR_END: vote

    // ANCHOR: append
    /// Appends `entries` and reports them flushed: `append_durably` synced
    /// them before it returned.
    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> std::result::Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        match self
            .blocking(move |store| store.append_durably(entries))
            .await
        {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(error) => {
                callback.log_io_completed(Err(std::io::Error::other(error.to_string())));
                Err(write_error(error))
            }
        }
    }
    // ANCHOR_END: append

    // ANCHOR: truncate
    // ANCHOR: truncate_end
    /// Removes the entries from `log_id` on (a follower whose end disagrees
    /// with the leader's). They were never committed.
    async fn truncate(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        let last = self
            .blocking(move |store| {
                let log = &store.shared.log;
                store.recent().truncate_from(log_id.index);
                if log_id.index <= log.lowest_offset() {
                    log.reset_to(log_id.index)?;
                } else {
                    log.truncate_after(log_id.index - 1)?;
                }
                match log.highest_offset() {
                    Some(offset) => Ok(Some(decode_entry(log, offset)?.log_id)),
                    None => Ok(store.meta().last_purged),
                }
            })
            .await
            .map_err(write_error)?;
        *self.last_log_id() = last;
        Ok(())
    }
    // ANCHOR_END: truncate_end

    // ANCHOR: purge
    /// Removes the entries up to `log_id` (a snapshot holds them now).
    /// `log_id` may be past the newest entry (a follower that installed a
    /// snapshot): then the log starts over right after it. The purge is
    /// recorded before anything is removed, so a crash in between leaves a
    /// log that [`LogStore::open`] finishes purging.
    async fn purge(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        let emptied = self
            .blocking(move |store| {
                let mut meta = *store.meta();
                meta.last_purged = Some(log_id);
                store.save_meta(meta)?;
                store.recent().purge_up_to(log_id.index);
                let log = &store.shared.log;
                if log_id.index + 1 >= log.next_offset() {
                    log.reset_to(log_id.index + 1)?;
                    return Ok(true);
                }
                log.truncate(log_id.index + 1)?;
                Ok(false)
            })
            .await
            .map_err(write_error)?;
        if emptied {
            *self.last_log_id() = Some(log_id);
        }
        Ok(())
    }
    // ANCHOR_END: purge
    // ANCHOR_END: truncate
}
