//! What does the log cost once it is behind gRPC?
//!
//! `cargo bench -p chapter-02 --bench service` times this chapter's service
//! over the real log beside an *echo* server, in the same run (so both share
//! the machine's mood), and ends with a summary table.
//!
//! The two servers, and why each is here:
//!
//! * **`echo`**: a struct implementing the same generated `Log` trait that
//!   stores nothing. `Produce` answers with a counter at once;
//!   `ProduceStream` has the real service's shape (a spawned task, a bounded
//!   channel, a `ReceiverStream`) and answers each request with one response.
//!   Same messages, same codec, same sizes, same transport (plaintext HTTP/2
//!   on loopback, `TCP_NODELAY` on both ends). Nothing that speaks this
//!   protocol through tonic can be much faster, so it is the ceiling, and the
//!   gap to it is what the log (and the work around it) costs.
//! * **`service`**: [`chapter_02::LogService`] over [`chapter_01::Log`] with
//!   `Config::default()` (`SyncPolicy::Os`: no fsync; each append is handed
//!   to the OS before it is acknowledged) in a temporary directory.
//!
//! Each server runs on its own tokio runtime (two worker threads) and the
//! clients on another, as separate processes would; they still share the
//! machine's two cores, as a client and a server on one host do.
//!
//! The measurements, in the order they run, and what each number means:
//!
//! 1. **Unary latency** (a timed loop): sequential `Produce` calls of one
//!    [`RECORD_BYTES`]-byte record, echo and service in alternating rounds
//!    of [`LATENCY_ROUND`] calls so both meet the same moods of the machine,
//!    each call timed on its own: p50 and p99 of [`LATENCY_CALLS`] calls
//!    each, and calls per second (calls / summed call times).
//! 2. **Append-to-delivery** (a timed loop, service only): a follower streams
//!    from the end of the log (`ConsumeStream` at the next offset, like
//!    `tail -f`) on its own connection, while a producer makes
//!    [`LATENCY_CALLS`] unary `Produce` calls. Each value carries its index;
//!    a record's latency runs from just before its `Produce` call to the
//!    moment the follower's client has it. Two ways: `back-to-back`, the
//!    producer sends the next record as soon as `Produce` answers (the
//!    follower must keep up with a busy producer); `paced`, the producer
//!    also waits for the follower to have the record (one lone record on an
//!    idle server). The echo server has no log to follow: its unary p50 is
//!    the floor to compare with.
//! 3. **Unary diagnostic**: the same calls through a service whose log times
//!    each `append_batch`: how small the storage part of a call is, next to
//!    the whole call.
//! 4. **`produce`** (criterion): sequential unary `Produce` calls per second,
//!    one round trip plus one append each, nothing to batch.
//! 5. **`produce_stream`** (criterion): one `ProduceStream` call sending
//!    [`STREAM_RECORDS`] records of [`RECORD_BYTES`] bytes as fast as the
//!    client can, timed until the last response has arrived: records per
//!    second. The service appends the requests that have already arrived as
//!    one batch (group commit), so this is the throughput of a busy producer.
//! 6. **Stream diagnostic**: one such stream through the timing log: how many
//!    records each group-commit batch held, and what share of the stream's
//!    time went to `append_batch`.
//!
//! The latency loops run first, on a quiet disk: the stream benchmark writes
//! gigabytes, and the kernel's work on them afterwards (writeback, freeing
//! the deleted logs) competes for the cores and shows in the tails.
//!
//! Things to know when reading the figures:
//!
//! * The summary's criterion figures are the median over criterion's samples
//!   of (elements in the sample / time of the sample). Criterion times echo
//!   and then the service, seconds apart; the unary loop alternates them
//!   every [`LATENCY_ROUND`] calls, so on a shared machine its ratio is the
//!   steadier of the two unary ratios.
//! * Every `ProduceStream` of the service starts on a fresh, empty log
//!   (making one, and syncing and deleting the old one, is not timed): the
//!   written files stay in the page cache. With `Config::default()` a
//!   segment's 10 MiB index holds 873,813 records, so each stream of a
//!   million records rolls one segment, and a roll syncs the full store
//!   (about 234 MB) inside an append, as it would in a running server. The
//!   stream diagnostic's slowest `append_batch` shows what that costs.
//! * Compare figures of one run with each other, not across runs or
//!   machines, and run it a few times: a shared machine has bad minutes. The
//!   summary prints the load average at the start and the end: above the
//!   number of cores, other processes were competing for them, and the tail
//!   latencies (p99) show it first.
//! * Under `cargo test --benches` (no `--bench` flag) everything runs once,
//!   with small counts, as a smoke test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chapter_01::{Config, SyncPolicy};
use chapter_02::api::v1::log_client::LogClient;
use chapter_02::api::v1::log_server::LogServer;
// The `Log` service with no log: the baseline (see `chapter_02::echo`).
use chapter_02::api::v1::{ConsumeRequest, ProduceRequest, Record};
use chapter_02::echo::EchoService as Echo;
use chapter_02::{CommitLog, FollowableLog, LogService, ServiceConfig, connect, serve_service};
use criterion::{Criterion, SamplingMode, Throughput};
use tempfile::TempDir;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};

