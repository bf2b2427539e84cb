//! A cluster of real servers: three (or more) processes of this test
//! executable, each a node on its own ports of 127.0.0.1 with its own data
//! directory, talking Raft to each other over mutual TLS. What a client of
//! the cluster must be able to count on:
//!
//! - every server holds the same records at the same offsets;
//! - a follower refuses a produce and names the leader, and nothing was
//!   appended;
//! - a record resent with the same producer id and sequence is appended
//!   once;
//! - kill -9 of the leader loses no acknowledged record, and the old leader
//!   comes back into line;
//! - a server that joins late, after the Raft log was purged, catches up
//!   from a snapshot;
//! - a server that leaves gracefully is removed from the voters.
//!
//! `harness = false` (Cargo.toml): [`run_tests`] is the `main`, so that the
//! executable can also run as a node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chapter_02::api::v1::{ConsumeRequest, ProduceRequest, Record};
use chapter_07::process_tests;
use chapter_07::producers::WINDOW;
use chapter_07::status::{NOT_LEADER, SEQUENCE_TOO_OLD, leader_in, reason_of};
use chapter_07::testing::{
    NodeProcess, TestCluster, lazy_client_of, record_at, records_of, run_tests, wait_for_records,
};
use tokio::sync::Mutex;
use tonic::Code;

// ANCHOR: main
fn main() {
    run_tests(process_tests![
        every_server_holds_the_same_records_at_the_same_offsets,
        a_follower_refuses_a_produce_and_names_the_leader,
        a_resent_producer_sequence_is_appended_once,
        kill_9_of_the_leader_loses_no_acknowledged_record,
        a_server_joining_after_a_purge_catches_up_from_a_snapshot,
        a_server_that_leaves_is_removed_from_the_voters,
    ]);
}
// ANCHOR_END: main

const SETTLE: Duration = Duration::from_secs(30);

fn produce(value: impl Into<Vec<u8>>) -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value: value.into(),
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

fn produce_as(producer_id: u64, sequence: u64, value: impl Into<Vec<u8>>) -> ProduceRequest {
    ProduceRequest {
        producer_id,
        sequence,
        ..produce(value)
    }
}

/// Produces `requests` through one `ProduceStream` to `node`: their offsets.
async fn produce_stream(node: &NodeProcess, requests: Vec<ProduceRequest>) -> Vec<u64> {
    let mut client = node.client().await;
    let mut responses = client
        .produce_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut offsets = Vec::new();
    while let Some(response) = responses.message().await.unwrap() {
        offsets.push(response.offset);
    }
    offsets
}

// ANCHOR: identical
async fn every_server_holds_the_same_records_at_the_same_offsets() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = &cluster.nodes[cluster.leader(SETTLE).await];
    let mut client = leader.client().await;
    let mut expected = Vec::new();
    for i in 0..100u64 {
        let value = format!("unary-{i}");
        let offset = client
            .produce(produce(value.clone()))
            .await
            .unwrap()
            .into_inner()
            .offset;
        assert_eq!(
            offset, i,
            "offsets are dense: Raft's own entries are not records"
        );
        expected.push(value.into_bytes());
    }
    let streamed: Vec<Vec<u8>> = (0..400)
        .map(|i| format!("stream-{i}").into_bytes())
        .collect();
    let offsets = produce_stream(leader, streamed.iter().cloned().map(produce).collect()).await;
    assert_eq!(offsets, (100..500).collect::<Vec<u64>>());
    expected.extend(streamed);

    for node in &cluster.nodes {
        let records = wait_for_records(node, expected.len(), SETTLE).await;
        assert_eq!(records, expected, "node {} differs", node.spec.id);
    }
}
// ANCHOR_END: identical

