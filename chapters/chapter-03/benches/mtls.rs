//! What does mutual TLS cost?
//!
//! `cargo bench -p chapter-03 --bench mtls` times chapter 2's service in
//! plaintext beside the *same* service over mutual TLS, in the same run (so
//! both meet the same moods of the machine), and ends with a summary table.
//!
//! Why plaintext is the baseline: the service does not change at all in this
//! chapter, only where its connections come from ([`serve_tls_service`]
//! hands tonic TLS connections instead of TCP ones). So the gap between the
//! two is exactly what the encryption, the handshake and the TLS framing
//! cost, and nothing else.
//!
//! The servers:
//!
//! * **`plaintext`**: [`chapter_02::serve_service`] over a `TcpIncoming` on
//!   `127.0.0.1:0`, as chapter 2 serves it.
//! * **`mtls`**: [`serve_tls_service`] with the committed development
//!   certificates (`certs/`: an ECDSA P-256 server certificate for
//!   `localhost`, and the client `root`).
//!
//! Both serve a real [`chapter_01::Log`] with `Config::default()` (the OS
//! decides when to write back; no fsync) in a temporary directory. Two bare
//! **echo** servers (the generated `Log` trait answering at once, storing
//! nothing), one in plaintext and one over mutual TLS, show what the
//! transport alone can carry. Each server runs on its own tokio runtime (two
//! worker threads), the clients on another, as separate processes would;
//! they still share the machine's two cores.
//!
//! The measurements, in the order they run, and what each figure means:
//!
//! 1. **New connection** (a timed loop): a new client connects and makes one
//!    tiny call (a `Consume` of one record); the time from "connect" to its
//!    answer. Three kinds of client take turns, [`CONNECTIONS`] of each:
//!    `plaintext` (TCP and HTTP/2 set-up), `mTLS, full handshake` (a client
//!    with no session to resume, as a newly started process: certificates
//!    sent, checked and signed for on both sides), and `mTLS, resumed` (a
//!    client that reconnects with a TLS 1.3 session ticket the server gave it
//!    last time: no certificates, only a key exchange). Why the first call
//!    too: under TLS 1.3 the client sends its certificate in its second
//!    flight, so the server's verdict, and HTTP/2's own set-up, only finish
//!    with the first request. The median is the typical cost; the mTLS
//!    median minus the plaintext one is the handshake's price.
//! 2. **Unary latency** (a timed loop): sequential `Produce` calls of one
//!    [`RECORD_BYTES`]-byte record on an open connection, plaintext and mTLS
//!    in alternating rounds of [`LATENCY_ROUND`] calls, each call timed:
//!    p50 and p99 of [`LATENCY_CALLS`] calls each, and calls per second
//!    (calls / summed call times). Here TLS costs only the encryption of
//!    two small messages per call.
//! 3. **`tls_produce_stream`** (criterion): one `ProduceStream` call sending
//!    [`STREAM_RECORDS`] records of [`RECORD_BYTES`] bytes as fast as the
//!    client can, timed until the last response has arrived: records per
//!    second, for the log (`plaintext`, `mtls`) and the echo (`echo_plaintext`,
//!    `echo_mtls`). This is where the bytes are: at a million records per
//!    second, about 270 MB of requests per second towards the server (and
//!    10 MB of responses back), every byte encrypted and authenticated on
//!    both sides (TLS 1.3 with AES-256-GCM, the first suite rustls offers,
//!    done with the CPU's AES instructions).
//! 4. **Interleaved streams** (a timed loop): the same streams again,
//!    [`STREAM_ROUNDS`] per server, plaintext and mTLS taking turns (and the
//!    two echoes likewise). Criterion times one server for a few seconds,
//!    then the next: a bad minute of the machine lands on one side only and
//!    makes the ratio lie. Taking turns spreads it over both, so the
//!    target is judged on these figures; criterion's are beside them.
//!
//! Things to know when reading the figures:
//!
//! * Each throughput figure is the median of its samples' rates (records
//!   in the sample / time of the sample: one stream per sample in the
//!   interleaved loop, criterion's samples otherwise), with the slowest and
//!   fastest sample beside it. The ratio is mTLS / plaintext.
//! * A log is replaced by a fresh, empty one (untimed) before it would take
//!   more than [`LOG_RECORDS`] records: below the 873,813 records a segment's
//!   10 MiB index holds, so no segment roll (which syncs a whole store file)
//!   is ever timed. Chapter 2's benchmark shows what a roll costs.
//! * Compare figures of one run with each other, not across runs or
//!   machines, and run it a few times: a shared machine has bad minutes. The
//!   summary prints the load average at the start and the end: above the
//!   number of cores, other processes were competing for them.
//! * Under `cargo test --benches` (no `--bench` flag) everything runs once,
//!   with small counts, as a smoke test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chapter_01::Config;
use chapter_02::api::v1::log_client::LogClient;
use chapter_02::api::v1::log_server::LogServer;
// The `Log` service with no log: the baseline (see `chapter_02::echo`).
use chapter_02::api::v1::{ConsumeRequest, ProduceRequest, Record};
use chapter_02::echo::EchoService as Echo;
use chapter_02::{FollowableLog, LogService, ServiceConfig, serve_service};
use chapter_03::client::connect_with_config;
use chapter_03::server::serve_tls_service;
use chapter_03::{ServerTlsFiles, client_config, server_config, tls_incoming};
use criterion::{Criterion, SamplingMode, Throughput};
use rustls::client::Resumption;
use rustls::{ClientConfig, ServerConfig};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::{Router, TcpIncoming};
use tonic::transport::{Channel, Server};