/// The size of every record's value: a small event.
const RECORD_BYTES: usize = 256;
/// Records sent by one `ProduceStream` call (one criterion iteration).
const STREAM_RECORDS: u64 = 1_000_000;
/// Calls timed one by one for the unary and append-to-delivery percentiles.
const LATENCY_CALLS: usize = 10_000;
/// Unary latency alternates echo and service in rounds of this many calls.
const LATENCY_ROUND: usize = 1_000;
/// Calls made, and not counted, before a latency loop starts counting.
const LATENCY_WARM_UP: usize = 200;
/// How many records the service's log takes before it is replaced: as many
/// as one stream sends, so every stream starts on an empty log.
const RECORDS_PER_LOG: u64 = STREAM_RECORDS;

// ---------------------------------------------------------------------------
// The echo server
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// A log that counts (for the diagnostic pass only)
// ---------------------------------------------------------------------------

/// The real log, timing each `append_batch` the service makes (and counting
/// its records). Only the diagnostic passes use it; the timed benchmarks
/// serve the bare [`chapter_01::Log`].
#[derive(Debug)]
struct Counting {
    log: chapter_01::Log,
    /// (records, time) of every `append_batch`.
    appends: Mutex<Vec<(usize, Duration)>>,
}

impl Counting {
    fn new(log: chapter_01::Log) -> Counting {
        Counting {
            log,
            appends: Mutex::default(),
        }
    }
}

impl CommitLog for Counting {
    fn append_batch(&self, values: &[&[u8]]) -> chapter_02::Result<Range<u64>> {
        let start = Instant::now();
        let offsets = self.log.append_batch(values)?;
        let time = start.elapsed();
        self.appends.lock().unwrap().push((values.len(), time));
        Ok(offsets)
    }
    fn read(&self, offset: u64) -> chapter_02::Result<Vec<u8>> {
        Ok(self.log.read(offset)?)
    }
    fn lowest_offset(&self) -> u64 {
        self.log.lowest_offset()
    }
    fn next_offset(&self) -> u64 {
        self.log.next_offset()
    }
    fn sync(&self) -> chapter_02::Result<()> {
        Ok(self.log.sync()?)
    }
    fn appends_wait_for_disk(&self) -> bool {
        self.log.appends_wait_for_disk()
    }
    fn max_value_len(&self) -> u64 {
        self.log.max_value_len()
    }
}

// ---------------------------------------------------------------------------
// Running servers
// ---------------------------------------------------------------------------

/// Which server a [`Target`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Echo,
    Service,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::Service => "service",
        }
    }
}

