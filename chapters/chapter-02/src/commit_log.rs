//! The log as the service sees it: a trait, so the service depends on what a
//! log does and not on which log it is (dependency inversion, as the Go book
//! teaches with an interface). Tests wrap the real log to count its calls.
//!
//! Following the log (`ConsumeStream` at the end of the log) needs to *wait*
//! for the next append. [`FollowableLog`] adds that to any [`CommitLog`]:
//! every append through it publishes the new next offset on a
//! `tokio::sync::watch` channel, and a follower sleeps on the channel until
//! the offset it wants exists. Nobody polls, nobody spins.

use std::ops::Range;
use std::sync::Arc;

use tokio::sync::watch;

use crate::error::Result;

// ANCHOR: trait
/// What the service needs from a commit log. Every method is synchronous and
/// may block on disk I/O; the service never runs an append that may `fsync`
/// on an async worker thread (see [`CommitLog::appends_wait_for_disk`]).
pub trait CommitLog: Send + Sync + 'static {
    /// Appends `values` in order and returns their offsets.
    fn append_batch(&self, values: &[&[u8]]) -> Result<Range<u64>>;
    /// Reads the value at `offset`.
    fn read(&self, offset: u64) -> Result<Vec<u8>>;
    /// The lowest offset still in the log.
    fn lowest_offset(&self) -> u64;
    /// The offset the next append will get.
    fn next_offset(&self) -> u64;
    /// Forces everything appended to disk.
    fn sync(&self) -> Result<()>;
    /// Whether an append may wait for the disk (an fsync), and so must not
    /// run on an async worker thread. When in doubt: `true`.
    fn appends_wait_for_disk(&self) -> bool {
        true
    }
    /// The largest value one record can hold (the service's own limit must
    /// not be larger).
    fn max_value_len(&self) -> u64 {
        u64::MAX
    }
}
// ANCHOR_END: trait

// ANCHOR: log_impl
impl CommitLog for chapter_01::Log {
    fn append_batch(&self, values: &[&[u8]]) -> Result<Range<u64>> {
        Ok(chapter_01::Log::append_batch(self, values)?)
    }
    fn read(&self, offset: u64) -> Result<Vec<u8>> {
        Ok(chapter_01::Log::read(self, offset)?)
    }
    fn lowest_offset(&self) -> u64 {
        chapter_01::Log::lowest_offset(self)
    }
    fn next_offset(&self) -> u64 {
        chapter_01::Log::next_offset(self)
    }
    fn sync(&self) -> Result<()> {
        Ok(chapter_01::Log::sync(self)?)
    }
    fn appends_wait_for_disk(&self) -> bool {
        // Under `Os` an append is a write(2) to the page cache:
        // microseconds. (Full segments are sealed in the background.)
        self.config().sync != chapter_01::SyncPolicy::Os
    }
    fn max_value_len(&self) -> u64 {
        self.config().max_store_bytes - chapter_01::FRAME_OVERHEAD
    }
}
// ANCHOR_END: log_impl

impl<L: CommitLog> CommitLog for Arc<L> {
    fn append_batch(&self, values: &[&[u8]]) -> Result<Range<u64>> {
        (**self).append_batch(values)
    }
    fn read(&self, offset: u64) -> Result<Vec<u8>> {
        (**self).read(offset)
    }
    fn lowest_offset(&self) -> u64 {
        (**self).lowest_offset()
    }
    fn next_offset(&self) -> u64 {
        (**self).next_offset()
    }
    fn sync(&self) -> Result<()> {
        (**self).sync()
    }
    fn appends_wait_for_disk(&self) -> bool {
        (**self).appends_wait_for_disk()
    }
    fn max_value_len(&self) -> u64 {
        (**self).max_value_len()
    }
}

// ANCHOR: followable
/// A [`CommitLog`] whose appends wake the tasks waiting for them.
#[derive(Debug)]
pub struct FollowableLog<L> {
    log: L,
    /// The log's next offset, republished after every append.
    next_offset: watch::Sender<u64>,
}

impl<L: CommitLog> FollowableLog<L> {
    /// Wraps `log`. Appends must go through the wrapper to wake followers.
    pub fn new(log: L) -> Self {
        let (next_offset, _) = watch::channel(log.next_offset());
        FollowableLog { log, next_offset }
    }

    /// The wrapped log.
    pub fn log(&self) -> &L {
        &self.log
    }
    // ANCHOR_END: followable

    // ANCHOR: followable_append
    /// Appends `values` and wakes every follower waiting for them.
    ///
    /// # Errors
    /// Whatever the log's append fails with.
    pub fn append_batch(&self, values: &[&[u8]]) -> Result<Range<u64>> {
        let offsets = self.log.append_batch(values);
        // Publish even after an error: part of a batch may have been
        // appended. Two appenders can finish in one order and publish in the
        // other, so only ever move the published offset forward: a stale,
        // smaller value would put a follower to sleep past a record that
        // exists.
        self.next_offset.send_if_modified(|published| {
            let next = self.log.next_offset();
            let advanced = next > *published;
            if advanced {
                *published = next;
            }
            advanced
        });
        offsets
    }
    // ANCHOR_END: followable_append

    // ANCHOR: wait_for
    /// Waits until the record at `offset` exists, and returns the log's next
    /// offset (greater than `offset`). Returns at once if it already exists.
    pub async fn wait_for(&self, offset: u64) -> u64 {
        let mut next_offset = self.next_offset.subscribe();
        // `wait_for` checks the current value first, then sleeps until a
        // send changes it: an append between our check and our sleep is not
        // missed. The sender lives in `self`, so the channel cannot close.
        match next_offset.wait_for(|next| *next > offset).await {
            Ok(next) => *next,
            Err(_) => self.log.next_offset(),
        }
    }
}
// ANCHOR_END: wait_for
