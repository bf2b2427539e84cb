//! The client against a real 3-node cluster (chapter 7's node processes on
//! 127.0.0.1): where its calls go, and what a failure does to them.
//!
//! - produces land on the leader, consumes are spread over the followers
//!   (counted by each server's own metrics);
//! - kill -9 of the leader in the middle of a 10,000-record stream: 10,000
//!   distinct, consecutive offsets, and every record once on every server;
//! - a follower dies under a `ConsumeStream`: no offset missed or repeated;
//! - a dead first seed does not matter; all seeds dead is one clear error;
//! - what a retry cannot fix fails at once;
//! - a server that falls silent, as behind a network partition (here:
//!   frozen with SIGSTOP), is left behind: a leader after one attempt
//!   timeout, by a unary produce and by a produce stream; a follower under
//!   a consume stream at the tail, by the channel's keepalive; and a
//!   leader that cannot confirm a lagging follower's OUT_OF_RANGE does not
//!   turn it into an error;
//! - with no follower up, reads go to the leader;
//! - the server list is asked for again on a timer, failures or not.
//!
//! `harness = false` (Cargo.toml): [`run_tests`] is the `main`, so that the
//! executable can also run as a node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chapter_05::testing::{free_addr, metric, scrape};
use chapter_07::process_tests;
use chapter_07::testing::{
    NodeProcess, TestCluster, client_tls, records_of, run_tests, stream_records,
};
use chapter_08::{Client, ClientConfig, Error};
use futures_util::StreamExt;

// ANCHOR: main
fn main() {
    run_tests(process_tests![
        produces_go_to_the_leader_and_consumes_to_the_followers,
        kill_9_of_the_leader_mid_stream_loses_and_repeats_nothing,
        a_consume_stream_resumes_when_its_follower_dies,
        a_dead_first_seed_does_not_matter,
        what_a_retry_cannot_fix_fails_at_once,
        reads_go_to_the_leader_when_no_follower_is_up,
        the_server_list_is_refreshed_on_a_timer,
        a_silent_leader_costs_a_write_one_attempt_timeout,
        a_produce_stream_leaves_a_silent_leader_behind,
        a_consume_stream_at_the_tail_leaves_a_silent_follower,
        a_lagging_followers_out_of_range_waits_for_a_leader_that_answers,
    ]);
}
// ANCHOR_END: main

const SETTLE: Duration = Duration::from_secs(30);

// ANCHOR: helpers
fn config_for(cluster: &TestCluster) -> ClientConfig {
    ClientConfig::new(cluster.seeds(), client_tls("root"))
}

/// `series` as each node's metrics endpoint reports it, by node id.
fn per_node(cluster: &TestCluster, series: &str) -> HashMap<u64, f64> {
    cluster
        .running()
        .map(|node| {
            (
                node.spec.id,
                metric(&scrape(node.spec.metrics_addr.unwrap()), series),
            )
        })
        .collect()
}
// ANCHOR_END: helpers

// ANCHOR: routing
// ANCHOR: routing_a
async fn produces_go_to_the_leader_and_consumes_to_the_followers() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.nodes[cluster.leader(SETTLE).await].spec.id;
    let client = Client::connect(config_for(&cluster)).await.unwrap();
    for i in 0..30u64 {
        assert_eq!(client.produce(format!("record-{i}")).await.unwrap(), i);
    }
    for round in 0..2 {
        for i in 0..30u64 {
            let record = client.consume(i).await.unwrap();
            assert_eq!(
                record.value,
                format!("record-{i}").into_bytes(),
                "round {round}"
            );
        }
    }
    // ANCHOR_END: routing_a

    // ANCHOR: routing_b
    let produces = per_node(
        &cluster,
        r#"proglog_rpcs_total{method="Produce",code="OK"}"#,
    );
    let consumes = per_node(
        &cluster,
        r#"proglog_rpcs_total{method="Consume",code="OK"}"#,
    );
    println!("produces by node {produces:?}, consumes by node {consumes:?}");
    for (&node, &count) in &produces {
        assert_eq!(
            count,
            if node == leader { 30.0 } else { 0.0 },
            "produces on node {node}"
        );
    }
    assert_eq!(consumes[&leader], 0.0, "the leader served no read");
    for (&node, &count) in consumes.iter().filter(|(node, _)| **node != leader) {
        assert_eq!(
            count, 30.0,
            "round robin: half of the 60 reads on node {node}"
        );
    }
}
// ANCHOR_END: routing_b
// ANCHOR_END: routing