/// The size of every record's value: a small event.
const RECORD_BYTES: usize = 256;
/// Records sent by one `ProduceStream` call (one criterion iteration).
const STREAM_RECORDS: u64 = 200_000;
/// A log is replaced before it would hold more records than this (fewer
/// than one segment holds, so no segment roll is timed).
const LOG_RECORDS: u64 = 800_000;
/// New clients of each kind timed in the connection loop.
const CONNECTIONS: usize = 200;
/// Calls timed one by one for the unary percentiles, per server.
const LATENCY_CALLS: usize = 5_000;
/// The unary loop alternates the servers in rounds of this many calls.
const LATENCY_ROUND: usize = 500;
/// Calls (or connections) made, and not counted, before a loop counts.
const WARM_UP: usize = 20;
/// Criterion samples of the stream benchmarks.
const STREAM_SAMPLES: usize = 10;
/// Streams per server in the interleaved stream loop.
const STREAM_ROUNDS: usize = 10;

// ---------------------------------------------------------------------------
// The echo server: the transport alone
// ---------------------------------------------------------------------------

fn echo_router() -> Router {
    Server::builder().add_service(LogServer::new(Echo::default()))
}

// ---------------------------------------------------------------------------
// The servers under test
// ---------------------------------------------------------------------------

/// Both ends of mutual TLS, from the committed development certificates.
#[derive(Clone)]
struct Tls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl Tls {
    fn development() -> Tls {
        let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs");
        let server = server_config(&ServerTlsFiles {
            cert: certs.join("server.pem"),
            key: certs.join("server-key.pem"),
            client_ca: certs.join("ca.pem"),
        })
        .unwrap();
        let (cert, key) = (
            certs.join("root-client.pem"),
            certs.join("root-client-key.pem"),
        );
        let client = client_config(&certs.join("ca.pem"), Some((&cert, &key))).unwrap();
        Tls { server, client }
    }
}

