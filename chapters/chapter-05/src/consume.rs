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
use chapter_02::api::v1::{ConsumeRequest, Record};
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
    let Some((from, end)) = offsets_to_print(args.from, args.follow, args.count, (lowest, next))
    else {
        return Ok(());
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
        let offset = record.offset;
        print_record(&mut stdout, record, args.format, args.follow)?;
        if offset + 1 >= end {
            return Ok(());
        }
    }
}
// ANCHOR_END: consume_print

// ANCHOR: offsets_to_print
/// Which offsets to print, `from..end`, given the log's `(lowest, next)`:
/// from `--from` (else the lowest: retention may have deleted offset 0) to
/// the end (with `--follow`, forever), at most `--count` of them. `None`
/// when there is nothing to print. (Chapter 9's `consume` prints the same.)
pub fn offsets_to_print(
    from: Option<u64>,
    follow: bool,
    count: Option<u64>,
    (lowest, next): (u64, u64),
) -> Option<(u64, u64)> {
    let from = from.unwrap_or(lowest);
    let end = if follow { u64::MAX } else { next };
    // Starting exactly at the end prints nothing; past it, the stream
    // fails with OUT_OF_RANGE and the log's bounds.
    if count == Some(0) || (!follow && from == end) {
        return None;
    }
    let end = match count {
        Some(count) => end.min(from.saturating_add(count)),
        None => end,
    };
    Some((from, end))
}
// ANCHOR_END: offsets_to_print

// ANCHOR: print_record
/// Writes `record` to `out` as one line: `OFFSET<TAB>VALUE`, or a JSON
/// object (`value` if it is UTF-8, else `value_bytes`). With `follow`, the
/// line is flushed at once: a follower's lines appear as they come.
///
/// # Errors
/// Writing failed (a closed pipe, say).
pub fn print_record(
    out: &mut impl Write,
    record: Record,
    format: OutputFormat,
    follow: bool,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Text => writeln!(
            out,
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
            writeln!(out, "{line}")?;
        }
    }
    if follow {
        out.flush()?;
    }
    Ok(())
}
// ANCHOR_END: print_record

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
