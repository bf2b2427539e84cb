//! Group commit: appenders line up, and the one at the front writes for
//! everyone in line with one `write` per batch and one `fsync` for all.
//!
//! An `fsync` costs the same for one record as for a thousand, so a durable
//! log that syncs each append separately spends its life waiting for the
//! disk. Databases solve this with a *commit queue* (LevelDB's writer queue,
//! MySQL's binlog group commit): every appender puts its batch in the queue;
//! whoever finds no leader at work becomes the leader, takes every batch
//! waiting, writes and syncs them together, and hands each appender its
//! result. While it works, new appenders queue up behind it, and the next
//! leader takes them all at once:
//!
//! ```text
//!   time ─────────────────────────────────────────────────────────────▶
//!   A  ─▶ leads [A]: write, fsync ─▶ done
//!   B    ─▶ waits ──────────────────▶ leads [B C D]: write ×3, one fsync ─▶ done
//!   C       ─▶ waits ───────────────────────────────────────────────────▶ done
//!   D         ─▶ waits ─────────────────────────────────────────────────▶ done
//! ```
//!
//! The slower the disk, the larger the groups: throughput grows with the
//! number of appenders instead of being capped at one record per fsync.
//! Each appender encodes its own frames (and computes their checksums)
//! before it joins the line, so that work runs in parallel.

// ANCHOR: imports
use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
// ANCHOR_END: imports

// ANCHOR: types
/// The most bytes of frames one leader writes for a group: larger groups
/// would only make the first appender in line wait longer.
const MAX_GROUP_BYTES: usize = 16 << 20;

/// One appender's records, framed, waiting to be written.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The frames, back to back.
    pub(crate) frames: Vec<u8>,
    /// Each frame's length, in order.
    pub(crate) framed_lens: Vec<u64>,
}

/// The line of appenders.
#[derive(Debug, Default)]
pub(crate) struct CommitQueue {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Batches not yet taken by a leader, in arrival order.
    waiting: VecDeque<Waiting>,
    /// Whether a leader is writing a group now.
    leader_busy: bool,
    /// Results the leader has handed out but their appenders not yet taken.
    finished: HashMap<u64, Result<Range<u64>>>,
    next_ticket: u64,
}

#[derive(Debug)]
struct Waiting {
    ticket: u64,
    batch: Batch,
    /// Woken when this appender's result is ready, or when it is first in
    /// line and there is no leader.
    wake: Arc<Condvar>,
}
// ANCHOR_END: types

// ANCHOR: commit_alone
impl CommitQueue {
    // ANCHOR: commit
    /// Queues `batch` and returns its offsets once some leader, perhaps
    /// this thread, has written it with `write_group`. `write_group` gets
    /// the batches of a group in order, writes them all or none, and returns
    /// the offset of the group's first record.
    pub(crate) fn commit(
        &self,
        batch: Batch,
        write_group: impl Fn(&[Batch]) -> Result<u64>,
    ) -> Result<Range<u64>> {
        let mut state = self.lock();
        if !state.leader_busy && state.waiting.is_empty() {
            // Nobody in line: write at once, with no queueing at all.
            state.leader_busy = true;
            drop(state);
            let leader = Leadership {
                queue: self,
                group: Vec::new(),
                done: false,
            };
            let result = write_group(std::slice::from_ref(&batch));
            drop(leader.hand_out(Vec::new()));
            let records = batch.framed_lens.len() as u64;
            return result.map(|first| first..first + records);
        }
        // ANCHOR_END: commit_alone
        // ANCHOR: commit_wait
        let wake = Arc::new(Condvar::new());
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        let waiting = Waiting {
            ticket,
            batch,
            wake: Arc::clone(&wake),
        };
        state.waiting.push_back(waiting);
        loop {
            if let Some(result) = state.finished.remove(&ticket) {
                return result;
            }
            if state.leader_busy {
                state = wake
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            // ANCHOR_END: commit_wait
            // ANCHOR: commit_lead
            // No leader at work: lead. Take every batch in line (up to the
            // group limit) and write them without holding the queue's lock,
            // so that others can join the line meanwhile.
            state.leader_busy = true;
            let group = take_group(&mut state.waiting);
            drop(state);
            let mut leader = Leadership {
                queue: self,
                group,
                done: false,
            };
            let batches: Vec<Batch> = leader
                .group
                .iter_mut()
                .map(|waiting| std::mem::take(&mut waiting.batch))
                .collect();
            let results = match write_group(&batches) {
                Ok(first) => {
                    let mut next = first;
                    batches
                        .iter()
                        .map(|batch| {
                            let start = next;
                            next += batch.framed_lens.len() as u64;
                            Ok(start..next)
                        })
                        .collect()
                }
                Err(error) => batches.iter().map(|_| Err(error.duplicate())).collect(),
            };
            state = leader.hand_out(results);
        }
    }
    // ANCHOR_END: commit_lead
    // ANCHOR_END: commit

    // ANCHOR: take_group
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is only changed in whole steps under the lock: a
        // panicking holder cannot leave it half-changed.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The front of the line, up to [`MAX_GROUP_BYTES`] (always at least one).
fn take_group(waiting: &mut VecDeque<Waiting>) -> Vec<Waiting> {
    let mut bytes = 0;
    let mut count = 0;
    for entry in waiting.iter() {
        if count > 0 && bytes + entry.batch.frames.len() > MAX_GROUP_BYTES {
            break;
        }
        bytes += entry.batch.frames.len();
        count += 1;
    }
    waiting.drain(..count).collect()
}
// ANCHOR_END: take_group

// ANCHOR: leadership
/// A leader's duty: hand every appender of its group a result, and pass
/// the lead on. If `write_group` panics, dropping this still does both, so
/// no appender waits forever.
struct Leadership<'a> {
    queue: &'a CommitQueue,
    group: Vec<Waiting>,
    done: bool,
}

impl<'a> Leadership<'a> {
    fn hand_out(mut self, results: Vec<Result<Range<u64>>>) -> MutexGuard<'a, State> {
        self.done = true;
        let group = std::mem::take(&mut self.group);
        finish(self.queue.lock(), group, results.into_iter())
    }
}