/// A new client of the server at `addr`: plaintext without `tls`, mutual
/// TLS (as `root`, expecting the server to be `localhost`) with it.
async fn connect(addr: SocketAddr, tls: Option<&Arc<ClientConfig>>) -> LogClient<Channel> {
    match tls {
        None => chapter_02::connect(addr).await.unwrap(),
        Some(tls) => connect_with_config(addr, Arc::clone(tls), "localhost")
            .await
            .unwrap(),
    }
}

/// One running server and a client connected to it.
struct Running {
    addr: SocketAddr,
    client: LogClient<Channel>,
    /// Records produced since this server (and its log) started.
    appended: u64,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
    /// The log's directory (none for an echo), deleted with the server.
    _dir: Option<TempDir>,
}

/// A kind of server, started when first needed and replaced by a fresh one
/// when its log is full.
struct Target {
    name: &'static str,
    /// Echo (no log) or the real service.
    echo: bool,
    /// Plaintext when `None`.
    tls: Option<Tls>,
    /// The servers' runtime (not the clients').
    runtime: Handle,
    running: Option<Running>,
}

impl Target {
    fn new(name: &'static str, echo: bool, tls: Option<Tls>, runtime: Handle) -> Target {
        Target {
            name,
            echo,
            tls,
            runtime,
            running: None,
        }
    }

    async fn start(&self) -> Running {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let stop = async move {
            let _ = stop.await;
        };
        let dir = (!self.echo).then(|| tempfile::tempdir().unwrap());
        let service = dir.as_ref().map(|dir| {
            let log = chapter_01::Log::open(dir.path(), Config::default()).unwrap();
            LogService::new(Arc::new(FollowableLog::new(log)), ServiceConfig::default()).unwrap()
        });
        let server_tls = self.tls.as_ref().map(|tls| Arc::clone(&tls.server));
        // Spawned on the servers' runtime: the TLS accept loop and tonic's
        // connection tasks run there.
        let server = self.runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            match (service, server_tls) {
                (Some(service), None) => serve_service(listener, service, stop).await.unwrap(),
                (Some(service), Some(tls)) => serve_tls_service(listener, service, tls, stop)
                    .await
                    .unwrap(),
                // The same transport settings as the service's servers.
                (None, None) => {
                    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                    echo_router()
                        .serve_with_incoming_shutdown(incoming, stop)
                        .await
                        .unwrap();
                }
                (None, Some(tls)) => echo_router()
                    .serve_with_incoming_shutdown(tls_incoming(listener, tls), stop)
                    .await
                    .unwrap(),
            }
        });
        let client = connect(addr, self.tls.as_ref().map(|tls| &tls.client)).await;
        Running {
            addr,
            client,
            appended: 0,
            shutdown,
            server,
            _dir: dir,
        }
    }

    /// The running server, replaced first if its log cannot take `records`
    /// more without passing [`LOG_RECORDS`]. Never timed.
    async fn ready_for(&mut self, records: u64) -> &mut Running {
        let full = self.running.as_ref().is_none_or(|running| {
            !self.echo && running.appended > 0 && running.appended + records > LOG_RECORDS
        });
        if full {
            self.stop().await;
            self.running = Some(self.start().await);
        }
        let running = self.running.as_mut().unwrap();
        running.appended += records;
        running
    }

    /// `iters` `ProduceStream` calls of `records` records each, timed.
    async fn streams(&mut self, iters: u64, records: u64) -> Duration {
        let mut time = Duration::ZERO;
        for _ in 0..iters {
            let running = self.ready_for(records).await;
            let start = Instant::now();
            produce_stream(&mut running.client, records).await;
            time += start.elapsed();
        }
        time
    }

    /// Stops the server: it drains, syncs its log, and its directory goes.
    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            drop(running.client);
            let _ = running.shutdown.send(());
            running.server.await.unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// What the clients do
// ---------------------------------------------------------------------------

fn produce_request() -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value: vec![0xAB; RECORD_BYTES],
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

