//! `proglog bench produce`: chapter 5's load generator, through chapter
//! 8's client, so that it runs against any server of a cluster and rides
//! out a failover. Besides chapter 5's summary it reports the longest
//! pause between two acknowledgements: during a leader kill, how long the
//! cluster acknowledged nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chapter_05::bench::{Summary, check_offsets, share, value_of_size};
use chapter_08::Client;
use futures_util::StreamExt;
use tokio::task::JoinSet;

use crate::cli::BenchProduceArgs;
use crate::client::{config, explain};

// ANCHOR: outcome
/// What a run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Chapter 5's summary: throughput and latency percentiles.
    pub summary: Summary,
    /// The longest time between two acknowledgements (of any client).
    pub longest_pause: Duration,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\nlongest pause between acknowledgements: {:.1} ms",
            self.summary,
            self.longest_pause.as_secs_f64() * 1000.0
        )
    }
}
// ANCHOR_END: outcome

/// Runs `proglog bench produce` and prints its summary.
///
/// # Errors
/// No server reachable, a refused record, a duplicate offset, or a count of
/// acknowledgements other than `--records`.
pub async fn run(args: &BenchProduceArgs) -> anyhow::Result<()> {
    println!("{}", measure(args).await?);
    Ok(())
}

/// One acknowledgement: its offset, when its record was sent, and when the
/// acknowledgement came.
type Ack = (u64, Instant, Instant);

// ANCHOR: measure_a
/// Produces as `args` say and returns what the clients observed.
///
/// # Errors
/// As [`run`].
pub async fn measure(args: &BenchProduceArgs) -> anyhow::Result<Outcome> {
    ensure!(args.clients > 0, "--clients must be at least 1");
    let value = value_of_size(args.record_size);
    let mut clients = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let mut config = config(&args.cluster)?;
        config.window = args.window;
        clients.push(Client::connect(config).await.map_err(explain)?);
    }
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (n, client) in clients.into_iter().enumerate() {
        let count = share(args.records, args.clients, n);
        match args.unary {
            true => tasks.spawn(unary(client, value.clone(), count)),
            false => tasks.spawn(streaming(client, value.clone(), count)),
        };
    }
    let mut acks: Vec<Ack> = Vec::new();
    while let Some(finished) = tasks.join_next().await {
        acks.extend(finished.context("a client task failed")??);
    }
    // ANCHOR_END: measure_a
    // ANCHOR: measure_b
    let elapsed = started.elapsed();
    let mut times: Vec<Instant> = acks.iter().map(|&(_, _, at)| at).collect();
    times.sort_unstable();
    let longest_pause = times
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default();
    let latencies = acks.iter().map(|&(_, sent, at)| at - sent).collect();
    check_offsets(
        acks.iter().map(|&(offset, _, _)| offset).collect(),
        args.records,
    )?;
    Ok(Outcome {
        summary: Summary::new(latencies, args.record_size, elapsed),
        longest_pause,
    })
}
// ANCHOR_END: measure_b

/// One client, unary produces one at a time.
async fn unary(client: Client, value: Vec<u8>, count: u64) -> anyhow::Result<Vec<Ack>> {
    let mut acks = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let sent = Instant::now();
        let offset = client.produce(value.clone()).await.map_err(explain)?;
        acks.push((offset, sent, Instant::now()));
    }
    Ok(acks)
}

/// One client, one resuming produce stream with the client's window.
async fn streaming(client: Client, value: Vec<u8>, count: u64) -> anyhow::Result<Vec<Ack>> {
    // When each record was handed to the stream, oldest first: the offsets
    // come back in the same order.
    let sent: Arc<Mutex<VecDeque<Instant>>> = Arc::default();
    let values = {
        let sent = Arc::clone(&sent);
        futures_util::stream::iter(0..count).map(move |_| {
            sent.lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push_back(Instant::now());
            value.clone()
        })
    };
    let mut offsets = Box::pin(client.produce_stream(values));
    let mut acks = Vec::with_capacity(count as usize);
    while let Some(offset) = offsets.next().await {
        let offset = offset.map_err(explain)?;
        let sent_at = sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop_front()
            .context("an offset for a record never sent")?;
        acks.push((offset, sent_at, Instant::now()));
    }
    ensure!(
        acks.len() as u64 == count,
        "the stream ended after {} of {count} acknowledgements",
        acks.len()
    );
    Ok(acks)
}