/// One server, running on its runtime, and a client connected to it.
struct Running {
    addr: SocketAddr,
    client: LogClient<Channel>,
    /// The service's log (none for the echo server).
    log: Option<Arc<FollowableLog<chapter_01::Log>>>,
    /// Records appended since this log was created.
    appended: u64,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
    /// Deleted (with the log's files) when the server is dropped.
    _dir: Option<TempDir>,
}

/// A server the benchmarks can use, replaced by a fresh one when its log is
/// full.
struct Target {
    kind: Kind,
    /// The server's runtime (not the clients').
    runtime: Handle,
    running: Option<Running>,
}

/// A listener on `127.0.0.1:0`, bound without a runtime: servers are bound
/// from the clients' runtime and served on their own.
fn loopback_listener() -> (std::net::TcpListener, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// The log every service benchmark serves: production settings, no fsync.
fn open_log(dir: &TempDir) -> chapter_01::Log {
    let config = Config {
        sync: SyncPolicy::Os,
        ..Config::default()
    };
    chapter_01::Log::open(dir.path(), config).unwrap()
}

impl Target {
    fn new(kind: Kind, runtime: Handle) -> Target {
        Target {
            kind,
            runtime,
            running: None,
        }
    }

    /// Starts the server (on its runtime) and connects a client to it.
    async fn start(&self) -> Running {
        let (listener, addr) = loopback_listener();
        let (shutdown, stop) = oneshot::channel::<()>();
        let stop = async move {
            let _ = stop.await;
        };
        let (log, dir, server) = match self.kind {
            Kind::Echo => {
                let server = self.runtime.spawn(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    // The same transport settings as `serve_service`.
                    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                    Server::builder()
                        .add_service(LogServer::new(Echo::default()))
                        .serve_with_incoming_shutdown(incoming, stop)
                        .await
                        .unwrap();
                });
                (None, None, server)
            }
            Kind::Service => {
                let dir = tempfile::tempdir().unwrap();
                let log = Arc::new(FollowableLog::new(open_log(&dir)));
                let service = LogService::new(Arc::clone(&log), ServiceConfig::default()).unwrap();
                let server = self.runtime.spawn(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    serve_service(listener, service, stop).await.unwrap();
                });
                (Some(log), Some(dir), server)
            }
        };
        let client = connect(addr).await.unwrap();
        Running {
            addr,
            client,
            log,
            appended: 0,
            shutdown,
            server,
            _dir: dir,
        }
    }

    /// Makes sure the server can take `records` more records without its
    /// log going past [`RECORDS_PER_LOG`] (replacing the server if not),
    /// and returns it. Never timed.
    async fn ready_for(&mut self, records: u64) -> &mut Running {
        let full = match &self.running {
            None => true,
            Some(running) => {
                self.kind == Kind::Service
                    && running.appended > 0
                    && running.appended + records > RECORDS_PER_LOG
            }
        };
        if full {
            if let Some(old) = self.running.take() {
                stop(old).await;
            }
            self.running = Some(self.start().await);
        }
        let running = self.running.as_mut().unwrap();
        running.appended += records;
        running
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            stop(running).await;
        }
    }
}

async fn stop(running: Running) {
    drop(running.client);
    let _ = running.shutdown.send(());
    running.server.await.unwrap();
}

// ---------------------------------------------------------------------------
// What the clients do
// ---------------------------------------------------------------------------

fn produce_request(value: Vec<u8>) -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value,
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

/// Sends `records` records in one `ProduceStream` and reads every response.
async fn produce_stream(client: &mut LogClient<Channel>, records: u64) {
    let value = vec![0xAB; RECORD_BYTES];
    // Built lazily: a 256-byte copy per request, far below a request's cost.
    let requests = tokio_stream::iter((0..records).map(move |_| produce_request(value.clone())));
    let mut responses = client.produce_stream(requests).await.unwrap().into_inner();
    let mut received = 0;
    while let Some(_response) = responses.message().await.unwrap() {
        received += 1;
    }
    assert_eq!(received, records, "one response per request");
}