/// One unary `Produce` of a [`RECORD_BYTES`]-byte record; its offset.
async fn produce_one(client: &mut LogClient<Channel>) -> u64 {
    client
        .produce(produce_request())
        .await
        .unwrap()
        .into_inner()
        .offset
}

/// Sends `records` records in one `ProduceStream` and reads every response.
async fn produce_stream(client: &mut LogClient<Channel>, records: u64) {
    // Built lazily, as tonic asks for them: a 256-byte allocation per
    // request, far below a request's cost.
    let requests = tokio_stream::iter((0..records).map(|_| produce_request()));
    let mut responses = client.produce_stream(requests).await.unwrap().into_inner();
    let mut received = 0;
    while responses.message().await.unwrap().is_some() {
        received += 1;
    }
    assert_eq!(received, records, "one response per request");
}

/// Connect-and-first-call times of new clients, the three kinds taking
/// turns: `[plaintext, mTLS full handshake, mTLS resumed session]`.
async fn connection_times(
    plaintext: &mut Target,
    mtls: &mut Target,
    count: usize,
) -> [Vec<Duration>; 3] {
    // A record for the first call to read, on each server.
    let plaintext = plaintext.ready_for(1).await;
    let plaintext = (plaintext.addr, produce_one(&mut plaintext.client).await);
    let shared = Arc::clone(&mtls.tls.as_ref().unwrap().client);
    let mtls = mtls.ready_for(1).await;
    let mtls = (mtls.addr, produce_one(&mut mtls.client).await);
    // A client that has never talked to this server: no session to resume.
    let mut fresh = (*shared).clone();
    fresh.resumption = Resumption::disabled();
    let fresh = Arc::new(fresh);
    // The shared configuration keeps the session tickets the server sends
    // (rustls's default: an in-memory cache), so each new connection
    // resumes the previous one's session.
    let kinds = [
        (plaintext, None),
        (mtls, Some(&fresh)),
        (mtls, Some(&shared)),
    ];

    let mut times: [Vec<Duration>; 3] = Default::default();
    for round in 0..WARM_UP + count {
        for (((addr, offset), tls), times) in kinds.iter().zip(&mut times) {
            let start = Instant::now();
            let mut client = connect(*addr, *tls).await;
            client
                .consume(ConsumeRequest { offset: *offset })
                .await
                .unwrap();
            let elapsed = start.elapsed();
            if round >= WARM_UP {
                times.push(elapsed);
            }
        }
    }
    times
}

/// `rounds` streams of `records` records on each target, the two taking
/// turns: each stream's (1, time).
async fn interleaved_streams(
    mut targets: [&mut Target; 2],
    rounds: usize,
    records: u64,
) -> [Vec<(u64, Duration)>; 2] {
    let mut times: [Vec<(u64, Duration)>; 2] = Default::default();
    for _ in 0..rounds {
        for (target, times) in targets.iter_mut().zip(&mut times) {
            times.push((1, target.streams(1, records).await));
        }
    }
    times
}

/// Unary `Produce` latencies of each target, in alternating rounds so that
/// all meet the same moods of the machine.
async fn unary_latencies(mut targets: [&mut Target; 2], calls: usize) -> [Vec<Duration>; 2] {
    let mut latencies: [Vec<Duration>; 2] = Default::default();
    let round = LATENCY_ROUND.min(calls);
    for round_number in 0..=calls.div_ceil(round) {
        // Round 0 is a warm-up.
        let counted = round_number > 0;
        let calls = if counted { round } else { WARM_UP };
        for (target, latencies) in targets.iter_mut().zip(&mut latencies) {
            let running = target.ready_for(calls as u64).await;
            for _ in 0..calls {
                let start = Instant::now();
                produce_one(&mut running.client).await;
                if counted {
                    latencies.push(start.elapsed());
                }
            }
        }
    }
    latencies
}

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

