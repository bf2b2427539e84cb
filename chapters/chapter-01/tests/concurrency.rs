//! `Log` is `Send + Sync`: appends on one thread, reads on several, at once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use chapter_01::{Config, Log};
use common::value;

const RECORDS: u64 = 20_000;
const READERS: usize = 3;

// While one thread appends (rolling many small segments), readers on other
// threads read every offset that exists: each read returns its own value,
// including the newest record, and the appended offsets are contiguous.
#[test]
fn readers_see_every_appended_record_while_appends_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        max_store_bytes: 4096,
        max_index_bytes: 100 * 8,
        ..Config::default()
    };
    let log = Arc::new(Log::open(dir.path(), config).unwrap());
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..READERS)
        .map(|reader| {
            let (log, done) = (Arc::clone(&log), Arc::clone(&done));
            thread::spawn(move || {
                let mut reads = 0u64;
                let mut state = reader as u64 + 1;
                while !done.load(Ordering::Relaxed) {
                    let next = log.next_offset();
                    if next == 0 {
                        continue;
                    }
                    // The newest record and a random older one.
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    for offset in [next - 1, (state >> 33) % next] {
                        assert_eq!(log.read(offset).unwrap(), value(offset), "offset {offset}");
                        reads += 1;
                    }
                }
                reads
            })
        })
        .collect();

    let mut offsets = Vec::with_capacity(RECORDS as usize);
    for n in 0..RECORDS {
        offsets.push(log.append(&value(n)).unwrap());
    }
    done.store(true, Ordering::Relaxed);
    let reads: u64 = readers
        .into_iter()
        .map(|reader| reader.join().unwrap())
        .sum();

    assert_eq!(
        offsets,
        (0..RECORDS).collect::<Vec<_>>(),
        "offsets are contiguous from 0"
    );
    assert!(reads > 0, "the readers ran");
    assert!(
        log.segment_count() > 10,
        "appends rolled segments under the readers"
    );
}

// Appends from several threads at once are serialized: every offset is
// handed out exactly once, and each holds the value its appender wrote.
#[test]
fn concurrent_appenders_get_distinct_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        Log::open(
            dir.path(),
            Config {
                max_store_bytes: 4096,
                ..Config::default()
            },
        )
        .unwrap(),
    );
    let appenders: Vec<_> = (0..4u8)
        .map(|writer| {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                (0..2_000)
                    .map(|_| (log.append(&[writer; 30]).unwrap(), writer))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut written: Vec<(u64, u8)> = appenders
        .into_iter()
        .flat_map(|appender| appender.join().unwrap())
        .collect();
    written.sort_unstable();
    assert_eq!(
        written
            .iter()
            .map(|(offset, _)| *offset)
            .collect::<Vec<_>>(),
        (0..8_000).collect::<Vec<_>>()
    );
    for (offset, writer) in written {
        assert_eq!(log.read(offset).unwrap(), [writer; 30]);
    }
}
