//! `proglog consume`: records from an offset on, read from the followers,
//! resumed on another server if one fails (chapter 8).

use std::io::Write;

use chapter_05::cli::OutputFormat;
use futures_util::StreamExt;
use tonic::Code;

use crate::cli::ConsumeArgs;
use crate::client::{connect, explain};

// ANCHOR: run_bounds
/// Runs `proglog consume`: `OFFSET<TAB>VALUE` (or JSON) per line.
///
/// # Errors
/// No server reachable, an offset out of range, in one line.
pub async fn run(args: &ConsumeArgs) -> anyhow::Result<()> {
    let client = connect(&args.cluster).await?;
    // Where the log starts and ends now: a `Consume` past any offset answers
    // OUT_OF_RANGE with both in its details (chapter 5).
    let (lowest, next) = match client.consume(u64::MAX).await {
        Err(chapter_08::Error::Refused(status)) if status.code() == Code::OutOfRange => {
            chapter_05::consume::bounds(&status)?
        }
        Err(error) => return Err(explain(error)),
        Ok(_) => anyhow::bail!("the cluster returned a record at offset {}", u64::MAX),
    };
    let from = args.from.unwrap_or(lowest);
    let end = if args.follow { u64::MAX } else { next };
    // Starting exactly at the end prints nothing; past it, the stream below
    // fails with OUT_OF_RANGE and the log's bounds.
    if args.count == Some(0) || (!args.follow && from == end) {
        return Ok(());
    }
    let end = match args.count {
        Some(count) => end.min(from.saturating_add(count)),
        None => end,
    };
    // ANCHOR_END: run_bounds
    // ANCHOR: run_print
    let mut records = Box::pin(client.consume_stream(from));
    let mut stdout = std::io::stdout().lock();
    while let Some(record) = records.next().await {
        let record = record.map_err(explain)?;
        match args.format {
            OutputFormat::Text => writeln!(
                stdout,
                "{}\t{}",
                record.offset,
                String::from_utf8_lossy(&record.value)
            )?,
            OutputFormat::Json => {
                let line = match String::from_utf8(record.value) {
                    Ok(value) => serde_json::json!({ "offset": record.offset, "value": value }),
                    Err(not_utf8) => {
                        serde_json::json!({ "offset": record.offset, "value_bytes": not_utf8.into_bytes() })
                    }
                };
                writeln!(stdout, "{line}")?;
            }
        }
        if args.follow {
            stdout.flush()?;
        }
        if record.offset + 1 >= end {
            break;
        }
    }
    Ok(())
}
// ANCHOR_END: run_print
