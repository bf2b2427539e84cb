//! What does authorization cost?
//!
//! `cargo bench -p chapter-04 --bench authorization` times this chapter's
//! server ([`chapter_04::serve`]: chapter 3's mutual-TLS server with the
//! [`AuthorizationLayer`](chapter_04::AuthorizationLayer) in front, asking
//! a [`CasbinAuthorizer`] loaded from `policies/`) beside chapter 3's server
//! without the layer ([`chapter_03::serve_tls`]), in the same run, and ends
//! with a summary table.
//!
//! Why chapter 3's server is the baseline: everything else is the same (the
//! certificates in `certs/`, the client `root`, the service, a real
//! [`chapter_01::Log`] with `Config::default()` in a temporary directory),
//! so the gap between the two is the layer: for every call, reading the
//! method from the path, the caller's identity from the request's
//! extensions, and one casbin decision. The layer runs once per *call*, not
//! per message, so a stream pays it once for all its records, and a unary
//! call pays it every time.
//!
//! The measurements, in the order they run, and what each figure means:
//!
//! 1. **`acl_authorize`** (criterion): one `CasbinAuthorizer::authorize`
//!    decision (`root`, `*`, `produce`), alone: the layer's own work, the
//!    part of each call's time the layer adds.
//! 2. **Unary, interleaved** (a timed loop): sequential `Produce` calls of
//!    one [`RECORD_BYTES`]-byte record on one connection, the two servers in
//!    alternating rounds of [`LATENCY_ROUND`] calls so both meet the same
//!    moods of the machine: calls per second (calls / summed call times),
//!    p50 and p99 of [`LATENCY_CALLS`] calls each.
//! 3. **`acl_produce`** (criterion): the same calls, calls per second.
//! 4. **`acl_produce_stream`** (criterion): one `ProduceStream` call sending
//!    [`STREAM_RECORDS`] records as fast as the client can, timed until the
//!    last response has arrived: records per second.
//! 5. **Streams, interleaved** (a timed loop): the same streams again,
//!    [`STREAM_ROUNDS`] per server, the two servers taking turns: the median
//!    of the streams' rates.
//!
//! The summary gives each server's median figure, the ratio (with ACL /
//! without) and the layer's cost (1 - ratio). The targets are judged on the
//! interleaved figures. Criterion times one server for a few seconds, then
//! the other: on a shared machine a bad minute lands on one side only, and
//! a cost of a few percent is smaller than the difference between two
//! minutes. Taking turns spreads the bad minutes over both sides; the
//! criterion figures are printed beside them, and agree on a quiet machine.
//! Criterion figures are the median over its samples of (elements / sample
//! time). A log is replaced by a fresh one (untimed) before it would take
//! more than [`LOG_RECORDS`] records, so no segment roll is timed. Under
//! `cargo test --benches` everything runs once, small, as a smoke test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chapter_01::Config;
use chapter_02::api::v1::log_client::LogClient;
use chapter_02::api::v1::{ProduceRequest, Record};
use chapter_03::client::connect_with_config;
use chapter_03::{ServerTlsFiles, client_config, server_config};
use chapter_04::{Authorizer, CasbinAuthorizer, OBJECT_LOG};
use criterion::{Criterion, SamplingMode, Throughput};
use rustls::{ClientConfig, ServerConfig};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// The size of every record's value: a small event.
const RECORD_BYTES: usize = 256;
/// Records sent by one `ProduceStream` call (one criterion iteration).
const STREAM_RECORDS: u64 = 200_000;
/// A log is replaced before it would hold more records than this (fewer
/// than one segment's 873,813, so no segment roll is timed).
const LOG_RECORDS: u64 = 800_000;
/// Calls timed one by one in the interleaved unary loop, per server.
const LATENCY_CALLS: usize = 10_000;
/// The unary loop alternates the servers in rounds of this many calls.
const LATENCY_ROUND: usize = 500;
/// Calls made, and not counted, before the unary loop counts.
const WARM_UP: usize = 200;
/// Criterion samples of each benchmark.
const SAMPLES: usize = 10;
/// Streams per server in the interleaved stream loop.
const STREAM_ROUNDS: usize = 10;

/// A repository file, from this crate's directory.
fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// A running server, its client, and how many records its log has taken.
struct Running {
    client: LogClient<Channel>,
    appended: u64,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
    _dir: TempDir,
}

/// One of the two servers, started when first needed and replaced by a
/// fresh one (a new, empty log) when its log is full.
struct Target {
    name: &'static str,
    /// The layer's authorizer; chapter 3's server without it.
    acl: Option<Arc<CasbinAuthorizer>>,
    tls: (Arc<ServerConfig>, Arc<ClientConfig>),
    runtime: Handle,
    running: Option<Running>,
}