// ANCHOR: failover
// ANCHOR: failover_a
async fn kill_9_of_the_leader_mid_stream_loses_and_repeats_nothing() {
    const RECORDS: usize = 10_000;
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let old_leader = cluster.leader(SETTLE).await;
    let client = Client::connect(config_for(&cluster)).await.unwrap();
    // A slow enough source that the kill lands mid-stream.
    let values = futures_util::stream::iter(0..RECORDS).then(|i| async move {
        if i % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        format!("record-{i}").into_bytes()
    });
    let mut offsets_stream = Box::pin(client.produce_stream(values));
    let mut offsets = Vec::new();
    while let Some(offset) = offsets_stream.next().await {
        offsets.push(offset.unwrap());
        if offsets.len() == 2_000 {
            cluster.nodes[old_leader].kill();
        }
    }
    assert_eq!(offsets.len(), RECORDS);
    assert_eq!(
        offsets,
        (0..RECORDS as u64).collect::<Vec<_>>(),
        "distinct, consecutive, in order"
    );
    assert_ne!(cluster.leader(SETTLE).await, old_leader);
    // ANCHOR_END: failover_a

    // ANCHOR: failover_b
    cluster.nodes[old_leader].restart();
    for node in &cluster.nodes {
        // Exactly RECORDS records: none twice.
        let records = stream_records(node, RECORDS, SETTLE).await;
        for (i, record) in records.iter().enumerate() {
            assert_eq!(
                record,
                format!("record-{i}").as_bytes(),
                "node {}",
                node.spec.id
            );
        }
    }
}
// ANCHOR_END: failover_b
// ANCHOR_END: failover

// ANCHOR: consume_failover
async fn a_consume_stream_resumes_when_its_follower_dies() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let client = Client::connect(config_for(&cluster)).await.unwrap();
    for i in 0..500u64 {
        client.produce(format!("record-{i}")).await.unwrap();
    }
    let mut records = Box::pin(client.consume_stream(0));
    let mut seen = Vec::new();
    while seen.len() < 500 {
        seen.push(records.next().await.unwrap().unwrap());
    }
    // The server streaming to us is the one with a stream open.
    let serving = per_node(&cluster, "proglog_open_streams");
    let (&serving, _) = serving
        .iter()
        .find(|(_, open)| **open == 1.0)
        .expect("one server streams");
    let leader = cluster.nodes[cluster.leader(SETTLE).await].spec.id;
    assert_ne!(serving, leader, "a follower serves the stream");
    cluster.nodes[(serving - 1) as usize].kill();

    // Records produced after the kill arrive too, from another server.
    for i in 500..1000u64 {
        client.produce(format!("record-{i}")).await.unwrap();
    }
    while seen.len() < 1000 {
        seen.push(records.next().await.unwrap().unwrap());
    }
    let offsets: Vec<u64> = seen.iter().map(|record| record.offset).collect();
    assert_eq!(offsets, (0..1000).collect::<Vec<_>>(), "no gap, no repeat");
    for record in &seen {
        assert_eq!(
            record.value,
            format!("record-{}", record.offset).into_bytes()
        );
    }
}
// ANCHOR_END: consume_failover

// ANCHOR: seeds
async fn a_dead_first_seed_does_not_matter() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let dead = free_addr().to_string();
    let mut config = config_for(&cluster);
    config.seeds.insert(0, dead.clone());
    let client = Client::connect(config).await.unwrap();
    assert_eq!(client.servers().len(), 3);
    assert_eq!(client.produce("through the second seed").await.unwrap(), 0);

    let nowhere = vec![dead, free_addr().to_string()];
    let started = Instant::now();
    let error = Client::connect(ClientConfig::new(nowhere.clone(), client_tls("root")))
        .await
        .unwrap_err();
    let message = error.to_string();
    println!("{message}");
    assert!(matches!(error, Error::NoServer { .. }), "{message}");
    assert!(
        message.contains(&nowhere[0]) && message.contains(&nowhere[1]),
        "{message}"
    );
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
// ANCHOR_END: seeds

// ANCHOR: no_retry
async fn what_a_retry_cannot_fix_fails_at_once() {
    let cluster = TestCluster::start(1, |_| {}).await;
    let client = Client::connect(config_for(&cluster)).await.unwrap();
    let started = Instant::now();
    let too_large = client.produce(vec![0; 2 << 20]).await.unwrap_err();
    assert!(matches!(too_large, Error::Refused(_)), "{too_large}");
    let past_the_end = client.consume(7).await.unwrap_err();
    assert_eq!(
        past_the_end.status().unwrap().code(),
        tonic::Code::OutOfRange,
        "{past_the_end}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no retries: {:?}",
        started.elapsed()
    );

    let nobody = Client::connect(ClientConfig::new(
        cluster
            .nodes
            .iter()
            .map(|node| node.spec.rpc_addr.to_string()),
        client_tls("nobody"),
    ))
    .await;
    // `nobody` may not even list the servers.
    let message = nobody.unwrap_err().to_string();
    assert!(message.contains("nobody is not permitted"), "{message}");
    assert!(
        message.starts_with("refused"),
        "the server answered, and said no: {message}"
    );
    assert_eq!(records_of(&cluster.nodes[0]).await.len(), 0);
}
// ANCHOR_END: no_retry

