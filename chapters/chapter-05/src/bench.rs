//! `proglog bench produce`: a load generator for the produce path, and one
//! line of results in the format of Kafka's `kafka-producer-perf-test`:
//!
//! ```text
//! 100000 records sent, 85234.1 records/sec (20.81 MB/sec), 1.23 ms avg latency, 45.00 ms max latency, 0.91 ms 50th, 3.02 ms 95th, 5.10 ms 99th, 12.40 ms 99.9th.
//! ```
//!
//! `--clients C` clients, each on its own connection (its own TLS session
//! and HTTP/2 connection), share `--records N` records between them, each
//! value `--record-size B` bytes. What they measure:
//!
//! - **Throughput**: records (and MB, of values only, 1 MB = 1024 × 1024
//!   bytes as Kafka counts) acknowledged per second of wall-clock time, from
//!   the moment every client is connected to the last acknowledgement.
//! - **Latency** of one record: from the moment the client hands the record
//!   over until its offset comes back. That includes the time the record
//!   waits behind others (in the client's queue, on the wire, in the
//!   server's batch), which is what an application feels.
//!
//! Two ways to produce:
//!
//! - **Streaming** (the default): one `ProduceStream` per client, fed
//!   through a bounded channel. The server appends whatever has arrived
//!   together (group commit), so many records share one write and one
//!   fsync. A client keeps at most [`WINDOW`] records unanswered, like
//!   Kafka's `max.in.flight` and `buffer.memory` limits: without a window a
//!   fast client would only measure how long its own queue grew. Responses
//!   come back in the order the requests went out, so the send times wait
//!   in a first-in first-out queue, and each response takes the oldest.
//! - **Unary** (`--unary`): each client makes one `Produce` call at a time
//!   and waits for its answer; the latency is the call's duration. Under
//!   `--sync always` that is one fsync per record: the baseline group
//!   commit is measured against.
//!
//! Every acknowledged offset is checked: no offset may come back twice, and
//! there must be exactly `N` of them. A refused record, a duplicate offset
//! or a missing acknowledgement fails the command.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use chapter_02::api::v1::log_client::LogClient;
use chapter_02::api::v1::{ProduceRequest, Record};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::cli::BenchProduceArgs;
use crate::client::{connect, describe};

/// The default of `--window`: the most records one streaming client has
/// sent and not yet seen acknowledged. (The server appends at most 1,024
/// records as one batch, so a window of that size lets each client fill a
/// whole batch.)
pub const WINDOW: usize = 1024;

// ANCHOR: run
/// Runs `proglog bench produce` and prints its one-line summary.
///
/// # Errors
/// A failed connection, a refused record (described in one line), a
/// duplicate offset, or a count of acknowledgements other than `--records`.
pub async fn run(args: &BenchProduceArgs) -> anyhow::Result<()> {
    println!("{}", measure(args).await?);
    Ok(())
}
// ANCHOR_END: run

// ANCHOR: measure
/// Produces as `args` say and returns what the clients observed.
///
/// # Errors
/// As [`run`].
pub async fn measure(args: &BenchProduceArgs) -> anyhow::Result<Summary> {
    ensure!(args.clients > 0, "--clients must be at least 1");
    let value = value_of_size(args.record_size);
    // Connect everyone before the clock starts: the handshakes are not
    // what we measure.
    let mut clients = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        clients.push(connect(&args.client).await?);
    }

    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (n, client) in clients.into_iter().enumerate() {
        let count = share(args.records, args.clients, n);
        match args.unary {
            true => tasks.spawn(produce_unary(client, value.clone(), count)),
            false => tasks.spawn(produce_streaming(client, value.clone(), count, args.window)),
        };
    }
    let mut samples = Samples::with_capacity(args.records);
    // In the order they finish: the first failure is reported at once (and
    // dropping the set stops the other clients).
    while let Some(finished) = tasks.join_next().await {
        samples.append(finished.context("a client task failed")??);
    }
    let elapsed = started.elapsed();

    check_offsets(samples.offsets, args.records)?;
    Ok(Summary::new(samples.latencies, args.record_size, elapsed))
}
// ANCHOR_END: measure

