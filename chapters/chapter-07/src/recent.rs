//! The newest entries of the Raft log, kept decoded in memory.
//!
//! A leader reads every entry it appends at least three more times: once
//! to send it to each follower, once to apply it. Reading it back from
//! disk means a copy out of the file and a decode, each time. So the log
//! store keeps its newest entries (up to a budget of bytes) as they were
//! appended, and reads of them are clones, which share the records'
//! bytes. Older entries (a follower far behind, a restart) come from disk.
//!
//! The cache is always a contiguous run that ends at the log's end: what
//! removes entries from the log (truncating its end, purging its front,
//! starting over) removes them here too.

use std::collections::VecDeque;

use crate::types::Entry;

// ANCHOR: recent
/// How many bytes of entries are kept, by default.
pub const RECENT_BYTES: usize = 64 << 20;

/// The newest entries, oldest first, in index order without a gap.
#[derive(Debug)]
pub struct Recent {
    entries: VecDeque<Entry>,
    bytes: usize,
    budget: usize,
}
// ANCHOR_END: recent

/// About how much memory `entry` holds.
pub(crate) fn size_of(entry: &Entry) -> usize {
    const PER_RECORD: usize = 48;
    const PER_ENTRY: usize = 128;
    match &entry.payload {
        openraft::EntryPayload::Normal(append) => {
            PER_ENTRY
                + append
                    .records
                    .iter()
                    .map(|record| record.value.len() + PER_RECORD)
                    .sum::<usize>()
        }
        _ => PER_ENTRY,
    }
}

impl Recent {
    /// An empty cache that keeps up to `budget` bytes of entries.
    pub fn new(budget: usize) -> Recent {
        Recent {
            entries: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    /// The index of the oldest entry kept.
    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|entry| entry.log_id.index)
    }

    // ANCHOR: extend_get
    /// Keeps `appended`, just appended to the log, and forgets the oldest
    /// entries beyond the budget.
    pub fn extend(&mut self, appended: impl IntoIterator<Item = Entry>) {
        for entry in appended {
            if let Some(last) = self.entries.back()
                && last.log_id.index + 1 != entry.log_id.index
            {
                self.clear(); // not contiguous (cannot happen): start over
            }
            self.bytes += size_of(&entry);
            self.entries.push_back(entry);
        }
        while self.bytes > self.budget {
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= size_of(&oldest);
        }
    }

    /// The entry at `index`, if it is kept.
    pub fn get(&self, index: u64) -> Option<Entry> {
        let position = index.checked_sub(self.first_index()?)?;
        self.entries.get(usize::try_from(position).ok()?).cloned()
    }
    // ANCHOR_END: extend_get

    /// Forgets the entries from `index` on (the log's end was truncated).
    pub fn truncate_from(&mut self, index: u64) {
        while self
            .entries
            .back()
            .is_some_and(|entry| entry.log_id.index >= index)
        {
            if let Some(entry) = self.entries.pop_back() {
                self.bytes -= size_of(&entry);
            }
        }
    }

    /// Forgets the entries up to `index` (the log's front was purged).
    pub fn purge_up_to(&mut self, index: u64) {
        while self
            .entries
            .front()
            .is_some_and(|entry| entry.log_id.index <= index)
        {
            if let Some(entry) = self.entries.pop_front() {
                self.bytes -= size_of(&entry);
            }
        }
    }

    /// Forgets everything (the log started over).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::blank_ent;

    use super::*;
    use crate::types::TypeConfig;

    fn blanks(indexes: std::ops::Range<u64>) -> Vec<Entry> {
        indexes
            .map(|index| blank_ent::<TypeConfig>(1, 1, index))
            .collect()
    }

    // ANCHOR: test
    // The cache follows the log: truncation and purges remove the same
    // entries, and the budget keeps only the newest.
    #[test]
    fn follows_the_log_within_its_budget() {
        let mut recent = Recent::new(10 * 128);
        recent.extend(blanks(0..8));
        assert!(recent.get(7).is_some() && recent.get(8).is_none());
        recent.truncate_from(5);
        assert!(recent.get(4).is_some() && recent.get(5).is_none());
        recent.purge_up_to(1);
        assert!(recent.get(1).is_none() && recent.get(2).is_some());
        recent.extend(blanks(5..20));
        assert_eq!(recent.first_index(), Some(10), "only the newest ten fit");
        assert!(recent.get(19).is_some());
    }
    // ANCHOR_END: test
}