// ANCHOR: not_leader
// ANCHOR: not_leader_a
async fn a_follower_refuses_a_produce_and_names_the_leader() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = &cluster.nodes[cluster.leader(SETTLE).await];
    let follower = cluster
        .running()
        .find(|node| node.spec.id != leader.spec.id)
        .unwrap();

    let refused = follower
        .client()
        .await
        .produce(produce("to a follower"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(reason_of(&refused).as_deref(), Some(NOT_LEADER));
    assert_eq!(
        leader_in(&refused),
        Some((leader.spec.id, leader.spec.rpc_addr.to_string()))
    );
    let refused = follower
        .client()
        .await
        .produce_stream(tokio_stream::iter(vec![produce("streamed to a follower")]))
        .await
        .unwrap_err();
    assert_eq!(
        reason_of(&refused).as_deref(),
        Some(NOT_LEADER),
        "{refused:?}"
    );
    // ANCHOR_END: not_leader_a

    // ANCHOR: not_leader_b
    // Nothing was appended: the leader's first record gets offset 0, and a
    // follower serves it (follower reads).
    let mut client = leader.client().await;
    assert_eq!(
        client
            .produce(produce("to the leader"))
            .await
            .unwrap()
            .into_inner()
            .offset,
        0
    );
    let records = wait_for_records(follower, 1, SETTLE).await;
    assert_eq!(records, vec![b"to the leader".to_vec()]);
}
// ANCHOR_END: not_leader_b
// ANCHOR_END: not_leader

// ANCHOR: idempotent
// ANCHOR: idempotent_a
async fn a_resent_producer_sequence_is_appended_once() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = &cluster.nodes[cluster.leader(SETTLE).await];
    let mut client = leader.client().await;
    let offset = |response: tonic::Response<chapter_02::api::v1::ProduceResponse>| {
        response.into_inner().offset
    };

    assert_eq!(
        offset(client.produce(produce_as(7, 1, "first")).await.unwrap()),
        0
    );
    assert_eq!(
        offset(client.produce(produce("anonymous")).await.unwrap()),
        1
    );
    assert_eq!(
        offset(client.produce(produce_as(7, 1, "first")).await.unwrap()),
        0,
        "a resend"
    );
    assert_eq!(
        offset(
            client
                .produce(produce_as(8, 1, "other producer"))
                .await
                .unwrap()
        ),
        2
    );
    // ANCHOR_END: idempotent_a
    // ANCHOR: idempotent_b
    // A resend inside one stream, and of a record of an earlier call.
    let offsets = produce_stream(
        leader,
        vec![
            produce_as(7, 2, "second"),
            produce_as(7, 2, "second"),
            produce_as(7, 1, "first"),
        ],
    )
    .await;
    assert_eq!(offsets, vec![3, 3, 0]);

    // A producer's window is WINDOW sequences: older ones are refused, not
    // appended again.
    let more = WINDOW - 1;
    let window: Vec<ProduceRequest> = (3..3 + more)
        .map(|sequence| produce_as(7, sequence, "more"))
        .collect();
    assert_eq!(produce_stream(leader, window).await.len() as u64, more);
    let too_old = client.produce(produce_as(7, 1, "first")).await.unwrap_err();
    assert_eq!(too_old.code(), Code::FailedPrecondition, "{too_old:?}");
    assert_eq!(reason_of(&too_old).as_deref(), Some(SEQUENCE_TOO_OLD));
    assert_eq!(
        offset(client.produce(produce_as(7, 2, "second")).await.unwrap()),
        3,
        "in the window"
    );
    // ANCHOR_END: idempotent_b

    // ANCHOR: idempotent_c
    let last = 3 + more;
    for node in &cluster.nodes {
        assert_eq!(record_at(node, last, SETTLE).await, b"more");
        let past_the_end = node
            .client()
            .await
            .consume(ConsumeRequest { offset: last + 1 })
            .await;
        assert_eq!(
            past_the_end.unwrap_err().code(),
            Code::OutOfRange,
            "node {}",
            node.spec.id
        );
        for (offset, value) in [&b"first"[..], b"anonymous", b"other producer", b"second"]
            .into_iter()
            .enumerate()
        {
            assert_eq!(record_at(node, offset as u64, SETTLE).await, value);
        }
    }
}
// ANCHOR_END: idempotent_c
// ANCHOR_END: idempotent

