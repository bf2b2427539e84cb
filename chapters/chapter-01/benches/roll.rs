//! How long does an append wait when its segment is full?
//!
//! `cargo bench -p chapter-01 --bench roll` times every single append of
//! 256-byte records, one at a time, into a log whose segments roll every
//! 64 MiB (the default is 1 GiB: the smaller size rolls more often without
//! changing what a roll does), and the same appends into a log whose
//! segment never fills: the baseline, in the same run, interleaved round by
//! round. It prints, per round, the slowest append that rolled a segment,
//! the slowest that did not, and the 99.9th percentile of each log, and at
//! the end the median and range of each over the rounds
//! (`PROGLOG_BENCH_ROUNDS`, default 5).
//!
//! A roll creates the next segment's two files (allocating its index) and
//! hands the full one to the background sealer; the sync of the full store
//! and the trim of its index happen there, not in the append.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use chapter_01::{Config, Log};

const RECORD: [u8; 256] = [42; 256];
/// Enough appends to fill several 64 MiB segments.
const APPENDS: usize = 1_200_000;

/// One log's appends: each one's latency, and which of them rolled.
struct Timings {
    latencies: Vec<Duration>,
    rolled: Vec<bool>,
}

fn time_appends(max_store_bytes: u64) -> Timings {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        Config {
            max_store_bytes,
            ..Config::default()
        },
    )
    .unwrap();
    let mut latencies = Vec::with_capacity(APPENDS);
    let mut rolled = Vec::with_capacity(APPENDS);
    let mut segments = log.segment_count();
    for _ in 0..APPENDS {
        let started = Instant::now();
        log.append(&RECORD).unwrap();
        latencies.push(started.elapsed());
        let now = log.segment_count();
        rolled.push(now != segments);
        segments = now;
    }
    log.close().unwrap();
    Timings { latencies, rolled }
}

fn percentile(latencies: &[Duration], per_mille: usize) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    sorted[(sorted.len() * per_mille / 1000).min(sorted.len() - 1)]
}

fn slowest(timings: &Timings, rolled: bool) -> Duration {
    timings
        .latencies
        .iter()
        .zip(&timings.rolled)
        .filter(|(_, did)| **did == rolled)
        .map(|(latency, _)| *latency)
        .max()
        .unwrap_or_default()
}

fn median_and_range(values: &mut [Duration]) -> String {
    values.sort_unstable();
    format!(
        "{:?} [{:?}–{:?}]",
        values[values.len() / 2],
        values[0],
        values[values.len() - 1]
    )
}

fn main() {
    let rounds: usize = std::env::var("PROGLOG_BENCH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(5);
    let (mut roll_max, mut other_max, mut rolling_p999, mut flat_p999, mut flat_max) =
        (vec![], vec![], vec![], vec![], vec![]);
    for round in 1..=rounds {
        let rolling = time_appends(64 << 20);
        let flat = time_appends(1 << 30);
        let rolls = rolling.rolled.iter().filter(|did| **did).count();
        println!(
            "round {round}: {rolls} rolls; slowest rolling append {:?}, slowest other {:?}, p99.9 {:?}; \
             without rolls: p99.9 {:?}, slowest {:?}",
            slowest(&rolling, true),
            slowest(&rolling, false),
            percentile(&rolling.latencies, 999),
            percentile(&flat.latencies, 999),
            slowest(&flat, false),
        );
        roll_max.push(slowest(&rolling, true));
        other_max.push(slowest(&rolling, false));
        rolling_p999.push(percentile(&rolling.latencies, 999));
        flat_p999.push(percentile(&flat.latencies, 999));
        flat_max.push(slowest(&flat, false));
    }
    println!("\n== single appends of 256 B, 64 MiB segments, {rounds} rounds: median [range] ==");
    println!(
        "slowest append that rolled a segment: {}",
        median_and_range(&mut roll_max)
    );
    println!(
        "slowest append that did not:          {}",
        median_and_range(&mut other_max)
    );
    println!(
        "p99.9, rolling log:                   {}",
        median_and_range(&mut rolling_p999)
    );
    println!(
        "p99.9, log that never rolls:          {}",
        median_and_range(&mut flat_p999)
    );
    println!(
        "slowest append, log that never rolls: {}",
        median_and_range(&mut flat_max)
    );
}