/// One unary `Produce` of a value whose first 8 bytes are `index`.
async fn produce_one(client: &mut LogClient<Channel>, index: u64) -> u64 {
    let mut value = vec![0xAB; RECORD_BYTES];
    value[..8].copy_from_slice(&index.to_le_bytes());
    client
        .produce(produce_request(value))
        .await
        .unwrap()
        .into_inner()
        .offset
}

/// Append-to-delivery latencies of `count` records (after a short warm-up).
async fn append_to_delivery(target: &mut Target, count: usize, paced: bool) -> Vec<Duration> {
    let total = LATENCY_WARM_UP + count;
    let running = target.ready_for(total as u64).await;
    let log = running.log.as_ref().expect("only the service has a log");
    let start = log.log().next_offset();
    let mut producer = running.client.clone();
    // The follower is another client, on its own connection.
    let mut follower = connect(running.addr).await.unwrap();
    let mut stream = follower
        .consume_stream(ConsumeRequest { offset: start })
        .await
        .unwrap()
        .into_inner();
    let (delivered_tx, mut delivered) = mpsc::unbounded_channel();
    let follower = tokio::spawn(async move {
        let mut received = Vec::with_capacity(total);
        while received.len() < total {
            let response = stream.message().await.unwrap().unwrap();
            let now = Instant::now();
            let value = response.record.unwrap().value;
            let index = u64::from_le_bytes(value[..8].try_into().unwrap());
            received.push((index, now));
            let _ = delivered_tx.send(index);
        }
        received
    });
    let mut sent = Vec::with_capacity(total);
    for index in 0..total as u64 {
        sent.push(Instant::now());
        produce_one(&mut producer, index).await;
        if paced {
            let got = delivered.recv().await.unwrap();
            assert_eq!(got, index, "records arrive in order");
        }
    }
    let received = follower.await.unwrap();
    received
        .into_iter()
        .skip(LATENCY_WARM_UP)
        .map(|(index, at)| at - sent[index as usize])
        .collect()
}

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/// The (iterations, time) of each call criterion made to an `iter_custom`
/// routine; the last `sample_size` calls are its samples.
type Samples = Arc<Mutex<Vec<(u64, Duration)>>>;

/// The median over criterion's samples of elements per second.
fn median_rate(samples: &Samples, sample_size: usize, elements_per_iter: u64) -> Option<f64> {
    let samples = samples.lock().unwrap();
    let last = &samples[samples.len().saturating_sub(sample_size)..];
    let mut rates: Vec<f64> = last
        .iter()
        .map(|(iters, time)| (iters * elements_per_iter) as f64 / time.as_secs_f64())
        .collect();
    if rates.is_empty() {
        return None;
    }
    rates.sort_by(f64::total_cmp);
    Some(rates[rates.len() / 2])
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

fn per_second(rate: Option<f64>) -> String {
    match rate {
        None => "-".to_string(),
        Some(rate) => {
            let digits = format!("{:.0}", rate);
            let mut grouped = String::new();
            for (i, digit) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(digit);
            }
            format!("{grouped}/s")
        }
    }
}

