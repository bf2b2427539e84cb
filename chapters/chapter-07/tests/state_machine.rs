//! The state machine on its own: committed entries become dense records,
//! a resent (producer, sequence) gets its first offset back, a restart
//! keeps what the last snapshot saved (openraft applies the rest again),
//! and a snapshot installed on a fresh server gives it the same records
//! and the same producers table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chapter_07::StateMachine;
use chapter_07::types::{Append, Applied, Entry, Outcome, Producer, Record, TypeConfig};
use openraft::storage::RaftStateMachine;
use openraft::testing::{blank_ent, log_id};
use openraft::{EntryPayload, RaftSnapshotBuilder};

fn open(dir: &std::path::Path) -> StateMachine {
    StateMachine::open(dir, chapter_01::Config::default()).unwrap()
}

/// Entry `index` of term 1, appending `records`: (value, producer id, sequence).
fn append(index: u64, records: &[(&str, u64, u64)]) -> Entry {
    let records = records
        .iter()
        .map(|&(value, id, sequence)| Record {
            value: value.as_bytes().to_vec().into(),
            producer: (id != 0).then_some(Producer { id, sequence }),
        })
        .collect();
    Entry {
        log_id: log_id(1, 1, index),
        payload: EntryPayload::Normal(Append { records }),
    }
}

fn records(machine: &StateMachine) -> Vec<String> {
    let log = machine.log();
    (log.log().lowest_offset()..log.log().next_offset())
        .map(|offset| String::from_utf8(log.log().read(offset).unwrap()).unwrap())
        .collect()
}

// ANCHOR: apply
#[tokio::test]
async fn committed_entries_become_dense_records_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let mut machine = open(dir.path());
    let answers = machine
        .apply([
            blank_ent::<TypeConfig>(1, 1, 0),
            append(1, &[("a", 7, 1), ("b", 0, 0)]),
            append(2, &[("a", 7, 1), ("c", 7, 2)]),
        ])
        .await
        .unwrap();
    assert_eq!(
        answers,
        vec![
            Applied::Nothing,
            Applied::Records(vec![Outcome::Appended(0), Outcome::Appended(1)]),
            Applied::Records(vec![Outcome::Duplicate(0), Outcome::Appended(2)]),
        ]
    );
    assert_eq!(records(&machine), ["a", "b", "c"]);
    assert_eq!(machine.last_applied().await, Some(log_id(1, 1, 2)));
}
// ANCHOR_END: apply

// ANCHOR: restart
// What a snapshot saved survives; what came after is cut off, to be
// applied again from the Raft log, to the same offsets.
#[tokio::test]
async fn a_restart_keeps_what_the_last_snapshot_saved() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut machine = open(dir.path());
        machine.apply([append(1, &[("a", 7, 1)])]).await.unwrap();
        machine.build_snapshot().await.unwrap();
        machine.apply([append(2, &[("b", 7, 2)])]).await.unwrap();
    }
    let mut machine = open(dir.path());
    assert_eq!(records(&machine), ["a"]);
    assert_eq!(machine.last_applied().await, Some(log_id(1, 1, 1)));
    let again = machine.apply([append(2, &[("b", 7, 2)])]).await.unwrap();
    assert_eq!(again, vec![Applied::Records(vec![Outcome::Appended(1)])]);
    assert_eq!(records(&machine), ["a", "b"]);
}
// ANCHOR_END: restart

// ANCHOR: install
// ANCHOR: install_a
#[tokio::test]
async fn a_snapshot_gives_a_fresh_server_the_records_and_the_producers() {
    let (leader_dir, fresh_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut leader = open(leader_dir.path());
    leader
        .apply([
            append(1, &[("a", 7, 1), ("b", 8, 1)]),
            append(2, &[("c", 7, 2)]),
        ])
        .await
        .unwrap();
    leader.build_snapshot().await.unwrap();
    let snapshot = leader
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("a snapshot");

    let mut fresh = open(fresh_dir.path());
    let mut received = fresh.begin_receiving_snapshot().await.unwrap();
    let mut sent = snapshot.snapshot;
    tokio::io::copy(&mut sent, &mut received).await.unwrap();
    fresh
        .install_snapshot(&snapshot.meta, received)
        .await
        .unwrap();
    // ANCHOR_END: install_a

    // ANCHOR: install_b
    assert_eq!(records(&fresh), ["a", "b", "c"]);
    assert_eq!(fresh.last_applied().await, Some(log_id(1, 1, 2)));
    // The producers table came along: a resend is still a duplicate.
    let resent = fresh
        .apply([append(3, &[("b", 8, 1), ("d", 8, 2)])])
        .await
        .unwrap();
    assert_eq!(
        resent,
        vec![Applied::Records(vec![
            Outcome::Duplicate(1),
            Outcome::Appended(3)
        ])]
    );
    // And it survives a restart of the fresh server.
    drop(fresh);
    assert_eq!(records(&open(fresh_dir.path())), ["a", "b", "c"]);
}
// ANCHOR_END: install_b
// ANCHOR_END: install