// ANCHOR: silence
/// Freezes `node` (SIGSTOP) or thaws it (SIGCONT). A frozen server is what
/// a network partition makes of one, as its clients see it: the
/// connections stay open, and nothing comes back on them, not even a
/// refusal. (Its kernel still completes new TCP handshakes, which a
/// partition would not; the TLS handshake that follows gets no answer.)
fn signal(node: &NodeProcess, signal: &str) {
    let pid = node.pid().expect("the node runs");
    let sent = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} {pid}");
}

/// An address that accepts connections and never says a word: a server
/// that is up, but cut off (or hung) above TCP.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}
// ANCHOR_END: silence

// ANCHOR: silent_leader
// A leader that falls silent costs a write one attempt timeout, then the
// write goes to the new leader; a first seed that never answers costs the
// connect one connection timeout. (The attempt timeout is shortened to
// 1 s, to tell it from the keepalive: without a time limit on an attempt,
// the write would wait until the pings gave up on the connection, 5 s
// after the leader's last word.)
async fn a_silent_leader_costs_a_write_one_attempt_timeout() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let old_leader = cluster.leader(SETTLE).await;
    let mut config = config_for(&cluster);
    config.seeds.insert(0, black_hole().await);
    config.attempt_timeout = Duration::from_secs(1);
    let give_up_after = config.retry.give_up_after;
    let started = Instant::now();
    let client = Client::connect(config).await.unwrap();
    println!("connected, past the black hole, in {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(3));
    for i in 0..10u64 {
        assert_eq!(client.produce(format!("record-{i}")).await.unwrap(), i);
    }

    signal(&cluster.nodes[old_leader], "STOP");
    let started = Instant::now();
    assert_eq!(client.produce("record-10").await.unwrap(), 10);
    let took = started.elapsed();
    println!("the write after the leader fell silent took {took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    // Every record reads back, though the silent server is now a follower
    // in the client's list, and reads are sent to it too.
    let started = Instant::now();
    for i in 0..=10u64 {
        let record = client.consume(i).await.unwrap();
        assert_eq!(record.value, format!("record-{i}").into_bytes());
    }
    println!("11 reads took {:?}", started.elapsed());
    assert!(started.elapsed() < give_up_after);
    signal(&cluster.nodes[old_leader], "CONT");
}
// ANCHOR_END: silent_leader

// ANCHOR: silent_stream
// A produce stream whose leader falls silent with records in flight
// breaks after one attempt timeout of silence, and resumes on the new
// leader: every record once, in order.
async fn a_produce_stream_leaves_a_silent_leader_behind() {
    const RECORDS: usize = 2_000;
    let cluster = TestCluster::start(3, |_| {}).await;
    let old_leader = cluster.leader(SETTLE).await;
    let mut config = config_for(&cluster);
    config.attempt_timeout = Duration::from_secs(1); // as above
    let client = Client::connect(config).await.unwrap();
    let values = futures_util::stream::iter(0..RECORDS).then(|i| async move {
        if i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        format!("record-{i}").into_bytes()
    });
    let mut offsets_stream = Box::pin(client.produce_stream(values));
    let (mut offsets, mut longest_gap, mut last) = (Vec::new(), Duration::ZERO, Instant::now());
    while let Some(offset) = offsets_stream.next().await {
        offsets.push(offset.unwrap());
        longest_gap = longest_gap.max(last.elapsed());
        last = Instant::now();
        if offsets.len() == 500 {
            signal(&cluster.nodes[old_leader], "STOP");
        }
    }
    assert_eq!(offsets, (0..RECORDS as u64).collect::<Vec<_>>());
    println!("the longest wait for an offset: {longest_gap:?}");
    assert!(longest_gap < Duration::from_secs(4), "{longest_gap:?}");

    signal(&cluster.nodes[old_leader], "CONT");
    for node in &cluster.nodes {
        // Exactly RECORDS records, in order: none twice.
        let records = stream_records(node, RECORDS, SETTLE).await;
        for (i, record) in records.iter().enumerate() {
            assert_eq!(record, format!("record-{i}").as_bytes());
        }
    }
}
// ANCHOR_END: silent_stream

// ANCHOR: silent_follower
// A consume stream at the tail is silent by nature, so silence does not
// break it; but when its follower falls silent, the channel's pings go
// unanswered, the connection is closed, and the stream resumes on
// another server: a record produced after that arrives within seconds.
async fn a_consume_stream_at_the_tail_leaves_a_silent_follower() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let client = Client::connect(config_for(&cluster)).await.unwrap();
    for i in 0..10u64 {
        client.produce(format!("record-{i}")).await.unwrap();
    }
    let mut records = Box::pin(client.consume_stream(0));
    for i in 0..10u64 {
        assert_eq!(records.next().await.unwrap().unwrap().offset, i);
    }
    let serving = per_node(&cluster, "proglog_open_streams");
    let (&serving, _) = serving
        .iter()
        .find(|(_, open)| **open == 1.0)
        .expect("one server streams");
    let serving = &cluster.nodes[(serving - 1) as usize];
    signal(serving, "STOP");

    let started = Instant::now();
    assert_eq!(client.produce("record-10").await.unwrap(), 10);
    let next = tokio::time::timeout(Duration::from_secs(15), records.next())
        .await
        .expect("the stream resumed on another server");
    assert_eq!(next.unwrap().unwrap().value, b"record-10");
    let took = started.elapsed();
    println!("the record arrived {took:?} after the follower fell silent");
    assert!(took < Duration::from_secs(10), "{took:?}");
    signal(serving, "CONT");
}
// ANCHOR_END: silent_follower