// ANCHOR: steady_producer
/// What a steady producer has had acknowledged: (sequence, offset).
type Acknowledged = Arc<Mutex<Vec<(u64, u64)>>>;

/// Produces `record-<sequence>` as producer 42, one after the other, until
/// `stop`: sends each to the server it believes leads, follows NOT_LEADER,
/// and resends with the same sequence after any other error, to whichever
/// server leads then.
async fn steady_producer(
    addrs: Vec<std::net::SocketAddr>,
    acknowledged: Acknowledged,
    stop: Arc<AtomicBool>,
) {
    let mut target = 0;
    let mut clients: Vec<_> = addrs
        .iter()
        .map(|addr| lazy_client_of(*addr, "root"))
        .collect();
    let mut sequence = 1;
    while !stop.load(Ordering::Relaxed) {
        let request = produce_as(42, sequence, format!("record-{sequence}"));
        match tokio::time::timeout(Duration::from_secs(6), clients[target].produce(request)).await {
            Ok(Ok(response)) => {
                acknowledged
                    .lock()
                    .await
                    .push((sequence, response.into_inner().offset));
                sequence += 1;
            }
            Ok(Err(status)) if reason_of(&status).as_deref() == Some(NOT_LEADER) => {
                let leader: std::net::SocketAddr = leader_in(&status).unwrap().1.parse().unwrap();
                target = addrs.iter().position(|addr| *addr == leader).unwrap();
            }
            _ => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                target = (target + 1) % addrs.len();
            }
        }
    }
}
// ANCHOR_END: steady_producer

// ANCHOR: kill_leader
// ANCHOR: kill_a
async fn kill_9_of_the_leader_loses_no_acknowledged_record() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let old_leader = cluster.leader(SETTLE).await;
    let acknowledged: Acknowledged = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let addrs = cluster
        .nodes
        .iter()
        .map(|node| node.spec.rpc_addr)
        .collect();
    let producer = tokio::spawn(steady_producer(
        addrs,
        Arc::clone(&acknowledged),
        Arc::clone(&stop),
    ));
    let acknowledged_count = || async { acknowledged.lock().await.len() };
    let wait_for = |count: usize| async move {
        let deadline = Instant::now() + SETTLE;
        while acknowledged_count().await < count {
            assert!(
                Instant::now() < deadline,
                "only {} records acknowledged",
                acknowledged_count().await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    wait_for(200).await;

    // ANCHOR_END: kill_a
    // ANCHOR: kill_b
    cluster.nodes[old_leader].kill();
    let before_kill = acknowledged_count().await;
    wait_for(before_kill + 200).await;
    stop.store(true, Ordering::Relaxed);
    producer.await.unwrap();
    let new_leader = cluster.leader(SETTLE).await;
    assert_ne!(new_leader, old_leader);
    // A failed server is not removed: it may come back.
    let servers = cluster
        .wait_for_servers(SETTLE, |servers| servers.iter().any(|s| s.is_leader))
        .await;
    assert_eq!(servers.len(), 3, "{servers:?}");

    // Every acknowledged record, once, at the offset acknowledged, on every
    // surviving server.
    let acknowledged = acknowledged.lock().await.clone();
    let last = acknowledged.last().unwrap().1 as usize;
    for node in cluster.running() {
        let records = wait_for_records(node, last + 1, SETTLE).await;
        for &(sequence, offset) in &acknowledged {
            assert_eq!(
                records[offset as usize],
                format!("record-{sequence}").into_bytes()
            );
        }
        let distinct: HashSet<&Vec<u8>> = records.iter().collect();
        assert_eq!(
            distinct.len(),
            records.len(),
            "a record appended twice on node {}",
            node.spec.id
        );
    }

    // ANCHOR_END: kill_b
    // ANCHOR: kill_c
    // The old leader comes back and converges (openraft truncates whatever
    // it had appended and nobody committed).
    cluster.nodes[old_leader].restart();
    let survivor = cluster
        .nodes
        .iter()
        .find(|node| node.spec.id != cluster.nodes[old_leader].spec.id)
        .unwrap();
    let expected = records_of(survivor).await;
    let records = wait_for_records(&cluster.nodes[old_leader], expected.len(), SETTLE).await;
    assert_eq!(records, expected);
}
// ANCHOR_END: kill_c
// ANCHOR_END: kill_leader

/// The offset of the first segment of the log in `dir` (its lowest file
/// name): above 0 once a purge removed the first segment.
fn first_segment(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".store")?.parse::<u64>().ok()
        })
        .min()
        .unwrap()
}

