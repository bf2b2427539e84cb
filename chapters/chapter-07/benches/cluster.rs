//! What replication costs, and how long a failover takes, in one run.
//!
//! `cargo bench -p chapter-07 --bench cluster` prints:
//!
//! 1. **Replicated streaming**: one client streaming 200,000 records of
//!    256 B with `ProduceStream` to the leader of a 3-node cluster (each
//!    node a process; records logs `--sync os`, Raft logs synced before
//!    every answer, as Raft requires), against the same client streaming to
//!    a single `proglog serve --dev --sync os` (chapter 5, this executable
//!    re-run as `proglog`), interleaved round by round
//!    (`PROGLOG_BENCH_ROUNDS`, default 5). All four processes share this
//!    machine's two cores.
//! 2. **Failover**: a producer sends unary produces, one after the other,
//!    to whichever server leads (following NOT_LEADER, retrying after
//!    other errors every 20 ms); the leader is killed with SIGKILL; the
//!    time from the kill to the producer's first acknowledgement by the
//!    new leader. `PROGLOG_BENCH_KILLS` kills (default 10), the killed
//!    server restarted and caught up between kills.
//!
//! The machine is noisy: read the medians, and rerun when a range is wide.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chapter_02::api::v1::{ProduceRequest, Record};
use chapter_05::bench::{measure, report, spread};
use chapter_05::cli::{BenchProduceArgs, ClientArgs};
use chapter_05::testing::{Binary, ServerProcess};
use chapter_07::status::{NOT_LEADER, leader_in, reason_of};
use chapter_07::testing::{TestCluster, lazy_client_of, wait_for_records};
use tokio::sync::Mutex;

const SETTLE: Duration = Duration::from_secs(30);

fn main() {
    chapter_05::testing::run_as_proglog_if_asked();
    chapter_07::testing::run_node_if_asked();
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let window = number("PROGLOG_BENCH_WINDOW", 8 * chapter_05::bench::WINDOW);
    let records = number("PROGLOG_BENCH_RECORDS", 200_000) as u64;
    runtime.block_on(streaming(
        number("PROGLOG_BENCH_ROUNDS", 5),
        window,
        records,
    ));
    runtime.block_on(failover(number("PROGLOG_BENCH_KILLS", 10)));
}

fn stream_args(addr: SocketAddr, records: u64, window: usize) -> BenchProduceArgs {
    BenchProduceArgs {
        client: ClientArgs {
            addr,
            dev: true,
            insecure: false,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            server_name: "localhost".to_string(),
        },
        records,
        record_size: 256,
        clients: 1,
        unary: false,
        window,
    }
}

// ANCHOR: streaming
// ANCHOR: streaming_a
async fn streaming(rounds: usize, window: usize, records: u64) {
    if rounds == 0 {
        return;
    }
    let (mut replicated, mut single) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let cluster = TestCluster::start(3, |_| {}).await;
        let leader = cluster.nodes[cluster.leader(SETTLE).await].spec.rpc_addr;
        let three = measure(&stream_args(leader, records, window))
            .await
            .unwrap();
        drop(cluster);

        let dir = tempfile::tempdir().unwrap();
        let server = ServerProcess::start(
            &Binary::this_process(),
            dir.path(),
            &["--dev", "--sync", "os"],
            &[],
        );
        let one = measure(&stream_args(server.addr, records, window))
            .await
            .unwrap();
        assert!(server.stop().success());
        // ANCHOR_END: streaming_a

        // ANCHOR: streaming_b
        println!(
            "round {round}: 3 nodes {:.0} vs 1 node {:.0} records/s (p99 {:?} vs {:?})",
            three.records_per_second(),
            one.records_per_second(),
            three.p99(),
            one.p99()
        );
        replicated.push(three.records_per_second());
        single.push(one.records_per_second());
    }
    println!("\n== {rounds} rounds, 256 B records, one streaming client: median [range] ==");
    report(
        "ProduceStream to a 3-node cluster ÷ to a single proglog --sync os",
        &mut replicated,
        &mut single,
        "records/s",
    );
}
// ANCHOR_END: streaming_b
// ANCHOR_END: streaming

/// Produces one record after the other as producer 1, to whichever server
/// leads, until `stop`; notes when each was acknowledged, and by which
/// server (its index).
async fn produce_steadily(
    addrs: Vec<SocketAddr>,
    acks: Arc<Mutex<Vec<(Instant, usize)>>>,
    stop: Arc<AtomicBool>,
) {
    let mut clients: Vec<_> = addrs
        .iter()
        .map(|addr| lazy_client_of(*addr, "root"))
        .collect();
    let (mut target, mut sequence) = (0, 1);
    while !stop.load(Ordering::Relaxed) {
        let request = ProduceRequest {
            record: Some(Record {
                value: vec![7; 256],
                ..Record::default()
            }),
            producer_id: 1,
            sequence,
        };
        match tokio::time::timeout(Duration::from_secs(2), clients[target].produce(request)).await {
            Ok(Ok(_)) => {
                acks.lock().await.push((Instant::now(), target));
                sequence += 1;
            }
            Ok(Err(status)) if reason_of(&status).as_deref() == Some(NOT_LEADER) => {
                let leader: SocketAddr = leader_in(&status).unwrap().1.parse().unwrap();
                target = addrs.iter().position(|addr| *addr == leader).unwrap();
            }
            _ => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                target = (target + 1) % addrs.len();
            }
        }
    }
}

// ANCHOR: failover
// ANCHOR: failover_a
async fn failover(kills: usize) {
    if kills == 0 {
        return;
    }
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let addrs: Vec<SocketAddr> = cluster
        .nodes
        .iter()
        .map(|node| node.spec.rpc_addr)
        .collect();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = tokio::spawn(produce_steadily(
        addrs,
        Arc::clone(&acks),
        Arc::clone(&stop),
    ));
    let mut pauses = Vec::new();
    // ANCHOR_END: failover_a
    // ANCHOR: failover_b
    for kill in 1..=kills {
        let leader = cluster.agreed_leader(SETTLE).await;
        let before = acks.lock().await.len();
        while acks.lock().await.len() < before + 50 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let killed_at = Instant::now();
        cluster.nodes[leader].kill();
        let first_ack = loop {
            // (A call the old leader answered just before it died is not
            // the new leader's.)
            let acks = acks.lock().await;
            let first = acks
                .iter()
                .find(|(at, by)| *at > killed_at && *by != leader);
            if let Some(&(first, _)) = first {
                break first;
            }
            drop(acks);
            assert!(
                killed_at.elapsed() < SETTLE,
                "no acknowledgement after the kill"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let pause = first_ack - killed_at;
        println!(
            "kill {kill}: node {} killed; first acknowledgement after {pause:?}",
            leader + 1
        );
        pauses.push(pause.as_secs_f64() * 1000.0);
        // ANCHOR_END: failover_b

        // ANCHOR: failover_c
        cluster.nodes[leader].restart();
        let new_leader = cluster.leader(SETTLE).await;
        let caught_up = wait_for_records(&cluster.nodes[new_leader], 1, SETTLE)
            .await
            .len();
        wait_for_records(&cluster.nodes[leader], caught_up, SETTLE).await;
    }
    stop.store(true, Ordering::Relaxed);
    producer.await.unwrap();
    let (median, low, high) = spread(&mut pauses);
    println!(
        "\n== failover, {kills} kills of the leader: kill -9 to the first acknowledged produce ==\n\
         median {median:.0} ms [{low:.0}–{high:.0} ms]"
    );
}
// ANCHOR_END: failover_c
// ANCHOR_END: failover
