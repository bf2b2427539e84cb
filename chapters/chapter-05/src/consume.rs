//! `proglog consume`: print records from an offset on, as `OFFSET<TAB>VALUE`
//! lines or JSON lines; with `--follow`, keep waiting for new ones like
//! `tail -f`.
//!
//! Both modes use `ConsumeStream`. Without `--follow` the command first asks
//! where the log ends (a `Consume` past any offset answers `OUT_OF_RANGE`
//! with the next offset in its details) and stops there.

use std::io::Write;

use anyhow::Context;
use chapter_02::api::v1::ConsumeRequest;
use tonic::Code;
use tonic_types::StatusExt;

use crate::cli::{ConsumeArgs, OutputFormat};
use crate::client::{connect, fail};

/// Runs `proglog consume`.
///
/// # Errors
/// A connection failure or a refused call, in one line.
pub async fn run(args: &ConsumeArgs) -> anyhow::Result<()> {
    let mut client = connect(&args.client).await?;
    // Where to stop: the count, and without --follow the end of the log now.
    let end = match args.follow {
        true => u64::MAX,
        false => match client.consume(ConsumeRequest { offset: u64::MAX }).await {
            Err(status) if status.code() == Code::OutOfRange => next_offset(&status)?,
            Err(status) => return fail(status),
            Ok(_) => anyhow::bail!("the server returned a record at offset {}", u64::MAX),
        },
    };
    // Starting exactly at the end prints nothing; past it, the stream below
    // fails with OUT_OF_RANGE and the log's bounds.
    if args.count == Some(0) || (!args.follow && args.from == end) {
        return Ok(());
    }
    let end = match args.count {
        Some(count) => end.min(args.from.saturating_add(count)),
        None => end,
    };
    let mut records = match client
        .consume_stream(ConsumeRequest { offset: args.from })
        .await
    {
        Ok(response) => response.into_inner(),
        Err(status) => return fail(status),
    };
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

/// The next offset from an `OUT_OF_RANGE` status's `ErrorInfo`.
fn next_offset(status: &tonic::Status) -> anyhow::Result<u64> {
    let info = status
        .get_details_error_info()
        .context("OUT_OF_RANGE without ErrorInfo details")?;
    let next = info
        .metadata
        .get("next_offset")
        .context("OUT_OF_RANGE details without next_offset")?;
    next.parse()
        .context("OUT_OF_RANGE details with a malformed next_offset")
}