// ANCHOR: lagging_follower
// A follower that missed records answers OUT_OF_RANGE for them; if the
// leader, which would have them, is silent, that answer proves nothing,
// and the read goes on (another server, a new leader) rather than fail.
async fn a_lagging_followers_out_of_range_waits_for_a_leader_that_answers() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.leader(SETTLE).await;
    let lagging = &cluster.nodes[(leader + 1) % 3];
    let client = Client::connect(config_for(&cluster)).await.unwrap();
    // The lagging follower misses ten records (the leader and the other
    // follower commit them); then the leader falls silent, so it cannot
    // catch up until the other follower is elected.
    signal(lagging, "STOP");
    for i in 0..10u64 {
        assert_eq!(client.produce(format!("record-{i}")).await.unwrap(), i);
    }
    signal(&cluster.nodes[leader], "STOP");
    signal(lagging, "CONT");

    let started = Instant::now();
    for i in 0..10u64 {
        let record = client.consume(i).await.unwrap();
        assert_eq!(record.value, format!("record-{i}").into_bytes());
    }
    println!("10 reads took {:?}", started.elapsed());
    let out_of_range = metric(
        &scrape(lagging.spec.metrics_addr.unwrap()),
        r#"proglog_rpcs_total{method="Consume",code="OUT_OF_RANGE"}"#,
    );
    assert!(out_of_range >= 1.0, "the lagging follower was asked");
    signal(&cluster.nodes[leader], "CONT");
}
// ANCHOR_END: lagging_follower

/// With both followers down, reads go to the leader (which still holds
/// every applied record), rather than failing.
async fn reads_go_to_the_leader_when_no_follower_is_up() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.leader(SETTLE).await;
    let client = Client::connect(config_for(&cluster)).await.unwrap();
    for i in 0..5u64 {
        assert_eq!(client.produce(format!("record-{i}")).await.unwrap(), i);
    }
    for (index, node) in cluster.nodes.iter_mut().enumerate() {
        if index != leader {
            node.kill();
        }
    }
    for i in 0..5u64 {
        let record = client.consume(i).await.unwrap();
        assert_eq!(record.value, format!("record-{i}").into_bytes());
    }
    let consumes = per_node(
        &cluster,
        r#"proglog_rpcs_total{method="Consume",code="OK"}"#,
    );
    let on_leader = consumes[&cluster.nodes[leader].spec.id];
    assert!(on_leader >= 5.0, "the leader served {on_leader} reads");
}

/// The client asks for the servers again every `refresh_every`, even when
/// no call fails: a server that joins is known without anything going wrong.
async fn the_server_list_is_refreshed_on_a_timer() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let mut config = config_for(&cluster);
    config.refresh_every = Duration::from_millis(300);
    let client = Client::connect(config).await.unwrap();
    assert_eq!(client.servers().len(), 3);
    let fourth = cluster.spec_for_new_node(4);
    let fourth_addr = fourth.rpc_addr.to_string();
    cluster
        .nodes
        .push(chapter_07::testing::NodeProcess::start(fourth));
    cluster.wait_for_voters(4, SETTLE).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !client
        .servers()
        .iter()
        .any(|server| server.rpc_addr == fourth_addr)
    {
        assert!(
            Instant::now() < deadline,
            "the new server never appeared in the client's list"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
