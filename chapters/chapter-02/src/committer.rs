//! Group commit for the service: one thread appends for every call at once.
//!
//! Under a sync policy that waits for the disk, an append costs an fsync,
//! and an fsync costs the same for one record as for a thousand. Chapter 1's
//! log already lets appending *threads* share one (its commit queue); but a
//! thread per waiting call is expensive here: every unary `Produce` would
//! take a blocking thread, park it on a lock, and wake it again. So the
//! service funnels its appends into one thread of its own, the committer,
//! through a channel. The committer takes every append waiting, makes one
//! `append_batch` of them all, and answers each caller with its own
//! offsets. While that append (and its fsync) runs, new
//! appends wait in the channel, and become the next group:
//!
//! ```text
//!   Produce ─┐                          ┌─▶ offsets 7..8
//!   Produce ─┼─▶ channel ─▶ committer ──┼─▶ offsets 8..9     one append_batch,
//!   Stream  ─┘      (waiting: the next  └─▶ offsets 9..40    one fsync
//!                    group)
//! ```
//!
//! It is the database's leader/follower commit with a leader that never
//! steps down, fed by async callers that wait without holding a thread.

use std::ops::Range;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::commit_log::{CommitLog, FollowableLog};
use crate::error::{Error, Result};

// ANCHOR: committer_types
/// The most values one group appends (the next waiting call starts the next).
const MAX_GROUP_VALUES: usize = 4096;
/// The most value bytes one group appends.
const MAX_GROUP_BYTES: usize = 16 << 20;
/// How many appends may wait for the committer (past that, callers wait).
const QUEUE: usize = 1024;

/// One caller's append, waiting for the committer.
struct Waiting {
    values: Vec<Vec<u8>>,
    offsets: oneshot::Sender<Result<Range<u64>>>,
}

/// The handle callers append through. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    waiting: mpsc::Sender<Waiting>,
}
// ANCHOR_END: committer_types

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiting")
            .field("values", &self.values.len())
            .finish_non_exhaustive()
    }
}

// ANCHOR: start
impl Committer {
    /// Starts the committer for `log`: a thread of its own, since all it
    /// does is wait for the disk. It ends when every handle is gone.
    pub(crate) fn start<L: CommitLog>(log: Arc<FollowableLog<L>>) -> Result<Committer> {
        let (waiting, queue) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("proglog-committer".into())
            .spawn(move || commit_groups(&log, queue))
            .map_err(|error| {
                Error::InvalidConfig(format!("cannot start the committer thread: {error}"))
            })?;
        Ok(Committer { waiting })
    }

    // ANCHOR_END: start
    // ANCHOR: append
    /// Appends `values` in the next group, and returns their offsets.
    pub(crate) async fn append(&self, values: Vec<Vec<u8>>) -> Result<Range<u64>> {
        let (offsets, answer) = oneshot::channel();
        let waiting = Waiting { values, offsets };
        if self.waiting.send(waiting).await.is_err() {
            return Err(Error::ShuttingDown);
        }
        answer.await.unwrap_or(Err(Error::ShuttingDown))
    }
    // ANCHOR_END: append
}

// ANCHOR: commit_groups
// ANCHOR: commit_loop
/// The committer: waits for an append, takes every other one already
/// waiting (up to the group limits), appends them as one batch, and
/// answers each.
fn commit_groups<L: CommitLog>(log: &FollowableLog<L>, mut queue: mpsc::Receiver<Waiting>) {
    while let Some(first) = queue.blocking_recv() {
        let mut values = first.values.len();
        let mut bytes: usize = first.values.iter().map(Vec::len).sum();
        let mut group = vec![first];
        while values < MAX_GROUP_VALUES && bytes < MAX_GROUP_BYTES {
            let Ok(next) = queue.try_recv() else { break };
            values += next.values.len();
            bytes += next.values.iter().map(Vec::len).sum::<usize>();
            group.push(next);
        }
        write_group(log, group);
    }
}
// ANCHOR_END: commit_loop

// ANCHOR: write_group
/// Appends a group and answers each caller. A failed group is appended again
/// one caller at a time, so each gets the outcome of its own records.
fn write_group<L: CommitLog>(log: &FollowableLog<L>, group: Vec<Waiting>) {
    let together: Vec<&[u8]> = group
        .iter()
        .flat_map(|waiting| waiting.values.iter().map(Vec::as_slice))
        .collect();
    match log.append_batch(&together) {
        Ok(offsets) => {
            let mut next = offsets.start;
            for waiting in group {
                let start = next;
                next += waiting.values.len() as u64;
                let _ = waiting.offsets.send(Ok(start..next));
            }
        }
        Err(_) if group.len() > 1 => {
            for waiting in group {
                let values: Vec<&[u8]> = waiting.values.iter().map(Vec::as_slice).collect();
                let _ = waiting.offsets.send(log.append_batch(&values));
            }
        }
        Err(error) => {
            if let Some(waiting) = group.into_iter().next() {
                let _ = waiting.offsets.send(Err(error));
            }
        }
    }
}
// ANCHOR_END: write_group
// ANCHOR_END: commit_groups
