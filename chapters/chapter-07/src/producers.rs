//! Idempotent produce: which records each producer has appended, and where.
//!
//! A client that sends a record and loses the answer (the leader died, the
//! network broke) cannot know whether the record was appended. Sending it
//! again could append it twice. Kafka's idempotent producer solves this,
//! and so do we: a producer numbers its records (`producer_id`,
//! `sequence`), and the state machine remembers, per producer, the offsets
//! of its latest [`WINDOW`] sequences. A record whose (producer, sequence)
//! was appended before is not appended again: its answer is the offset it
//! got the first time.
//!
//! A streaming producer keeps thousands of records in flight (chapter 8),
//! and after a failover it resends all of them, so the window is large. It
//! is cheap all the same, because it is kept as *runs*: the records of one
//! batch are consecutive sequences at consecutive offsets, so a batch of a
//! thousand records is one run of three numbers:
//!
//! ```text
//!   producer 7:  sequences 1..=1000 at offsets 0..=999      one run (1, 0, 1000)
//!                sequences 1001..=1003 at offsets 1510..    one run (1001, 1510, 3)
//! ```
//!
//! Sequences may arrive out of order (two calls of one client racing): a
//! sequence never seen is appended, as long as it is not older than the
//! oldest one remembered, whose fate can no longer be told.
//!
//! The table is part of the replicated state: every server applies the same
//! entries in the same order, so every server's table is the same, and
//! snapshots carry it. So a retry that reaches a new leader after a
//! failover is recognized there too.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::types::{Outcome, Producer};

// ANCHOR: limits
/// How many of a producer's latest sequences are remembered: a retry of
/// anything older is answered [`Outcome::TooOld`].
pub const WINDOW: u64 = 65_536;

/// How many runs are remembered, for all producers together: past it, the
/// producer unheard from for longest is forgotten (its retries would be
/// appended again). About 32 bytes each: 32 MiB at most.
pub const MAX_RUNS: usize = 1 << 20;
// ANCHOR_END: limits

// ANCHOR: producers
/// Every producer's latest sequences and their offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Producers {
    by_id: BTreeMap<u64, Window>,
    /// How many runs all windows hold.
    runs: usize,
    /// Counts recorded sequences: when each producer was last heard from.
    clock: u64,
}

/// One producer's latest sequences, as runs in sequence order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Window {
    last_heard: u64,
    runs: VecDeque<Run>,
}

/// Sequences `first_sequence..first_sequence + len`, appended at offsets
/// `first_offset..first_offset + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Run {
    first_sequence: u64,
    first_offset: u64,
    len: u64,
}
// ANCHOR_END: producers

impl Run {
    fn end(&self) -> u64 {
        self.first_sequence + self.len
    }
}

impl Window {
    /// The newest sequence remembered.
    fn newest(&self) -> Option<u64> {
        self.runs.back().map(|run| run.end() - 1)
    }
}

impl Producers {
    // ANCHOR: check
    /// What to do with `producer`'s record: `None` if it is new (append
    /// it), or the outcome of a sequence already seen, or too old to tell.
    pub fn check(&self, producer: Producer) -> Option<Outcome> {
        let window = self.by_id.get(&producer.id)?;
        if producer.sequence > window.newest()? {
            return None;
        }
        // The last run that starts at or before the sequence.
        let after = window
            .runs
            .partition_point(|run| run.first_sequence <= producer.sequence);
        match after.checked_sub(1).map(|found| window.runs[found]) {
            Some(run) if producer.sequence < run.end() => Some(Outcome::Duplicate(
                run.first_offset + (producer.sequence - run.first_sequence),
            )),
            // In a gap between runs: never appended, so appended now.
            Some(_) => None,
            // Before the first run: its fate cannot be told.
            None => Some(Outcome::TooOld {
                oldest_remembered: window.runs.front().map_or(0, |run| run.first_sequence),
            }),
        }
    }
    // ANCHOR_END: check