impl Target {
    async fn start(&self) -> Running {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let stop = async move {
            let _ = stop.await;
        };
        let dir = tempfile::tempdir().unwrap();
        let log = chapter_01::Log::open(dir.path(), Config::default()).unwrap();
        let (tls, acl) = (Arc::clone(&self.tls.0), self.acl.clone());
        let server = self.runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            match acl {
                None => chapter_03::serve_tls(listener, log, tls, stop)
                    .await
                    .unwrap(),
                Some(acl) => chapter_04::serve(listener, log, tls, acl, stop)
                    .await
                    .unwrap(),
            }
        });
        let client = connect_with_config(addr, Arc::clone(&self.tls.1), "localhost")
            .await
            .unwrap();
        Running {
            client,
            appended: 0,
            shutdown,
            server,
            _dir: dir,
        }
    }

    /// A client of a server whose log can take `records` more records
    /// without passing [`LOG_RECORDS`] (a fresh one if needed). Never timed.
    async fn client_for(&mut self, records: u64) -> &mut LogClient<Channel> {
        if self
            .running
            .as_ref()
            .is_none_or(|running| running.appended + records > LOG_RECORDS)
        {
            self.stop().await;
            self.running = Some(self.start().await);
        }
        let running = self.running.as_mut().unwrap();
        running.appended += records;
        &mut running.client
    }

    /// `calls` sequential unary `Produce` calls: their times, one by one.
    async fn unary(&mut self, calls: usize) -> Vec<Duration> {
        let client = self.client_for(calls as u64).await;
        let mut times = Vec::with_capacity(calls);
        for _ in 0..calls {
            let start = Instant::now();
            client.produce(produce_request()).await.unwrap();
            times.push(start.elapsed());
        }
        times
    }

    /// `iters` `ProduceStream` calls of `records` records each, timed.
    async fn streams(&mut self, iters: u64, records: u64) -> Duration {
        let mut time = Duration::ZERO;
        for _ in 0..iters {
            let client = self.client_for(records).await;
            let start = Instant::now();
            let requests = tokio_stream::iter((0..records).map(|_| produce_request()));
            let mut responses = client.produce_stream(requests).await.unwrap().into_inner();
            let mut received = 0;
            while responses.message().await.unwrap().is_some() {
                received += 1;
            }
            time += start.elapsed();
            assert_eq!(received, records, "one response per request");
        }
        time
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            drop(running.client);
            let _ = running.shutdown.send(());
            running.server.await.unwrap();
        }
    }
}

fn produce_request() -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value: vec![0xAB; RECORD_BYTES],
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

