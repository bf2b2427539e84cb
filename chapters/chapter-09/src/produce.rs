//! `proglog produce`: values from the command line, one call each, or lines
//! of standard input through one resuming stream (chapter 8), to whichever
//! server leads.

use std::io::{BufRead, Write};

use anyhow::Context;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::cli::ProduceArgs;
use crate::client::{connect, explain};

// ANCHOR: run_values
/// Runs `proglog produce`, printing each record's offset on its own line.
///
/// # Errors
/// No server reachable, or the first refused record, in one line.
pub async fn run(args: &ProduceArgs) -> anyhow::Result<()> {
    let client = connect(&args.cluster).await?;
    let mut stdout = std::io::stdout().lock();
    if !args.values.is_empty() {
        for value in &args.values {
            let offset = client
                .produce(value.clone().into_bytes())
                .await
                .map_err(explain)?;
            writeln!(stdout, "{offset}")?;
        }
        return Ok(());
    }
    // ANCHOR_END: run_values
    // ANCHOR: run_stream
    let (lines, values) = mpsc::channel(1024);
    let reader = std::thread::spawn(move || -> std::io::Result<()> {
        for line in std::io::stdin().lock().lines() {
            if lines.blocking_send(line?.into_bytes()).is_err() {
                break; // the stream ended early (an error): stop reading
            }
        }
        Ok(())
    });
    let mut offsets = Box::pin(client.produce_stream(ReceiverStream::new(values)));
    let progress = chapter_05::produce::Progress::new();
    let mut produced = 0u64;
    while let Some(offset) = offsets.next().await {
        writeln!(stdout, "{}", offset.map_err(explain)?)?;
        produced += 1;
        progress.show(produced);
    }
    progress.finish(produced);
    match reader.join() {
        Ok(read) => read.context("reading standard input")?,
        Err(_) => anyhow::bail!("the standard input reader failed"),
    }
    Ok(())
}
// ANCHOR_END: run_stream