impl Drop for Leadership<'_> {
    fn drop(&mut self) {
        if !self.done {
            let group = std::mem::take(&mut self.group);
            let failed = std::iter::repeat_with(|| {
                Err(Error::Poisoned {
                    cause: "a group commit panicked".into(),
                })
            });
            drop(finish(self.queue.lock(), group, failed));
        }
    }
}
// ANCHOR_END: leadership

// ANCHOR: finish
/// Gives each appender of `group` its result (an appender without one gets
/// an error, so that none waits forever), and wakes the first in line (if
/// any) to lead the next group.
fn finish(
    mut state: MutexGuard<'_, State>,
    group: Vec<Waiting>,
    mut results: impl Iterator<Item = Result<Range<u64>>>,
) -> MutexGuard<'_, State> {
    for waiting in group {
        let result = results.next().unwrap_or_else(|| {
            Err(Error::Poisoned {
                cause: "the group commit lost a result".into(),
            })
        });
        state.finished.insert(waiting.ticket, result);
        waiting.wake.notify_one();
    }
    state.leader_busy = false;
    if let Some(next) = state.waiting.front() {
        next.wake.notify_one();
    }
    state
}
// ANCHOR_END: finish

// ANCHOR: test_helpers
#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn batch(records: usize) -> Batch {
        Batch {
            frames: vec![0; records],
            framed_lens: vec![1; records],
        }
    }
    // ANCHOR_END: test_helpers

    // A lone appender leads its own group of one.
    #[test]
    fn a_lone_appender_writes_its_own_batch() {
        let queue = CommitQueue::default();
        let result = queue.commit(batch(3), |batches| {
            assert_eq!(batches.len(), 1);
            Ok(7)
        });
        assert_eq!(result.unwrap(), 7..10);
    }

    // ANCHOR: test_group
    // Appenders that arrive while a leader works are written together by
    // the next leader: fewer groups than appenders, and every appender gets
    // its own result.
    #[test]
    fn appenders_that_wait_are_written_as_one_group() {
        let queue = Arc::new(CommitQueue::default());
        let next = Arc::new(AtomicU64::new(0));
        let groups = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (queue, next, groups) =
                    (Arc::clone(&queue), Arc::clone(&next), Arc::clone(&groups));
                std::thread::spawn(move || {
                    queue
                        .commit(batch(1), |batches| {
                            groups.fetch_add(1, Ordering::Relaxed);
                            // A slow "fsync", so that others queue up.
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            Ok(next.fetch_add(batches.len() as u64, Ordering::Relaxed))
                        })
                        .unwrap()
                })
            })
            .collect();
        let mut offsets: Vec<u64> = threads
            .into_iter()
            .map(|thread| thread.join().unwrap().start)
            .collect();
        offsets.sort_unstable();
        assert_eq!(offsets, (0..16).collect::<Vec<_>>());
        let groups = groups.load(Ordering::Relaxed);
        assert!(groups < 16, "16 appenders took {groups} groups");
    }
    // ANCHOR_END: test_group

    // A leader that panics fails its group instead of leaving it waiting,
    // and the line moves on.
    #[test]
    fn a_panicking_leader_fails_its_group_and_the_line_moves_on() {
        let queue = CommitQueue::default();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            queue.commit(batch(1), |_| panic!("a bug in the writer"))
        }));
        assert!(panicked.is_err());
        assert_eq!(queue.commit(batch(1), |_| Ok(0)).unwrap(), 0..1);
    }
}