fn ratio(service: Option<f64>, echo: Option<f64>) -> String {
    match (service, echo) {
        (Some(service), Some(echo)) => format!("{:.2}x", service / echo),
        _ => "-".to_string(),
    }
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

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

fn main() {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let load_at_start = load_average();
    // `cargo test --benches`: run everything once, small.
    let (stream_records, latency_calls) = match benchmarking {
        true => (STREAM_RECORDS, LATENCY_CALLS),
        false => (1_000, 100),
    };

    let server_runtime = runtime("server");
    let client_runtime = runtime("client");
    let targets = [Kind::Echo, Kind::Service].map(|kind| {
        Arc::new(tokio::sync::Mutex::new(Target::new(
            kind,
            server_runtime.handle().clone(),
        )))
    });

    // Latency first, while the disk is quiet: the stream benchmark writes
    // gigabytes, and the kernel's work on them (writeback, freeing deleted
    // logs) competes for the two cores for a while and shows in the tails.
    let (unary_latency, delivery) = client_runtime.block_on(async {
        let mut echo = targets[0].lock().await;
        let mut service = targets[1].lock().await;
        let unary = unary_latencies(&mut echo, &mut service, latency_calls).await;
        let back_to_back = append_to_delivery(&mut service, latency_calls, false).await;
        let paced = append_to_delivery(&mut service, latency_calls, true).await;
        (unary, [back_to_back, paced])
    });
    let unary_diagnostic = client_runtime.block_on(unary_diagnostic(
        server_runtime.handle().clone(),
        latency_calls,
    ));

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();

    // Produce: sequential unary calls per second.
    const UNARY_SAMPLES: usize = 20;
    let mut unary_samples = Vec::new();
    {
        let mut group = criterion.benchmark_group("produce");
        group
            .throughput(Throughput::Elements(1))
            .sample_size(UNARY_SAMPLES)
            .measurement_time(Duration::from_secs(3));
        for target in &targets {
            let kind = client_runtime.block_on(async { target.lock().await.kind });
            let samples = Samples::default();
            unary_samples.push(Arc::clone(&samples));
            group.bench_function(kind.name(), |b| {
                b.to_async(&client_runtime).iter_custom(|iters| {
                    let target = Arc::clone(target);
                    let samples = Arc::clone(&samples);
                    async move {
                        let mut target = target.lock().await;
                        let running = target.ready_for(iters).await;
                        let start = Instant::now();
                        for index in 0..iters {
                            std::hint::black_box(produce_one(&mut running.client, index).await);
                        }
                        let time = start.elapsed();
                        samples.lock().unwrap().push((iters, time));
                        time
                    }
                });
            });
        }
        group.finish();
    }

    // ProduceStream: records per second of one stream of `stream_records`.
    const STREAM_SAMPLES: usize = 10;
    let mut stream_samples = Vec::new();
    {
        let mut group = criterion.benchmark_group("produce_stream");
        group
            .throughput(Throughput::Elements(stream_records))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(STREAM_SAMPLES)
            .measurement_time(Duration::from_secs(20));
        for target in &targets {
            let kind = client_runtime.block_on(async { target.lock().await.kind });
            let samples = Samples::default();
            stream_samples.push(Arc::clone(&samples));
            group.bench_function(kind.name(), |b| {
                b.to_async(&client_runtime).iter_custom(|iters| {
                    let target = Arc::clone(target);
                    let samples = Arc::clone(&samples);
                    async move {
                        let mut target = target.lock().await;
                        let mut time = Duration::ZERO;
                        for _ in 0..iters {
                            let running = target.ready_for(stream_records).await;
                            let start = Instant::now();
                            produce_stream(&mut running.client, stream_records).await;
                            time += start.elapsed();
                        }
                        samples.lock().unwrap().push((iters, time));
                        time
                    }
                });
            });
        }
        group.finish();
    }
    criterion.final_summary();

    let stream_diagnostic = client_runtime.block_on(stream_diagnostic(
        server_runtime.handle().clone(),
        stream_records,
    ));
    client_runtime.block_on(async {
        for target in &targets {
            target.lock().await.stop().await;
        }
    });

    // The summary.
    let stream_rates: Vec<Option<f64>> = stream_samples
        .iter()
        .map(|samples| median_rate(samples, STREAM_SAMPLES, stream_records))
        .collect();
    let unary_rates: Vec<Option<f64>> = unary_samples
        .iter()
        .map(|samples| median_rate(samples, UNARY_SAMPLES, 1))
        .collect();
    // Calls per second of the interleaved loop: total calls / total time.
    let loop_rates: Vec<Option<f64>> = unary_latency
        .iter()
        .map(|latencies| {
            let total: Duration = latencies.iter().sum();
            Some(latencies.len() as f64 / total.as_secs_f64())
        })
        .collect();
    println!();
    println!("== Summary: {RECORD_BYTES}-byte records, plaintext gRPC on loopback ==");
    println!(
        "(load average at start / end: {load_at_start} / {}; {} cores)",
        load_average(),
        std::thread::available_parallelism().map_or(0, |cores| cores.get())
    );
    if !benchmarking {
        println!("(a smoke test with small counts: these figures mean nothing)");
    }
    println!();
    let row = |name: &str, rates: &[Option<f64>], target: f64| {
        let met = match (rates[0], rates[1]) {
            (Some(echo), Some(service)) if service >= target * echo => "met",
            (Some(_), Some(_)) => "MISSED",
            _ => "-",
        };
        println!(
            "{name:<46} {:>13} {:>13} {:>6} {:>7} {met:>6}",
            per_second(rates[0]),
            per_second(rates[1]),
            ratio(rates[1], rates[0]),
            format!(">={target:.1}x"),
        );
    };
    println!(
        "{:<46} {:>13} {:>13} {:>6} {:>7} {:>6}",
        "throughput", "echo", "service", "ratio", "target", ""
    );
    row(
        &format!("ProduceStream records/s ({stream_records}/stream)"),
        &stream_rates,
        0.6,
    );
    row("Produce calls/s (unary, criterion)", &unary_rates, 0.8);
    row(
        "Produce calls/s (unary, interleaved loop)",
        &loop_rates,
        0.8,
    );
    println!();
    println!(
        "{:<46} {:>13} {:>13} {:>13} {:>13}",
        "latency", "echo p50", "echo p99", "service p50", "service p99"
    );
    let p50_p99 = |latencies: &[Duration]| {
        (
            micros(percentile(latencies, 50.0)),
            micros(percentile(latencies, 99.0)),
        )
    };
    let (echo_p50, echo_p99) = p50_p99(&unary_latency[0]);
    let (service_p50, service_p99) = p50_p99(&unary_latency[1]);
    println!(
        "{:<46} {echo_p50:>13} {echo_p99:>13} {service_p50:>13} {service_p99:>13}",
        format!("Produce, unary ({latency_calls} calls each)")
    );
    for (name, latencies) in ["back-to-back", "paced"].iter().zip(&delivery) {
        let (p50, p99) = p50_p99(latencies);
        let met = match percentile(latencies, 99.0) < Duration::from_millis(1) {
            true => "met",
            false => "MISSED",
        };
        println!(
            "{:<46} {:>13} {:>13} {p50:>13} {p99:>13}  target p99 < 1 ms: {met}",
            format!("Append-to-delivery, {name} ({latency_calls})"),
            "-",
            "-",
        );
    }
    println!();
    println!("{unary_diagnostic}");
    println!("{stream_diagnostic}");
}

/// Unary `Produce` latencies of echo and service, in alternating rounds so
/// that both meet the same moods of the machine.
async fn unary_latencies(
    echo: &mut Target,
    service: &mut Target,
    calls: usize,
) -> [Vec<Duration>; 2] {
    let mut latencies = [Vec::with_capacity(calls), Vec::with_capacity(calls)];
    for target in [&mut *echo, &mut *service] {
        let running = target.ready_for(LATENCY_WARM_UP as u64).await;
        for index in 0..LATENCY_WARM_UP as u64 {
            produce_one(&mut running.client, index).await;
        }
    }
    let round = LATENCY_ROUND.min(calls);
    for _ in 0..calls.div_ceil(round) {
        for (target, latencies) in [&mut *echo, &mut *service].into_iter().zip(&mut latencies) {
            let running = target.ready_for(round as u64).await;
            for index in 0..round as u64 {
                let start = Instant::now();
                produce_one(&mut running.client, index).await;
                latencies.push(start.elapsed());
            }
        }
    }
    latencies
}

/// A service over a [`Counting`] log, on `runtime`, and a client of it.
struct CountingServer {
    client: LogClient<Channel>,
    log: Arc<FollowableLog<Counting>>,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
    _dir: TempDir,
}

impl CountingServer {
    async fn start(runtime: Handle) -> CountingServer {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(FollowableLog::new(Counting::new(open_log(&dir))));
        let service = LogService::new(Arc::clone(&log), ServiceConfig::default()).unwrap();
        let (listener, addr) = loopback_listener();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            serve_service(listener, service, async move {
                let _ = stop.await;
            })
            .await
            .unwrap();
        });
        let client = connect(addr).await.unwrap();
        CountingServer {
            client,
            log,
            shutdown,
            server,
            _dir: dir,
        }
    }

    /// What the log counted since the last call: the `append_batch`es.
    fn take(&self) -> Vec<(usize, Duration)> {
        std::mem::take(&mut *self.log.log().appends.lock().unwrap())
    }

    async fn stop(self) {
        drop(self.client);
        let _ = self.shutdown.send(());
        self.server.await.unwrap();
    }
}

