//! The `proglog` binary's cluster, measured as a user would: with
//! `proglog bench produce` (this crate's [`chapter_09::bench::measure`], the
//! code behind the command, given the arguments a user would type).
//!
//! `cargo bench -p chapter-09 --bench cluster` prints:
//!
//! 1. **Throughput**: `proglog bench produce` (one client, `ProduceStream`,
//!    256 B records) against a 3-node cluster of `proglog serve` processes,
//!    and against a single `proglog serve --dev --sync os` with no cluster
//!    flags, interleaved round by round (`PROGLOG_BENCH_ROUNDS`, default 5;
//!    `PROGLOG_BENCH_RECORDS`, default 200,000). All the processes share
//!    this machine's two cores.
//! 2. **Failover**: `proglog bench produce` streaming to a 3-node cluster
//!    while its leader is killed with SIGKILL one second in; the gap in
//!    acknowledgements it reports (its longest pause between two).
//!    `PROGLOG_BENCH_KILLS` kills (default 10), each on a fresh cluster.
//!
//! The machine is noisy: read the medians, and rerun when a range is wide.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use chapter_05::bench::{report, spread};
use chapter_05::testing::{Binary, ServerProcess};
use chapter_09::bench::{Outcome, measure};
use chapter_09::cli::{BenchCommand, Cli, Command};
use chapter_09::testing::{Forming, ProglogCluster};
use clap::Parser;

fn main() {
    let number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let records = number("PROGLOG_BENCH_RECORDS", 200_000);
    let rounds = number("PROGLOG_BENCH_ROUNDS", 5);
    let rate = match rounds {
        0 => 200_000.0,
        rounds => runtime.block_on(throughput(rounds, records)),
    };
    runtime.block_on(failover(number("PROGLOG_BENCH_KILLS", 10), rate));
}

fn proglog() -> Binary {
    Binary::at(env!("CARGO_BIN_EXE_proglog"))
}

// ANCHOR: bench_produce
/// `proglog bench produce --dev --addr ADDR --seeds SEEDS --records N`, as
/// a user would type it, run by the code the command runs.
async fn bench_produce(addr: &str, seeds: &[String], records: u64) -> anyhow::Result<Outcome> {
    let records = records.to_string();
    let seeds = seeds.join(",");
    let mut args = vec!["proglog", "bench", "produce", "--dev", "--addr", addr];
    args.extend(["--records", &records]);
    if !seeds.is_empty() {
        args.extend(["--seeds", &seeds]);
    }
    let Command::Bench(BenchCommand::Produce(args)) = Cli::parse_from(args).command else {
        unreachable!("bench produce parses as bench produce")
    };
    measure(&args).await
}
// ANCHOR_END: bench_produce

// ANCHOR: throughput
/// Returns the median rate of the 3-node cluster, in records/s.
async fn throughput(rounds: u64, records: u64) -> f64 {
    let (mut three, mut one) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let cluster = ProglogCluster::start(3, Forming::AllExpect, |_| proglog()).await;
        let leader = cluster.nodes[cluster.leader().await].rpc_addr.to_string();
        let replicated = bench_produce(&leader, &cluster.seeds(), records)
            .await
            .unwrap();
        drop(cluster);

        let dir = tempfile::tempdir().unwrap();
        let server = ServerProcess::start(&proglog(), dir.path(), &["--dev", "--sync", "os"], &[]);
        let single = bench_produce(&server.addr.to_string(), &[], records)
            .await
            .unwrap();
        assert!(server.stop().success());

        let (replicated, single) = (replicated.summary, single.summary);
        println!(
            "round {round}: 3 nodes {:.0} vs 1 node {:.0} records/s (p99 {:?} vs {:?})",
            replicated.records_per_second(),
            single.records_per_second(),
            replicated.p99(),
            single.p99()
        );
        three.push(replicated.records_per_second());
        one.push(single.records_per_second());
    }
    let median = spread(&mut three.clone()).0;
    println!("\n== {rounds} rounds, 256 B records, `proglog bench produce`: median [range] ==");
    report(
        "a 3-node proglog cluster ÷ one proglog server (--sync os)",
        &mut three,
        &mut one,
        "records/s",
    );
    median
}
// ANCHOR_END: throughput

// ANCHOR: failover
/// `kills` times: a fresh 3-node cluster, `proglog bench produce` sized to
/// run about four seconds at `rate`, the leader killed one second in; the
/// longest pause between acknowledgements the command saw.
async fn failover(kills: u64, rate: f64) {
    if kills == 0 {
        return;
    }
    let records = (rate * 4.0) as u64;
    let mut gaps = Vec::new();
    for kill in 1..=kills {
        let mut cluster = ProglogCluster::start(3, Forming::AllExpect, |_| proglog()).await;
        let leader = cluster.leader().await;
        let addr = cluster.nodes[leader].rpc_addr.to_string();
        let seeds = cluster.seeds();
        let bench = bench_produce(&addr, &seeds, records);
        let killer = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            cluster.nodes[leader].kill();
        };
        let (outcome, ()) = tokio::join!(bench, killer);
        let outcome = outcome.unwrap_or_else(|error| {
            for node in &cluster.nodes {
                let log = node.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- node {} ---", node.id);
                tail.iter().rev().for_each(|line| eprintln!("{line}"));
            }
            panic!("proglog bench produce failed: {error}")
        });
        // ANCHOR_END: failover
        // ANCHOR: failover_b
        let gap = outcome.longest_pause;
        println!(
            "kill {kill}: node {} killed; {} records acknowledged, once each; longest gap {gap:?}",
            leader + 1,
            records
        );
        gaps.push(gap.as_secs_f64() * 1000.0);
    }
    let (median, low, high) = spread(&mut gaps);
    println!(
        "\n== failover, {kills} kills of the leader under `proglog bench produce` ==\n\
         gap in acknowledgements: median {median:.0} ms [{low:.0}–{high:.0} ms], max {high:.0} ms"
    );
}
// ANCHOR_END: failover_b
