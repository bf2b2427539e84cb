//! `proglog produce`: append the values given, one record each, or one
//! record per line of standard input, printing each record's offset.
//!
//! Values on the command line go one unary `Produce` at a time. Standard
//! input may be a large import, so it goes through one `ProduceStream`: the
//! server appends whatever has arrived together as one batch, and the
//! offsets come back as the records are appended. On a terminal, a progress
//! line on standard error says how far it has got.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context;
use chapter_02::api::v1::{ProduceRequest, Record};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::cli::ProduceArgs;
use crate::client::{connect, fail};

fn request(value: Vec<u8>) -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value,
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

// ANCHOR: produce_values
/// Runs `proglog produce`.
///
/// # Errors
/// A connection failure, or the first refused record, in one line.
pub async fn run(args: &ProduceArgs) -> anyhow::Result<()> {
    let mut client = connect(&args.client).await?;
    let mut stdout = std::io::stdout().lock();
    if !args.values.is_empty() {
        for value in &args.values {
            match client.produce(request(value.clone().into_bytes())).await {
                Ok(response) => writeln!(stdout, "{}", response.into_inner().offset)?,
                Err(status) => return fail(status),
            }
        }
        return Ok(());
    }

    // ANCHOR_END: produce_values
    // ANCHOR: produce_stdin
    // Standard input, one record per line, read on a thread of its own and
    // fed to the stream through a bounded channel (at most 1,024 lines
    // ahead). A plain thread, not tokio's blocking pool: if the server
    // refuses the stream, the command must exit at once, not wait for stdin
    // to close (the runtime waits for its blocking tasks; nobody waits for
    // this thread).
    let (lines, outbound) = mpsc::channel(1024);
    let reader = std::thread::spawn(move || -> std::io::Result<()> {
        for line in std::io::stdin().lock().lines() {
            if lines.blocking_send(request(line?.into_bytes())).is_err() {
                break; // the stream ended early (an error): stop reading
            }
        }
        Ok(())
    });
    let mut responses = match client.produce_stream(ReceiverStream::new(outbound)).await {
        Ok(response) => response.into_inner(),
        Err(status) => return fail(status),
    };
    let progress = Progress::new();
    let mut produced = 0u64;
    loop {
        match responses.message().await {
            Ok(Some(response)) => {
                writeln!(stdout, "{}", response.offset)?;
                produced += 1;
                progress.show(produced);
            }
            Ok(None) => break,
            Err(status) => return fail(status),
        }
    }
    progress.finish(produced);
    match reader.join() {
        Ok(read) => read.context("reading standard input")?,
        Err(_) => anyhow::bail!("the standard input reader failed"),
    }
    Ok(())
}
// ANCHOR_END: produce_stdin

/// A progress line on standard error, when it is a terminal.
#[derive(Debug)]
pub struct Progress {
    on_terminal: bool,
    started: Instant,
    last: std::cell::Cell<Instant>,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::new()
    }
}

impl Progress {
    /// A progress line starting now.
    pub fn new() -> Progress {
        let now = Instant::now();
        Progress {
            on_terminal: std::io::stderr().is_terminal(),
            started: now,
            last: std::cell::Cell::new(now),
        }
    }

    /// Shows `produced` so far (at most five times a second).
    pub fn show(&self, produced: u64) {
        if self.on_terminal && self.last.get().elapsed() >= Duration::from_millis(200) {
            self.last.set(Instant::now());
            let rate = produced as f64 / self.started.elapsed().as_secs_f64();
            eprint!("\r{produced} records produced ({rate:.0} records/s)");
        }
    }

    /// The last line: how many, in how long.
    pub fn finish(&self, produced: u64) {
        if self.on_terminal {
            eprintln!(
                "\r{produced} records produced in {:.1?}          ",
                self.started.elapsed()
            );
        }
    }
}