/// The value every record carries: `size` bytes of a repeating alphabet, so
/// `proglog consume` prints something readable.
pub fn value_of_size(size: usize) -> Vec<u8> {
    (b'a'..=b'z').cycle().take(size).collect()
}

/// How many of `records` client `n` of `clients` produces: an even share,
/// the first `records % clients` clients taking one more.
pub fn share(records: u64, clients: usize, n: usize) -> u64 {
    let clients = clients as u64;
    records / clients + u64::from((n as u64) < records % clients)
}

fn request(value: Vec<u8>) -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value,
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

/// A refused call as an error of one line.
fn refused(status: tonic::Status) -> anyhow::Error {
    anyhow!(describe(&status))
}

/// What the clients observed: one offset and one latency per record.
#[derive(Debug, Default)]
struct Samples {
    offsets: Vec<u64>,
    latencies: Vec<Duration>,
}

impl Samples {
    fn with_capacity(records: u64) -> Samples {
        let records = usize::try_from(records).unwrap_or(usize::MAX);
        Samples {
            offsets: Vec::with_capacity(records),
            latencies: Vec::with_capacity(records),
        }
    }

    fn record(&mut self, offset: u64, latency: Duration) {
        self.offsets.push(offset);
        self.latencies.push(latency);
    }

    fn append(&mut self, mut other: Samples) {
        self.offsets.append(&mut other.offsets);
        self.latencies.append(&mut other.latencies);
    }

    fn len(&self) -> u64 {
        self.offsets.len() as u64
    }
}

// ANCHOR: unary
/// One client producing `count` records with unary calls, one at a time.
async fn produce_unary(
    mut client: LogClient<Channel>,
    value: Vec<u8>,
    count: u64,
) -> anyhow::Result<Samples> {
    let mut samples = Samples::with_capacity(count);
    for _ in 0..count {
        let sent = Instant::now();
        let response = client.produce(request(value.clone())).await;
        let offset = response.map_err(refused)?.into_inner().offset;
        samples.record(offset, sent.elapsed());
    }
    Ok(samples)
}
// ANCHOR_END: unary

// ANCHOR: streaming
/// One client producing `count` records through one `ProduceStream`, with
/// at most `window` of them unanswered.
async fn produce_streaming(
    mut client: LogClient<Channel>,
    value: Vec<u8>,
    count: u64,
    window: usize,
) -> anyhow::Result<Samples> {
    let (requests, outbound) = mpsc::channel(window);
    // The send times of the records not yet answered, oldest first. Its
    // capacity is the window: the feeder waits for a free slot before it
    // sends, and a slot frees up only when a response takes its time out.
    let (sent_times, mut unanswered) = mpsc::channel(window);
    let mut responses = client
        .produce_stream(ReceiverStream::new(outbound))
        .await
        .map_err(refused)?
        .into_inner();
    let feeder = tokio::spawn(feed(requests, sent_times, value, count));

    let mut samples = Samples::with_capacity(count);
    while let Some(response) = responses.message().await.map_err(refused)? {
        // The feeder queued the time before it sent the request, so the time
        // of every record the server has answered is already here.
        let sent: Instant = unanswered
            .try_recv()
            .context("the server answered a record that was never sent")?;
        samples.record(response.offset, sent.elapsed());
    }
    // Closing the queue wakes a feeder waiting for a slot, should the
    // stream have ended early.
    drop(unanswered);
    if samples.len() != count {
        feeder.abort();
        bail!(
            "the stream ended after {} of {count} acknowledgements",
            samples.len()
        );
    }
    feeder.await.context("the feeder task failed")?;
    Ok(samples)
}

/// Sends `count` records into the stream, queueing each one's send time
/// first; dropping `requests` at the end closes the stream.
async fn feed(
    requests: mpsc::Sender<ProduceRequest>,
    sent_times: mpsc::Sender<Instant>,
    value: Vec<u8>,
    count: u64,
) {
    for _ in 0..count {
        // Waits while a window of records is unanswered. Taking the time after
        // the wait keeps the window's own queueing out of the latency.
        let Ok(slot) = sent_times.reserve().await else {
            return; // the stream ended early: the caller reports it
        };
        slot.send(Instant::now());
        // Never waits for long: the window keeps this channel from filling.
        if requests.send(request(value.clone())).await.is_err() {
            return;
        }
    }
}
// ANCHOR_END: streaming

