//! Idempotent produce: which records each producer has appended, and where.
//!
//! A client that sends a record and loses the answer (the leader died, the
//! network broke) cannot know whether the record was appended. Sending it
//! again could append it twice. Kafka's idempotent producer solves this,
//! and so do we: a producer numbers its records (`producer_id`,
//! `sequence`), and the state machine remembers, per producer, the offsets
//! of its last [`WINDOW`] sequences. A record whose (producer, sequence)
//! was appended before is not appended again: its answer is the offset it
//! got the first time.
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
pub const WINDOW: usize = 1024;

/// How many producers are remembered: past it, the one unheard from for
/// longest is forgotten (so a server that meets a new producer every run
/// does not grow without end).
pub const MAX_PRODUCERS: usize = 10_000;
// ANCHOR_END: limits

// ANCHOR: producers
/// Every producer's latest sequences and their offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Producers {
    by_id: BTreeMap<u64, Window>,
    /// Counts recorded sequences: when each producer was last heard from.
    clock: u64,
}

/// One producer's latest (sequence, offset) pairs, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Window {
    last_heard: u64,
    sequences: VecDeque<(u64, u64)>,
}
// ANCHOR_END: producers

impl Producers {
    // ANCHOR: check
    /// What to do with `producer`'s record: `None` if it is new (append
    /// it), or the outcome of a sequence already seen.
    pub fn check(&self, producer: Producer) -> Option<Outcome> {
        let window = self.by_id.get(&producer.id)?;
        let &(newest, _) = window.sequences.back()?;
        if producer.sequence > newest {
            return None;
        }
        match window
            .sequences
            .binary_search_by_key(&producer.sequence, |&(sequence, _)| sequence)
        {
            Ok(found) => Some(Outcome::Duplicate(window.sequences[found].1)),
            // Older than the window, or a number never used: either way its
            // fate cannot be told, and appending it now would reorder.
            Err(_) => Some(Outcome::TooOld {
                oldest_remembered: window
                    .sequences
                    .front()
                    .map_or(newest, |&(oldest, _)| oldest),
            }),
        }
    }

    /// Remembers that `producer`'s record was appended at `offset`.
    pub fn record(&mut self, producer: Producer, offset: u64) {
        self.clock += 1;
        if !self.by_id.contains_key(&producer.id) && self.by_id.len() >= MAX_PRODUCERS {
            self.forget_the_quietest();
        }
        let window = self.by_id.entry(producer.id).or_default();
        window.last_heard = self.clock;
        window.sequences.push_back((producer.sequence, offset));
        if window.sequences.len() > WINDOW {
            window.sequences.pop_front();
        }
    }
    // ANCHOR_END: check

    /// How many producers are remembered.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no producer is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn forget_the_quietest(&mut self) {
        if let Some(quietest) = self
            .by_id
            .iter()
            .min_by_key(|(_, window)| window.last_heard)
            .map(|(id, _)| *id)
        {
            self.by_id.remove(&quietest);
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
    // A new sequence is new; a repeated one gets the offset of its first
    // append, whatever came after it; one from before the window cannot be told.
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
        for sequence in 3..(3 + WINDOW as u64) {
            producers.record(producer(7, sequence), 100 + sequence);
        }
        assert_eq!(
            producers.check(producer(7, 2)),
            Some(Outcome::TooOld {
                oldest_remembered: 3
            })
        );
    }
    // ANCHOR_END: test

    // Past MAX_PRODUCERS, the producer heard from longest ago is forgotten.
    #[test]
    fn the_quietest_producer_is_forgotten() {
        let mut producers = Producers::default();
        for id in 0..MAX_PRODUCERS as u64 {
            producers.record(producer(id, 1), id);
        }
        producers.record(producer(0, 2), 1); // 0 speaks again: 1 is now the quietest
        producers.record(producer(u64::MAX, 1), 2);
        assert_eq!(producers.len(), MAX_PRODUCERS);
        assert_eq!(producers.check(producer(1, 1)), None, "forgotten");
        assert_eq!(producers.check(producer(0, 1)), Some(Outcome::Duplicate(0)));
    }
}