    // ANCHOR: record
    /// Remembers that `producer`'s record (one [`check`](Self::check) found
    /// new) was appended at `offset`.
    pub fn record(&mut self, producer: Producer, offset: u64) {
        self.clock += 1;
        let window = self.by_id.entry(producer.id).or_default();
        window.last_heard = self.clock;
        let runs_before = window.runs.len();
        match window.runs.back_mut() {
            // The common case: the next sequence, at the next offset.
            Some(last)
                if producer.sequence == last.end() && offset == last.first_offset + last.len =>
            {
                last.len += 1;
            }
            _ => {
                let at = window
                    .runs
                    .partition_point(|run| run.first_sequence < producer.sequence);
                let run = Run {
                    first_sequence: producer.sequence,
                    first_offset: offset,
                    len: 1,
                };
                window.runs.insert(at, run);
            }
        }
        // Forget the runs that end before the window.
        let floor = window
            .newest()
            .map_or(0, |newest| (newest + 1).saturating_sub(WINDOW));
        while window.runs.front().is_some_and(|run| run.end() <= floor) {
            window.runs.pop_front();
        }
        self.runs = self.runs + window.runs.len() - runs_before;
        while self.runs > MAX_RUNS {
            self.forget_the_quietest();
        }
    }
    // ANCHOR_END: record

    /// How many producers are remembered.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no producer is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn forget_the_quietest(&mut self) {
        let quietest = self
            .by_id
            .iter()
            .min_by_key(|(_, window)| window.last_heard)
            .map(|(id, _)| *id);
        if let Some(window) = quietest.and_then(|id| self.by_id.remove(&id)) {
            self.runs -= window.runs.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producer(id: u64, sequence: u64) -> Producer {
        Producer { id, sequence }
    }

    // ANCHOR: test
    // ANCHOR: test_a
    // A new sequence is new; a repeated one gets the offset of its first
    // append, whatever came after it; one from before the window cannot be
    // told.
    #[test]
    fn repeats_get_their_first_offset() {
        let mut producers = Producers::default();
        assert_eq!(producers.check(producer(7, 1)), None);
        producers.record(producer(7, 1), 40);
        producers.record(producer(9, 1), 41);
        producers.record(producer(7, 2), 42);
        assert_eq!(
            producers.check(producer(7, 1)),
            Some(Outcome::Duplicate(40))
        );
        assert_eq!(
            producers.check(producer(7, 2)),
            Some(Outcome::Duplicate(42))
        );
        assert_eq!(producers.check(producer(7, 3)), None);
        assert_eq!(producers.check(producer(8, 1)), None, "another producer");
        for sequence in 3..(3 + WINDOW) {
            producers.record(producer(7, sequence), 100 + sequence);
        }
        assert_eq!(
            producers.check(producer(7, 2)),
            Some(Outcome::TooOld {
                oldest_remembered: 3
            })
        );
        assert_eq!(
            producers.check(producer(7, 3)),
            Some(Outcome::Duplicate(103))
        );
    }
    // ANCHOR_END: test_a

    // ANCHOR: test_b
    // A batch is one run, however long; an interleaving producer starts
    // new runs.
    #[test]
    fn consecutive_records_are_one_run() {
        let mut producers = Producers::default();
        for sequence in 1..=1000 {
            producers.record(producer(7, sequence), sequence - 1);
        }
        assert_eq!(producers.runs, 1);
        producers.record(producer(9, 1), 1000);
        producers.record(producer(7, 1001), 1001);
        assert_eq!(producers.runs, 3);
        assert_eq!(
            producers.check(producer(7, 500)),
            Some(Outcome::Duplicate(499))
        );
        assert_eq!(
            producers.check(producer(7, 1001)),
            Some(Outcome::Duplicate(1001))
        );
    }

    // Two calls of one client race: the later sequence lands first. The
    // earlier one is still new, and once appended, a duplicate.
    #[test]
    fn a_sequence_may_arrive_out_of_order() {
        let mut producers = Producers::default();
        producers.record(producer(7, 1), 0);
        producers.record(producer(7, 3), 1);
        assert_eq!(producers.check(producer(7, 2)), None);
        producers.record(producer(7, 2), 2);
        assert_eq!(producers.check(producer(7, 2)), Some(Outcome::Duplicate(2)));
        assert_eq!(producers.check(producer(7, 3)), Some(Outcome::Duplicate(1)));
    }

    // ANCHOR_END: test_b
    // ANCHOR_END: test

    // Past MAX_RUNS, the producer heard from longest ago is forgotten.
    #[test]
    fn the_quietest_producer_is_forgotten() {
        let mut producers = Producers::default();
        for id in 0..MAX_RUNS as u64 {
            producers.record(producer(id, 1), id);
        }
        producers.record(producer(0, 2), u64::MAX); // 0 speaks again: 1 is now the quietest
        producers.record(producer(u64::MAX, 1), 2);
        assert!(producers.runs <= MAX_RUNS);
        assert_eq!(producers.check(producer(1, 1)), None, "forgotten");
        assert_eq!(producers.check(producer(0, 1)), Some(Outcome::Duplicate(0)));
    }
}