// ANCHOR: late_joiner
// ANCHOR: late_a
async fn a_server_joining_after_a_purge_catches_up_from_a_snapshot() {
    let small_logs = |spec: &mut chapter_07::testing::NodeSpec| {
        spec.snapshot_every = 20;
        spec.keep_after_snapshot = 10;
        spec.segment_bytes = 64 * 1024;
    };
    let mut cluster = TestCluster::start(3, small_logs).await;
    let leader = &cluster.nodes[cluster.leader(SETTLE).await];
    let values: Vec<Vec<u8>> = (0..5000)
        .map(|i| format!("{i:0>200}").into_bytes())
        .collect();
    for chunk in values.chunks(1000) {
        produce_stream(leader, chunk.iter().cloned().map(produce).collect()).await;
    }
    let purged_up_to = first_segment(&leader.spec.data_dir.join("raft"));
    assert!(purged_up_to > 0, "the leader's Raft log was not purged");

    let mut spec = cluster.spec_for_new_node(4);
    small_logs(&mut spec);
    cluster.nodes.push(NodeProcess::start(spec));
    cluster.wait_for_voters(4, SETTLE).await;
    let late = &cluster.nodes[3];
    let records = wait_for_records(late, values.len(), SETTLE).await;
    assert_eq!(records, values);
    // It started from a snapshot: its Raft log begins after the purge.
    assert!(first_segment(&late.spec.data_dir.join("raft")) >= purged_up_to);

    // ANCHOR_END: late_a
    // ANCHOR: late_b
    // And it follows from there like any other.
    let mut client = cluster.nodes[cluster.leader(SETTLE).await].client().await;
    let offset = client
        .produce(produce("after the snapshot"))
        .await
        .unwrap()
        .into_inner()
        .offset;
    let records = wait_for_records(late, offset as usize + 1, SETTLE).await;
    assert_eq!(records[offset as usize], b"after the snapshot");
    let consumed = cluster.nodes[3]
        .client()
        .await
        .consume(ConsumeRequest { offset: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(consumed.record.unwrap().value, values[0]);
}
// ANCHOR_END: late_b
// ANCHOR_END: late_joiner

// ANCHOR: leave
async fn a_server_that_leaves_is_removed_from_the_voters() {
    let mut cluster = TestCluster::start(3, |spec| spec.leave_on_sigterm = true).await;
    let leader = cluster.leader(SETTLE).await;
    let status = cluster.nodes[leader].terminate();
    assert!(
        status.success(),
        "{status}:\n{}",
        cluster.nodes[leader].log()
    );
    let gone = cluster.nodes[leader].spec.id.to_string();
    let servers = cluster
        .wait_for_servers(SETTLE, |servers| {
            servers.len() == 2 && servers.iter().any(|s| s.is_leader)
        })
        .await;
    assert!(
        servers.iter().all(|server| server.id != gone),
        "{servers:?}"
    );

    // Two voters are a majority of two: produces still commit.
    let leader = &cluster.nodes[cluster.leader(SETTLE).await];
    let offset = leader
        .client()
        .await
        .produce(produce("with two"))
        .await
        .unwrap()
        .into_inner()
        .offset;
    assert_eq!(offset, 0);
}
// ANCHOR_END: leave