/// Checks that the acknowledged offsets are all different, and that there
/// are `expected` of them.
///
/// # Errors
/// The first offset acknowledged twice, or the wrong count.
pub fn check_offsets(mut offsets: Vec<u64>, expected: u64) -> anyhow::Result<()> {
    offsets.sort_unstable();
    if let Some(pair) = offsets.windows(2).find(|pair| pair[0] == pair[1]) {
        bail!("offset {} was acknowledged more than once", pair[0]);
    }
    ensure!(
        offsets.len() as u64 == expected,
        "{} records acknowledged, {expected} sent",
        offsets.len()
    );
    Ok(())
}

// ANCHOR: summary
/// The percentiles reported, in thousandths (so 99.9 is exact).
const PERCENTILES: [(u64, &str); 4] =
    [(500, "50th"), (950, "95th"), (990, "99th"), (999, "99.9th")];

/// A run's results, displayed as Kafka's producer-perf-test prints them
/// (with fractional milliseconds everywhere: on one machine, latencies are
/// often below one).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    records: u64,
    record_size: usize,
    elapsed: Duration,
    average: Duration,
    max: Duration,
    /// One latency per entry of [`PERCENTILES`].
    percentiles: [Duration; 4],
}

impl Summary {
    /// Records acknowledged per second of the run.
    pub fn records_per_second(&self) -> f64 {
        match self.elapsed.as_secs_f64() {
            seconds if seconds > 0.0 => self.records as f64 / seconds,
            _ => 0.0,
        }
    }

    /// The 99th percentile of the records' latencies.
    pub fn p99(&self) -> Duration {
        self.percentiles[2]
    }

    /// Summarizes one latency per record produced in `elapsed`.
    pub fn new(mut latencies: Vec<Duration>, record_size: usize, elapsed: Duration) -> Summary {
        latencies.sort_unstable();
        let total: Duration = latencies.iter().sum();
        let records = latencies.len() as u64;
        Summary {
            records,
            record_size,
            elapsed,
            average: match records {
                0 => Duration::ZERO,
                _ => total.div_f64(records as f64),
            },
            max: latencies.last().copied().unwrap_or_default(),
            percentiles: PERCENTILES.map(|(per_mille, _)| percentile(&latencies, per_mille)),
        }
    }
}

/// The nearest-rank percentile of `sorted` latencies: the smallest one that
/// at least `per_mille` thousandths of them do not exceed.
fn percentile(sorted: &[Duration], per_mille: u64) -> Duration {
    let rank = (sorted.len() as u64 * per_mille).div_ceil(1000);
    let index = usize::try_from(rank.saturating_sub(1)).unwrap_or(usize::MAX);
    sorted
        .get(index)
        .or(sorted.last())
        .copied()
        .unwrap_or_default()
}

/// A duration in milliseconds, as a fraction.
fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_secs_f64();
        let per_second = match seconds > 0.0 {
            true => self.records as f64 / seconds,
            false => 0.0,
        };
        let mb_per_second = per_second * self.record_size as f64 / (1024.0 * 1024.0);
        write!(
            f,
            "{} records sent, {per_second:.1} records/sec ({mb_per_second:.2} MB/sec), \
             {:.2} ms avg latency, {:.2} ms max latency",
            self.records,
            ms(self.average),
            ms(self.max),
        )?;
        for ((_, name), latency) in PERCENTILES.iter().zip(self.percentiles) {
            write!(f, ", {:.2} ms {name}", ms(latency))?;
        }
        write!(f, ".")
    }
}
// ANCHOR_END: summary