/// The median rate (elements per second) of timed (iterations, time) samples.
fn median_rate(samples: &[(u64, Duration)], elements_per_iter: u64) -> f64 {
    let mut rates: Vec<f64> = samples
        .iter()
        .map(|(iters, time)| (iters * elements_per_iter) as f64 / time.as_secs_f64())
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The `p`-th percentile (0 < p <= 100) of `durations`, nearest rank.
fn percentile(durations: &[Duration], p: f64) -> Duration {
    let mut sorted = durations.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let load_at_start = load_average();
    // `cargo test --benches`: run everything once, small.
    let (stream_records, stream_rounds, latency_calls) = match benchmarking {
        true => (STREAM_RECORDS, STREAM_ROUNDS, LATENCY_CALLS),
        false => (1_000, 1, 100),
    };

    let server_runtime = runtime("server");
    let client_runtime = runtime("client");
    let certs = repo("certs");
    let server_tls = server_config(&ServerTlsFiles {
        cert: certs.join("server.pem"),
        key: certs.join("server-key.pem"),
        client_ca: certs.join("ca.pem"),
    })
    .unwrap();
    let (cert, key) = (
        certs.join("root-client.pem"),
        certs.join("root-client-key.pem"),
    );
    let client_tls = client_config(&certs.join("ca.pem"), Some((&cert, &key))).unwrap();
    let authorizer = Arc::new(
        client_runtime
            .block_on(CasbinAuthorizer::open(
                repo("policies/model.conf"),
                repo("policies/policy.csv"),
            ))
            .unwrap(),
    );
    assert!(
        authorizer.authorize("root", OBJECT_LOG, "produce").unwrap(),
        "the policy lets root produce"
    );
    let target = |name, acl: Option<&Arc<CasbinAuthorizer>>| Target {
        name,
        acl: acl.cloned(),
        tls: (Arc::clone(&server_tls), Arc::clone(&client_tls)),
        runtime: server_runtime.handle().clone(),
        running: None,
    };
    let mut targets = [target("mtls", None), target("mtls_acl", Some(&authorizer))];

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    // (iterations, time) of every call criterion makes to a routine; the
    // last SAMPLES are its samples (the others are its warm-up).
    let mut decisions = Vec::new();
    let mut unary_samples: [Vec<(u64, Duration)>; 2] = Default::default();
    let mut stream_samples: [Vec<(u64, Duration)>; 2] = Default::default();
    let last =
        |samples: &[(u64, Duration)], n: usize| samples[samples.len().saturating_sub(n)..].to_vec();

    // 1. The layer's own work: one decision.
    criterion.bench_function("acl_authorize", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let subject = std::hint::black_box("root");
                std::hint::black_box(authorizer.authorize(subject, OBJECT_LOG, "produce")).unwrap();
            }
            let time = start.elapsed();
            decisions.push((iters, time));
            time
        })
    });

    // 2. Unary calls, the two servers taking turns.
    let mut unary: [Vec<Duration>; 2] = Default::default();
    client_runtime.block_on(async {
        for target in &mut targets {
            target.unary(WARM_UP).await;
        }
        let round = LATENCY_ROUND.min(latency_calls);
        for _ in 0..latency_calls.div_ceil(round) {
            for (target, times) in targets.iter_mut().zip(&mut unary) {
                times.extend(target.unary(round).await);
            }
        }
    });

    // 3 and 4: criterion's unary calls and streams. Each sample's future
    // borrows the target mutably, so it runs to completion inside
    // criterion's (synchronous) timing routine.
    let mut group = criterion.benchmark_group("acl_produce");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(SAMPLES)
        .measurement_time(Duration::from_secs(4));
    for (target, samples) in targets.iter_mut().zip(&mut unary_samples) {
        group.bench_function(target.name, |b| {
            b.iter_custom(|iters| {
                let times = client_runtime.block_on(target.unary(iters as usize));
                let time = times.iter().sum();
                samples.push((iters, time));
                time
            })
        });
    }
    group.finish();
    let mut group = criterion.benchmark_group("acl_produce_stream");
    group
        .throughput(Throughput::Elements(stream_records))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(SAMPLES)
        .measurement_time(Duration::from_secs(5));
    for (target, samples) in targets.iter_mut().zip(&mut stream_samples) {
        group.bench_function(target.name, |b| {
            b.iter_custom(|iters| {
                let time = client_runtime.block_on(target.streams(iters, stream_records));
                samples.push((iters, time));
                time
            })
        });
    }
    group.finish();
    criterion.final_summary();

    // 5. The same streams, the two servers taking turns: each stream's (1, time).
    let mut stream_turns: [Vec<(u64, Duration)>; 2] = Default::default();
    client_runtime.block_on(async {
        for _ in 0..stream_rounds {
            for (target, turns) in targets.iter_mut().zip(&mut stream_turns) {
                turns.push((1, target.streams(1, stream_records).await));
            }
        }
        for target in &mut targets {
            target.stop().await;
        }
    });

    // The summary: the targets are judged on the interleaved figures.
    let calls_per_second =
        |times: &[Duration]| times.len() as f64 / times.iter().sum::<Duration>().as_secs_f64();
    let rows = [
        (
            "ProduceStream records/s, interleaved",
            stream_turns
                .each_ref()
                .map(|turns| median_rate(turns, stream_records)),
            Some(0.10),
        ),
        (
            "ProduceStream records/s, criterion",
            stream_samples
                .each_ref()
                .map(|samples| median_rate(&last(samples, SAMPLES), stream_records)),
            None,
        ),
        (
            "Produce calls/s, interleaved",
            unary.each_ref().map(|times| calls_per_second(times)),
            Some(0.15),
        ),
        (
            "Produce calls/s, criterion",
            unary_samples
                .each_ref()
                .map(|samples| median_rate(&last(samples, SAMPLES), 1)),
            None,
        ),
    ];
    println!();
    println!(
        "== Summary: the authorization layer's cost, mTLS on loopback, {RECORD_BYTES}-byte records =="
    );
    println!(
        "(load average at start / end: {load_at_start} / {}; {} cores; {stream_records} records/stream)",
        load_average(),
        std::thread::available_parallelism().map_or(0, |cores| cores.get())
    );
    println!();
    println!(
        "{:<38} {:>12} {:>12} {:>7} {:>7} {:>13}",
        "median", "mTLS", "mTLS + ACL", "ratio", "cost", "target"
    );
    for (name, [without, with], max_cost) in rows {
        let cost = 1.0 - with / without;
        let verdict = match max_cost {
            Some(max_cost) if cost <= max_cost => format!("<={:.0}% met", 100.0 * max_cost),
            Some(max_cost) => format!("<={:.0}% MISSED", 100.0 * max_cost),
            None => String::new(),
        };
        println!(
            "{name:<38} {without:>12.0} {with:>12.0} {:>6.2}x {:>6.1}% {verdict:>13}",
            with / without,
            100.0 * cost,
        );
    }
    let p50_p99 = |times: &[Duration]| {
        format!(
            "{:.0} / {:.0} µs",
            percentile(times, 50.0).as_secs_f64() * 1e6,
            percentile(times, 99.0).as_secs_f64() * 1e6
        )
    };
    println!(
        "{:<38} {:>12} {:>12}",
        "Produce p50 / p99, interleaved",
        p50_p99(&unary[0]),
        p50_p99(&unary[1]),
    );
    println!(
        "one casbin decision alone (criterion median): {:.2} µs",
        1e6 / median_rate(&last(&decisions, 100), 1)
    );
}
