//! `proglog consume`: records from an offset on, read from the followers,
//! resumed on another server if one fails (chapter 8).

use chapter_05::consume::{offsets_to_print, print_record};
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
    let bounds = (lowest, next);
    let Some((from, end)) = offsets_to_print(args.from, args.follow, args.count, bounds) else {
        return Ok(());
    };
    // ANCHOR_END: run_bounds
    // ANCHOR: run_print
    let mut records = Box::pin(client.consume_stream(from));
    let mut stdout = std::io::stdout().lock();
    while let Some(record) = records.next().await {
        let record = record.map_err(explain)?;
        let offset = record.offset;
        print_record(&mut stdout, record, args.format, args.follow)?;
        if offset + 1 >= end {
            break;
        }
    }
    Ok(())
}
// ANCHOR_END: run_print
