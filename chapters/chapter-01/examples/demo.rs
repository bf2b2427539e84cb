//! The chapter 1 demo: a log in a temporary directory, in five steps.
//!
//! `cargo run -p chapter-01 --example demo`
//!
//! It appends records, reads them back, reopens the log to show they
//! survived, rolls small segments to show the files on disk, and simulates a
//! torn write to show recovery cutting it off.

use std::error::Error;
use std::fs::OpenOptions;
use std::io::Write;

use chapter_01::{Config, Log, SyncPolicy};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    // Tiny segments (256-byte stores) so that a few records roll several.
    let config = Config {
        max_store_bytes: 256,
        max_index_bytes: 1024,
        sync: SyncPolicy::Always,
        ..Config::default()
    };
    println!("log directory: {}", dir.path().display());

    println!("\n1. append");
    let log = Log::open(dir.path(), config.clone())?;
    let values = [
        "the first record",
        "the second record",
        "a third",
        "and a fourth, somewhat longer than the rest",
    ];
    for value in values {
        let offset = log.append(value.as_bytes())?;
        println!("   appended {value:?} at offset {offset}");
    }
    let batch: Vec<String> = (0..6).map(|n| format!("batched record {n}")).collect();
    let slices: Vec<&[u8]> = batch.iter().map(|value| value.as_bytes()).collect();
    let offsets = log.append_batch(&slices)?;
    println!(
        "   appended a batch of {} at offsets {offsets:?} (one lock, one write, one fsync)",
        slices.len()
    );

    println!("\n2. read back");
    for offset in log.lowest_offset()..log.next_offset() {
        println!(
            "   offset {offset}: {:?}",
            String::from_utf8_lossy(&log.read(offset)?)
        );
    }
    match log.read(log.next_offset()) {
        Err(error) => println!("   offset {}: {error}", log.next_offset()),
        Ok(_) => return Err("a read past the end succeeded".into()),
    }

    println!("\n3. the files on disk ({} segments)", log.segment_count());
    log.close()?;
    let mut files: Vec<_> = std::fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
    files.sort_by_key(|entry| entry.file_name());
    for entry in &files {
        println!(
            "   {:>5} bytes  {}",
            entry.metadata()?.len(),
            entry.file_name().to_string_lossy()
        );
    }

    println!("\n4. reopen: every record survived");
    let log = Log::open(dir.path(), config.clone())?;
    println!(
        "   offsets {}..{}, highest {:?}",
        log.lowest_offset(),
        log.next_offset(),
        log.highest_offset()
    );
    let last_store = files
        .iter()
        .map(|entry| entry.path())
        .rfind(|path| {
            path.extension()
                .is_some_and(|extension| extension == "store")
        })
        .ok_or("no store file")?;
    log.close()?;

    println!("\n5. a torn write: half a record at the end of the active store");
    OpenOptions::new()
        .append(true)
        .open(&last_store)?
        .write_all(&[0, 0, 0, 0, 0, 0, 0, 40, 1, 2, 3])?;
    let log = Log::open(dir.path(), config)?;
    for repair in log.repairs() {
        println!("   recovery: {repair}");
    }
    let offset = log.append(b"appends carry on after recovery")?;
    println!(
        "   appended at offset {offset}: {:?}",
        String::from_utf8_lossy(&log.read(offset)?)
    );
    Ok(())
}