// ANCHOR: report
/// The median of `values`, and their lowest and highest (sorts them).
pub fn spread(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

/// Prints `name: ratio× [low–high] (medians ours vs baseline unit)`: the
/// median and range of the round-by-round ratios `ours[i] / baseline[i]`
/// (each pair measured in the same round), and the two medians. How a
/// bench on a noisy machine reports a figure.
pub fn report(name: &str, ours: &mut [f64], baseline: &mut [f64], unit: &str) {
    let mut ratios: Vec<f64> = ours
        .iter()
        .zip(baseline.iter())
        .map(|(a, b)| a / b)
        .collect();
    let (ratio, low, high) = spread(&mut ratios);
    let (ours, _, _) = spread(ours);
    let (baseline, _, _) = spread(baseline);
    println!(
        "{name}: {ratio:.2}× [{low:.2}–{high:.2}] (medians {ours:.0} vs {baseline:.0} {unit})"
    );
}
// ANCHOR_END: report

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    // The summary is one line in Kafka's producer-perf-test format, with
    // nearest-rank percentiles and MB of 1024 × 1024 bytes.
    #[test]
    fn summary_is_one_line_like_kafkas() {
        let latencies = millis((1..=1000).rev());
        let summary = Summary::new(latencies, 1024, Duration::from_secs(2));
        assert_eq!(
            summary.to_string(),
            "1000 records sent, 500.0 records/sec (0.49 MB/sec), 500.50 ms avg latency, \
             1000.00 ms max latency, 500.00 ms 50th, 950.00 ms 95th, 990.00 ms 99th, \
             999.00 ms 99.9th."
        );
    }

    // Sub-millisecond latencies keep their fraction.
    #[test]
    fn summary_shows_fractions_of_a_millisecond() {
        let latencies = vec![Duration::from_micros(250); 4];
        let line = Summary::new(latencies, 256, Duration::from_millis(1)).to_string();
        assert!(line.contains("0.25 ms avg latency"), "{line}");
        assert!(line.contains("0.25 ms 99.9th."), "{line}");
        assert!(
            line.starts_with("4 records sent, 4000.0 records/sec"),
            "{line}"
        );
    }

    // No records: zeros, not a panic or a division by zero.
    #[test]
    fn summary_of_nothing_is_zeros() {
        let line = Summary::new(Vec::new(), 256, Duration::ZERO).to_string();
        assert_eq!(
            line,
            "0 records sent, 0.0 records/sec (0.00 MB/sec), 0.00 ms avg latency, \
             0.00 ms max latency, 0.00 ms 50th, 0.00 ms 95th, 0.00 ms 99th, 0.00 ms 99.9th."
        );
    }

    // A percentile is the smallest sample that at least that share of the
    // samples do not exceed.
    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted = millis(1..=10);
        assert_eq!(percentile(&sorted, 500), Duration::from_millis(5));
        assert_eq!(percentile(&sorted, 950), Duration::from_millis(10));
        assert_eq!(percentile(&sorted, 999), Duration::from_millis(10));
        assert_eq!(percentile(&millis([7]), 500), Duration::from_millis(7));
        assert_eq!(percentile(&[], 990), Duration::ZERO);
    }

    // The records are shared as evenly as possible, and all of them are sent.
    #[test]
    fn records_are_shared_evenly() {
        let shares: Vec<u64> = (0..3).map(|n| share(10, 3, n)).collect();
        assert_eq!(shares, [4, 3, 3]);
        assert_eq!(
            (0..32).map(|n| share(1_000_000, 32, n)).sum::<u64>(),
            1_000_000
        );
        assert_eq!(share(2, 4, 3), 0);
    }

    // Every acknowledged offset must be different, and all must be there.
    #[test]
    fn offsets_must_be_unique_and_complete() {
        assert!(check_offsets(vec![2, 0, 1], 3).is_ok());
        let twice = check_offsets(vec![0, 1, 1], 3).map_err(|error| error.to_string());
        assert_eq!(
            twice,
            Err("offset 1 was acknowledged more than once".into())
        );
        let missing = check_offsets(vec![0, 1], 3).map_err(|error| error.to_string());
        assert_eq!(missing, Err("2 records acknowledged, 3 sent".into()));
    }

    // Values are exactly the size asked for.
    #[test]
    fn values_have_the_requested_size() {
        assert_eq!(value_of_size(0), b"");
        assert_eq!(value_of_size(3), b"abc");
        assert_eq!(value_of_size(1000).len(), 1000);
    }
}
