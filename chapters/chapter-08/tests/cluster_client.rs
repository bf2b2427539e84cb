//! The client against a real 3-node cluster (chapter 7's node processes on
//! 127.0.0.1): where its calls go, and what a failure does to them.
//!
//! - produces land on the leader, consumes are spread over the followers
//!   (counted by each server's own metrics);
//! - kill -9 of the leader in the middle of a 10,000-record stream: 10,000
//!   distinct, consecutive offsets, and every record once on every server;
//! - a follower dies under a `ConsumeStream`: no offset missed or repeated;
//! - a dead first seed does not matter; all seeds dead is one clear error;
//! - what a retry cannot fix fails at once.
//!
//! `harness = false` (Cargo.toml): [`run_tests`] is the `main`, so that the
//! executable can also run as a node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chapter_05::testing::{free_addr, metric, scrape};
use chapter_07::process_tests;
use chapter_07::testing::{TestCluster, client_tls, records_of, run_tests, stream_records};
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
