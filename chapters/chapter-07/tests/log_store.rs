//! What openraft's suite does not check, because its stores live in
//! memory: that the Raft log and its vote survive a restart, that a
//! truncated suffix stays truncated, that a purge interrupted by a crash
//! is finished at the next start, and that a damaged meta file is an
//! error, never a silently forgotten vote.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use chapter_07::LogStore;
use chapter_07::types::{Entry, TypeConfig, Vote};
use openraft::storage::RaftLogStorage;
use openraft::testing::{blank_ent, log_id};
use openraft::{RaftLogReader, StorageError};

fn open(dir: &Path) -> LogStore {
    LogStore::open(dir, chapter_01::Config::default()).unwrap()
}

/// Entries `indexes`, of `term`, by node 1.
fn entries(term: u64, indexes: std::ops::Range<u64>) -> Vec<Entry> {
    indexes
        .map(|index| blank_ent::<TypeConfig>(term, 1, index))
        .collect()
}

async fn terms(store: &mut LogStore) -> Vec<(u64, u64)> {
    let read: Result<Vec<Entry>, StorageError<u64>> = store.try_get_log_entries(0..u64::MAX).await;
    read.unwrap()
        .iter()
        .map(|entry| (entry.log_id.index, entry.log_id.leader_id.term))
        .collect()
}

// ANCHOR: restart
#[tokio::test]
async fn entries_and_the_vote_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path());
        store.append_durably(entries(1, 0..5)).unwrap();
        store.save_vote(&Vote::new(2, 3)).await.unwrap();
    }
    let mut store = open(dir.path());
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(2, 3)));
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(1, 1, 4)));
    assert_eq!(
        terms(&mut store).await,
        (0..5).map(|index| (index, 1)).collect::<Vec<_>>()
    );
}
// ANCHOR_END: restart

// ANCHOR: conflict
// A follower's uncommitted suffix from term 1 is replaced by the new
// leader's entries of term 2, and stays replaced after a restart.
#[tokio::test]
async fn a_truncated_suffix_stays_truncated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path());
        store.append_durably(entries(1, 0..10)).unwrap();
        store.truncate(log_id(1, 1, 6)).await.unwrap();
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(log_id(1, 1, 5))
        );
        store.append_durably(entries(2, 6..8)).unwrap();
    }
    let mut store = open(dir.path());
    let expected: Vec<(u64, u64)> = (0..6)
        .map(|index| (index, 1))
        .chain([(6, 2), (7, 2)])
        .collect();
    assert_eq!(terms(&mut store).await, expected);
    let refused = store.append_durably(entries(2, 9..10)).unwrap_err();
    assert!(refused.to_string().contains("does not follow"), "{refused}");
}
// ANCHOR_END: conflict

// ANCHOR: purge
// A purge is recorded in the meta file first, then applied to the log. A
// crash in between leaves a meta file that says "purged up to 20" beside
// a log that ends at 9: the next start finishes the purge.
#[tokio::test]
async fn a_purge_interrupted_by_a_crash_is_finished_at_start() {
    let (dir, purged_elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    open(dir.path()).append_durably(entries(1, 0..10)).unwrap();
    {
        let mut other = open(purged_elsewhere.path());
        other.purge(log_id(1, 1, 20)).await.unwrap();
    }
    std::fs::copy(
        purged_elsewhere.path().join("raft-meta"),
        dir.path().join("raft-meta"),
    )
    .unwrap();

    let mut store = open(dir.path());
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 1, 20)));
    assert_eq!(state.last_log_id, Some(log_id(1, 1, 20)));
    assert!(terms(&mut store).await.is_empty());
    assert_eq!(store.log().next_offset(), 21);
    store.append_durably(entries(1, 21..23)).unwrap();
    assert_eq!(terms(&mut store).await, vec![(21, 1), (22, 1)]);
}
// ANCHOR_END: purge

// ANCHOR: damaged_meta
#[tokio::test]
async fn a_damaged_meta_file_is_an_error_not_a_forgotten_vote() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path()).save_vote(&Vote::new(5, 1)).await.unwrap();
    let meta = dir.path().join("raft-meta");
    let mut bytes = std::fs::read(&meta).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&meta, &bytes).unwrap();

    let error = LogStore::open(dir.path(), chapter_01::Config::default()).unwrap_err();
    assert!(error.to_string().contains("raft-meta"), "{error}");
}
// ANCHOR_END: damaged_meta