/// How much of a unary `Produce` call is storage (the append)?
async fn unary_diagnostic(runtime: Handle, calls: usize) -> String {
    let mut server = CountingServer::start(runtime).await;
    for index in 0..LATENCY_WARM_UP as u64 {
        produce_one(&mut server.client, index).await;
    }
    server.take();
    let mut call_times = Vec::with_capacity(calls);
    for index in 0..calls as u64 {
        let start = Instant::now();
        produce_one(&mut server.client, index).await;
        call_times.push(start.elapsed());
    }
    let appends = server.take();
    server.stop().await;
    let storage: Vec<Duration> = appends.iter().map(|(_, append)| *append).collect();
    format!(
        "== Diagnostic: {calls} unary Produce calls over a counting log ==\n\
         whole call (client):   p50 {:>9}   p99 {:>9}\n\
         append (log):          p50 {:>9}   p99 {:>9}\n\
         The rest is what echo pays (gRPC), plus the trip to tokio's blocking pool and back.\n",
        micros(percentile(&call_times, 50.0)),
        micros(percentile(&call_times, 99.0)),
        micros(percentile(&storage, 50.0)),
        micros(percentile(&storage, 99.0)),
    )
}

/// How did `ProduceStream`'s group commit batch one stream, and what share
/// of the stream's time went to storage?
async fn stream_diagnostic(runtime: Handle, records: u64) -> String {
    let mut server = CountingServer::start(runtime).await;
    let start = Instant::now();
    produce_stream(&mut server.client, records).await;
    let elapsed = start.elapsed();
    let appends = server.take();
    server.stop().await;

    let append_time: Duration = appends.iter().map(|(_, time)| *time).sum();
    let slowest = appends
        .iter()
        .map(|(_, time)| *time)
        .max()
        .unwrap_or_default();
    let share = |time: Duration| 100.0 * time.as_secs_f64() / elapsed.as_secs_f64();
    let mut report = format!(
        "== Diagnostic: one ProduceStream of {records} records over a counting log ==\n\
         {}; {} batches, {:.0} records per batch on average\n\
         append_batch: {} per batch, {:.0}% of the stream's time; slowest {}\n\
         batch sizes:\n",
        per_second(Some(records as f64 / elapsed.as_secs_f64())),
        appends.len(),
        records as f64 / appends.len().max(1) as f64,
        micros(append_time / appends.len().max(1) as u32),
        share(append_time),
        micros(slowest),
    );
    // Buckets by powers of two: 1, 2..=3, 4..=7, ... up to the batch limit.
    let max_batch = ServiceConfig::default().max_batch_records;
    let mut buckets = vec![0; max_batch.ilog2() as usize + 1];
    let last = buckets.len() - 1;
    for (len, _) in &appends {
        buckets[((*len).max(1).ilog2() as usize).min(last)] += 1;
    }
    for (bucket, count) in buckets.iter().enumerate().filter(|(_, count)| **count > 0) {
        let low = 1usize << bucket;
        let high = ((low << 1) - 1).min(max_batch);
        report.push_str(&format!(
            "    {low:>5}..={high:<5} records: {count} batches\n"
        ));
    }
    report
}
