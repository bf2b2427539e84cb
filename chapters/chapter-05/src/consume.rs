//! `proglog consume`: print records from an offset on, as `OFFSET<TAB>VALUE`
//! lines or JSON lines; with `--follow`, keep waiting for new ones like
//! `tail -f`.
//!
//! Both modes use `ConsumeStream`. The command first asks where the log
//! starts and ends (a `Consume` past any offset answers `OUT_OF_RANGE` with
//! both in its details): without `--from` it starts at the lowest offset
//! (retention may have deleted offset 0), and without `--follow` it stops
//! at the end.

use std::io::Write;

use anyhow::Context;
use chapter_02::api::v1::ConsumeRequest;
use tonic::Code;
use tonic_types::StatusExt;

use crate::cli::{ConsumeArgs, OutputFormat};
use crate::client::{connect, fail};

// ANCHOR: consume_bounds
/// Runs `proglog consume`.
///
/// # Errors
/// A connection failure or a refused call, in one line.
pub async fn run(args: &ConsumeArgs) -> anyhow::Result<()> {
    let mut client = connect(&args.client).await?;
    // Where the log starts and ends now: a `Consume` past any offset answers
    // OUT_OF_RANGE with both in its details.
    let (lowest, next) = match client.consume(ConsumeRequest { offset: u64::MAX }).await {
        Err(status) if status.code() == Code::OutOfRange => bounds(&status)?,
        Err(status) => return fail(status),
        Ok(_) => anyhow::bail!("the server returned a record at offset {}", u64::MAX),
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
    let mut records = match client.consume_stream(ConsumeRequest { offset: from }).await {
        Ok(response) => response.into_inner(),
        Err(status) => return fail(status),
    };
    // ANCHOR_END: consume_bounds
    // ANCHOR: consume_print
    let mut stdout = std::io::stdout().lock();
    loop {
        let record = match records.message().await {
            Ok(Some(response)) => response
                .record
                .context("the server sent a response without a record")?,
            Ok(None) => return Ok(()),
            Err(status) => return fail(status),
        };
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
            stdout.flush()?; // a follower's lines appear as they come
        }
        if record.offset + 1 >= end {
            return Ok(());
        }
    }
}
// ANCHOR_END: consume_print

/// The lowest and next offsets from an `OUT_OF_RANGE` status's `ErrorInfo`.
pub fn bounds(status: &tonic::Status) -> anyhow::Result<(u64, u64)> {
    let info = status
        .get_details_error_info()
        .context("OUT_OF_RANGE without ErrorInfo details")?;
    let offset = |key: &str| -> anyhow::Result<u64> {
        let value = info
            .metadata
            .get(key)
            .with_context(|| format!("OUT_OF_RANGE details without {key}"))?;
        value
            .parse()
            .with_context(|| format!("OUT_OF_RANGE details with a malformed {key}"))
    };
    Ok((offset("lowest_offset")?, offset("next_offset")?))
}
