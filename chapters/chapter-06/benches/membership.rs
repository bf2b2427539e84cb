//! How fast does news of a member travel, on loopback, with the default
//! timings (gossip every 100 ms, phi threshold 8)?
//!
//! `cargo bench -p chapter-06 --bench membership` times three things, each
//! over at least [`RUNS`] runs (criterion's samples, one run each), and ends
//! with a summary of medians and ranges:
//!
//! 1. **`join_all_see_all`**: from starting three members (the second and
//!    third joining the first) to each of the three seeing all three.
//! 2. **`leave_to_left`**: in a three-member cluster, from a member calling
//!    `leave()` to another's subscriber hearing `Left`.
//! 3. **`kill_9_to_failed`**: in a three-member cluster that has gossiped
//!    for [`SETTLE`] (so the failure detector has measured how often news
//!    arrives), from `kill -9` of one member's *process* to another's
//!    subscriber hearing `Failed`.
//!
//! Each run is a fresh cluster with its own cluster id, on free ports of
//! 127.0.0.1; nothing is shared between runs. The member killed in (3) is
//! this bench binary, started again as a member
//! (`chapter_06::testing::run_member_if_asked`). Under `cargo test
//! --benches` each runs once, as a smoke test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chapter_06::testing::{
    MemberProcess, PATIENCE, member_config, next_event_about, run_member_if_asked,
    unique_cluster_id, wait_for_members,
};
use chapter_06::{Membership, MembershipEvent};
use criterion::{Criterion, SamplingMode};
use tokio::runtime::Runtime;

/// The number of runs of each measurement (criterion's smallest sample count).
const RUNS: usize = 10;
/// How long a cluster gossips before one of its members is killed.
const SETTLE: Duration = Duration::from_secs(2);

/// The durations measured, by name, for the summary.
type Measured = Arc<Mutex<Vec<(&'static str, Duration)>>>;

fn main() {
    run_member_if_asked();
    let runtime = Runtime::new().unwrap();
    let measured = Measured::default();
    let mut criterion = Criterion::default()
        .sample_size(RUNS)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1))
        .configure_from_args();
    let mut group = criterion.benchmark_group("membership");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("join_all_see_all", |bencher| {
        bencher.to_async(&runtime).iter_custom(|iters| {
            let measured = Arc::clone(&measured);
            async move { repeat(iters, "join_all_see_all", &measured, join_all_see_all).await }
        });
    });
    group.bench_function("leave_to_left", |bencher| {
        bencher.to_async(&runtime).iter_custom(|iters| {
            let measured = Arc::clone(&measured);
            async move { repeat(iters, "leave_to_left", &measured, leave_to_left).await }
        });
    });
    group.bench_function("kill_9_to_failed", |bencher| {
        bencher.to_async(&runtime).iter_custom(|iters| {
            let measured = Arc::clone(&measured);
            async move { repeat(iters, "kill_9_to_failed", &measured, kill_9_to_failed).await }
        });
    });
    group.finish();
    criterion.final_summary();
    summary(&measured.lock().unwrap());
}

/// Runs `once` `iters` times, records each duration, and returns their sum.
async fn repeat<F, Fut>(iters: u64, name: &'static str, measured: &Measured, once: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = Duration>,
{
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let took = once().await;
        measured.lock().unwrap().push((name, took));
        total += took;
    }
    total
}

/// From starting three members to all three seeing all three.
async fn join_all_see_all() -> Duration {
    let cluster = unique_cluster_id();
    let configs = {
        let a = member_config("a", &cluster, &[]);
        let seed = [a.gossip_addr];
        [
            a,
            member_config("b", &cluster, &seed),
            member_config("c", &cluster, &seed),
        ]
    };
    let started = Instant::now();
    let mut members = Vec::new();
    for config in configs {
        members.push(Membership::start(config).await.unwrap());
    }
    let all = ["a", "b", "c"];
    tokio::join!(
        wait_for_members(&members[0], &all, PATIENCE),
        wait_for_members(&members[1], &all, PATIENCE),
        wait_for_members(&members[2], &all, PATIENCE),
    );
    started.elapsed()
}

/// A three-member cluster in which every member sees all three.
async fn three(cluster: &str) -> (Membership, Membership, Membership) {
    let a = Membership::start(member_config("a", cluster, &[]))
        .await
        .unwrap();
    let seed = [a.local().gossip_addr];
    let b = Membership::start(member_config("b", cluster, &seed))
        .await
        .unwrap();
    let c = Membership::start(member_config("c", cluster, &seed))
        .await
        .unwrap();
    for member in [&a, &b, &c] {
        wait_for_members(member, &["a", "b", "c"], PATIENCE).await;
    }
    (a, b, c)
}

/// From `leave()` to another member's subscriber hearing `Left`.
async fn leave_to_left() -> Duration {
    let (a, _b, c) = three(&unique_cluster_id()).await;
    let mut events = a.subscribe();
    assert!(matches!(
        next_event_about(&mut events, "c", PATIENCE).await,
        MembershipEvent::Joined(_)
    ));
    let started = Instant::now();
    let leaving = tokio::spawn(c.leave());
    let event = next_event_about(&mut events, "c", PATIENCE).await;
    let took = started.elapsed();
    assert!(matches!(event, MembershipEvent::Left(_)), "{event:?}");
    leaving.await.unwrap().unwrap();
    took
}

/// From kill -9 of a member process to another member's subscriber hearing `Failed`.
async fn kill_9_to_failed() -> Duration {
    let cluster = unique_cluster_id();
    let a = Membership::start(member_config("a", &cluster, &[]))
        .await
        .unwrap();
    let seed = [a.local().gossip_addr];
    let _b = Membership::start(member_config("b", &cluster, &seed))
        .await
        .unwrap();
    let c = MemberProcess::start(&member_config("c", &cluster, &seed));
    wait_for_members(&a, &["a", "b", "c"], PATIENCE).await;
    tokio::time::sleep(SETTLE).await;
    let mut events = a.subscribe();
    assert!(matches!(
        next_event_about(&mut events, "c", PATIENCE).await,
        MembershipEvent::Joined(_)
    ));
    let started = Instant::now();
    c.kill();
    let event = next_event_about(&mut events, "c", PATIENCE).await;
    let took = started.elapsed();
    assert!(matches!(event, MembershipEvent::Failed(_)), "{event:?}");
    took
}

/// The median and range of every measurement, in milliseconds.
fn summary(measured: &[(&'static str, Duration)]) {
    println!("\nmembership on loopback (gossip 100 ms, phi 8): median [min-max] over n runs");
    for name in ["join_all_see_all", "leave_to_left", "kill_9_to_failed"] {
        let mut runs: Vec<f64> = measured
            .iter()
            .filter(|(measured, _)| *measured == name)
            .map(|(_, took)| took.as_secs_f64() * 1000.0)
            .collect();
        if runs.is_empty() {
            continue;
        }
        runs.sort_by(f64::total_cmp);
        let median = if runs.len() % 2 == 1 {
            runs[runs.len() / 2]
        } else {
            (runs[runs.len() / 2 - 1] + runs[runs.len() / 2]) / 2.0
        };
        println!(
            "  {name:<18} {median:7.0} ms [{:.0}-{:.0}] n={}",
            runs[0],
            runs[runs.len() - 1],
            runs.len()
        );
    }
}