/// The median, lowest and highest rate (records per second) of timed
/// (iterations, time) samples.
fn rates(samples: &[(u64, Duration)], records_per_iter: u64) -> Option<[f64; 3]> {
    let mut rates: Vec<f64> = samples
        .iter()
        .map(|(iters, time)| (iters * records_per_iter) as f64 / time.as_secs_f64())
        .collect();
    rates.sort_by(f64::total_cmp);
    let median = *rates.get(rates.len() / 2)?;
    Some([median, rates[0], rates[rates.len() - 1]])
}

/// The `p`-th percentile (0 < p <= 100) of `durations`, nearest rank.
fn percentile(durations: &[Duration], p: f64) -> Duration {
    let mut sorted = durations.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

/// `1234567.8` as `1,234,568`.
fn grouped(rate: f64) -> String {
    let digits = format!("{rate:.0}");
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// The machine's 1-minute load average (Linux), or `?`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

fn main() {
    // chapter 3 builds its configurations with ring explicitly; installing
    // it as the process default too keeps anything else from guessing.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let load_at_start = load_average();
    // `cargo test --benches`: run everything once, small.
    let (stream_records, stream_rounds, latency_calls, connections) = match benchmarking {
        true => (STREAM_RECORDS, STREAM_ROUNDS, LATENCY_CALLS, CONNECTIONS),
        false => (1_000, 1, 100, 5),
    };

    let server_runtime = runtime("server");
    let client_runtime = runtime("client");
    let tls = Tls::development();
    let target = |name, echo, tls: Option<&Tls>| {
        Target::new(name, echo, tls.cloned(), server_runtime.handle().clone())
    };
    let mut targets = [
        target("plaintext", false, None),
        target("mtls", false, Some(&tls)),
        target("echo_plaintext", true, None),
        target("echo_mtls", true, Some(&tls)),
    ];

    let [plaintext, mtls, ..] = &mut targets;
    let (connects, unary) = client_runtime.block_on(async {
        let connects = connection_times(plaintext, mtls, connections).await;
        let unary = unary_latencies([plaintext, mtls], latency_calls).await;
        (connects, unary)
    });

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    let mut group = criterion.benchmark_group("tls_produce_stream");
    group
        .throughput(Throughput::Elements(stream_records))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(STREAM_SAMPLES)
        .measurement_time(Duration::from_secs(4));
    // (iterations, time) of every call criterion makes to a routine; the
    // last STREAM_SAMPLES are its samples (the others are its warm-up).
    let mut samples: [Vec<(u64, Duration)>; 4] = Default::default();
    for (target, samples) in targets.iter_mut().zip(&mut samples) {
        // Each sample's future borrows the target mutably, so it runs to
        // completion inside criterion's (synchronous) timing routine.
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

    // The same streams again, the two servers of each pair taking turns.
    let [plaintext, mtls, echo_plaintext, echo_mtls] = &mut targets;
    let (log_turns, echo_turns) = client_runtime.block_on(async {
        (
            interleaved_streams([plaintext, mtls], stream_rounds, stream_records).await,
            interleaved_streams([echo_plaintext, echo_mtls], stream_rounds, stream_records).await,
        )
    });
    client_runtime.block_on(async {
        for target in &mut targets {
            target.stop().await;
        }
    });

    // The summary.
    println!();
    println!("== Summary: {RECORD_BYTES}-byte records on loopback, plaintext vs mutual TLS ==");
    println!(
        "(load average at start / end: {load_at_start} / {}; {} cores)",
        load_average(),
        std::thread::available_parallelism().map_or(0, |cores| cores.get())
    );
    println!();
    let criterion_rates = |samples: &[(u64, Duration)]| {
        rates(
            &samples[samples.len().saturating_sub(STREAM_SAMPLES)..],
            stream_records,
        )
    };
    let stream_row = |name: &str, [plaintext, mtls]: [Option<[f64; 3]>; 2], target: Option<f64>| {
        let cell = |rate: Option<[f64; 3]>| match rate {
            Some([median, low, high]) => {
                format!("{} ({}..{})", grouped(median), grouped(low), grouped(high))
            }
            None => "-".to_string(),
        };
        let ratio = plaintext
            .zip(mtls)
            .map(|(plaintext, mtls)| mtls[0] / plaintext[0]);
        let verdict = match (ratio, target) {
            (Some(ratio), Some(target)) if ratio >= target => format!(">={target:.1}x met"),
            (Some(_), Some(target)) => format!(">={target:.1}x MISSED"),
            _ => String::new(),
        };
        println!(
            "{name:<34} {:>33} {:>33} {:>6} {verdict}",
            cell(plaintext),
            cell(mtls),
            ratio.map_or("-".to_string(), |ratio| format!("{ratio:.2}x")),
        );
    };
    println!(
        "{:<34} {:>33} {:>33} {:>6} target",
        format!("ProduceStream ({stream_records}/stream)"),
        "plaintext",
        "mTLS",
        "ratio"
    );
    println!("records/s, median (min..max)");
    stream_row(
        "log, interleaved",
        log_turns
            .each_ref()
            .map(|turns| rates(turns, stream_records)),
        Some(0.7),
    );
    stream_row(
        "log, criterion",
        [criterion_rates(&samples[0]), criterion_rates(&samples[1])],
        None,
    );
    stream_row(
        "bare echo, interleaved",
        echo_turns
            .each_ref()
            .map(|turns| rates(turns, stream_records)),
        None,
    );
    stream_row(
        "bare echo, criterion",
        [criterion_rates(&samples[2]), criterion_rates(&samples[3])],
        None,
    );
    println!();

    println!(
        "{:<30} {:>12} {:>12} {:>12} {:>12} {:>13}",
        "unary Produce, interleaved",
        "plain p50",
        "plain p99",
        "mTLS p50",
        "mTLS p99",
        "calls/s ratio"
    );
    let calls_per_second = |latencies: &[Duration]| {
        latencies.len() as f64 / latencies.iter().sum::<Duration>().as_secs_f64()
    };
    println!(
        "{:<30} {:>12} {:>12} {:>12} {:>12} {:>12.2}x",
        format!("{latency_calls} calls each"),
        micros(percentile(&unary[0], 50.0)),
        micros(percentile(&unary[0], 99.0)),
        micros(percentile(&unary[1], 50.0)),
        micros(percentile(&unary[1], 99.0)),
        calls_per_second(&unary[1]) / calls_per_second(&unary[0]),
    );
    println!(
        "{:<30} {:>12} {:>12}",
        "  calls/s",
        grouped(calls_per_second(&unary[0])),
        grouped(calls_per_second(&unary[1])),
    );
    println!();

    println!(
        "{:<30} {:>12} {:>12} {:>12}",
        format!("connect + first call ({connections} each)"),
        "p10",
        "median",
        "p90"
    );
    let names = ["plaintext", "mTLS, full handshake", "mTLS, resumed session"];
    for (name, times) in names.iter().zip(&connects) {
        println!(
            "{name:<30} {:>12} {:>12} {:>12}",
            micros(percentile(times, 10.0)),
            micros(percentile(times, 50.0)),
            micros(percentile(times, 90.0)),
        );
    }
    let median = |times: &[Duration]| percentile(times, 50.0);
    println!(
        "full mTLS handshake costs {} more than a plaintext connection (medians)",
        micros(median(&connects[1]).saturating_sub(median(&connects[0]))),
    );
    println!();
    if let Some([echo_mtls, low, high]) = rates(&echo_turns[1], stream_records) {
        println!(
            "Baseline: bare tonic echo over mTLS, streaming {RECORD_BYTES}-byte messages: \
             {} records/s (interleaved median; {}..{})",
            grouped(echo_mtls),
            grouped(low),
            grouped(high),
        );
    }
}
