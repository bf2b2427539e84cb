//! What the cluster-aware client buys, measured on a real 3-node cluster
//! (chapter 7's node processes, all on this machine's two cores).
//!
//! `cargo bench -p chapter-08 --bench client` prints:
//!
//! 1. **Reads spread over the followers**: 16 tasks reading 40,000
//!    records of 256 B with unary `Consume` through the [`Client`] (round
//!    robin over the two followers), against the same tasks reading them
//!    from one follower only, interleaved round by round
//!    (`PROGLOG_BENCH_ROUNDS`, default 5).
//! 2. **The produce stall of a failover**: a client producing one record
//!    after another while the leader is killed with SIGKILL; the longest
//!    time between two acknowledgements around the kill, over
//!    `PROGLOG_BENCH_KILLS` kills (default 10), the killed server
//!    restarted, and caught up, between kills.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chapter_02::api::v1::ConsumeRequest;
use chapter_05::bench::{report, spread};
use chapter_07::testing::{TestCluster, client_tls, lazy_client_of, record_at, wait_for_records};
use chapter_08::{Client, ClientConfig};
use futures_util::StreamExt;
use tokio::sync::Mutex;

const SETTLE: Duration = Duration::from_secs(30);
const READERS: u64 = 16;
const READS: u64 = 40_000;

fn main() {
    chapter_07::testing::run_node_if_asked();
    if std::env::var_os("RUST_LOG").is_some() {
        chapter_05::observability::init_tracing(chapter_05::cli::LogFormat::Text);
    }
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(reads(number("PROGLOG_BENCH_ROUNDS", 5)));
    runtime.block_on(stalls(number("PROGLOG_BENCH_KILLS", 10)));
}

fn config_for(cluster: &TestCluster) -> ClientConfig {
    ClientConfig::new(cluster.seeds(), client_tls("root"))
}

// ANCHOR: reads
// ANCHOR: read_rate
/// Records per second, `READERS` tasks reading `READS` records in all with
/// `read(offset)`.
async fn read_rate<F, Fut>(read: F) -> f64
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..READERS)
        .map(|reader| {
            let read = read.clone();
            tokio::spawn(async move {
                for i in 0..READS / READERS {
                    read((reader * 997 + i) % READS).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    READS as f64 / started.elapsed().as_secs_f64()
}
// ANCHOR_END: read_rate

// ANCHOR: reads_a
async fn reads(rounds: usize) {
    if rounds == 0 {
        return;
    }
    let cluster = TestCluster::start(3, |_| {}).await;
    let client = Client::connect(config_for(&cluster)).await.unwrap();
    let values = futures_util::stream::iter(0..READS).map(|_| vec![7u8; 256]);
    let produced: Vec<_> = client.produce_stream(values).collect().await;
    assert_eq!(produced.len() as u64, READS);
    let leader = cluster.leader(SETTLE).await;
    let follower = &cluster.nodes[(leader + 1) % 3];
    wait_for_records(follower, 1, SETTLE).await;
    let one = lazy_client_of(follower.spec.rpc_addr, "root");
    // ANCHOR_END: reads_a

    // ANCHOR: reads_b
    let (mut spread_rates, mut one_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let client = client.clone();
        let spread_rate = read_rate(move |offset| {
            let client = client.clone();
            async move {
                client.consume(offset).await.unwrap();
            }
        })
        .await;
        let one = one.clone();
        let one_rate = read_rate(move |offset| {
            let mut one = one.clone();
            async move {
                one.consume(ConsumeRequest { offset }).await.unwrap();
            }
        })
        .await;
        println!(
            "round {round}: spread over 2 followers {spread_rate:.0} vs one follower {one_rate:.0} records/s"
        );
        spread_rates.push(spread_rate);
        one_rates.push(one_rate);
    }
    println!(
        "\n== {rounds} rounds, {READERS} readers, unary Consume of 256 B records: median [range] =="
    );
    report(
        "reads through the Client (2 followers) ÷ all reads on one follower",
        &mut spread_rates,
        &mut one_rates,
        "records/s",
    );
}
// ANCHOR_END: reads_b
// ANCHOR_END: reads

// ANCHOR: stalls
// ANCHOR: stalls_a
async fn stalls(kills: usize) {
    if kills == 0 {
        return;
    }
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let client = Client::connect(config_for(&cluster)).await.unwrap();
    let acks = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let last_offset = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (client, acks, stop, last) = (
            client.clone(),
            Arc::clone(&acks),
            Arc::clone(&stop),
            Arc::clone(&last_offset),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let offset = client.produce(vec![7u8; 256]).await.unwrap();
                acks.lock().await.push(Instant::now());
                last.store(offset, Ordering::Relaxed);
            }
        })
    };
    let mut gaps = Vec::new();
    // ANCHOR_END: stalls_a
    // ANCHOR: stalls_b
    for kill in 1..=kills {
        let leader = cluster.agreed_leader(SETTLE).await;
        let before = acks.lock().await.len();
        while acks.lock().await.len() < before + 50 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let killed_at = Instant::now();
        cluster.nodes[leader].kill();
        // The longest wait between two acknowledgements around the kill.
        while acks
            .lock()
            .await
            .iter()
            .filter(|ack| **ack > killed_at)
            .count()
            < 20
        {
            assert!(
                killed_at.elapsed() < SETTLE,
                "no acknowledgements after the kill"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let gap = {
            let acks = acks.lock().await;
            let around: Vec<Instant> = acks[before..].to_vec();
            around
                .windows(2)
                .map(|pair| pair[1] - pair[0])
                .max()
                .unwrap()
        };
        println!(
            "kill {kill}: node {} killed; no acknowledgement for {gap:?}",
            leader + 1
        );
        gaps.push(gap.as_secs_f64() * 1000.0);
        // ANCHOR_END: stalls_b
        // ANCHOR: stalls_c
        // Back, and caught up, before the next kill (a kill while it is
        // still behind is a second fault at once).
        cluster.nodes[leader].restart();
        cluster.wait_for_voters(3, SETTLE).await;
        record_at(
            &cluster.nodes[leader],
            last_offset.load(Ordering::Relaxed),
            SETTLE,
        )
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    producer.await.unwrap();
    let (median, low, high) = spread(&mut gaps);
    println!(
        "\n== produce stall seen by the client, {kills} kills of the leader ==\n\
         median {median:.0} ms [{low:.0}–{high:.0} ms]"
    );
}
// ANCHOR_END: stalls_c
// ANCHOR_END: stalls
