//! A real crash, many times over: a child process appends under
//! `SyncPolicy::Always` and reports every offset `append` returned; the
//! parent kills it with SIGKILL at a random moment, reopens the log, and
//! checks that every reported offset reads back identical, and that the next
//! child can recover the log and carry on appending.
//!
//! The child is this same test binary, started with an environment variable
//! that tells `main` to play the child. (`harness = false` in Cargo.toml.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chapter_01::{Config, Log, SyncPolicy};
use common::{crash_seed, xorshift};

const CHILD_DIR: &str = "PROGLOG_CRASH_CHILD_DIR";
const ROUNDS: usize = 20;

/// Small segments so the children also crash while rolling segments.
fn config() -> Config {
    Config {
        max_store_bytes: 16 * 1024,
        max_index_bytes: 120 * 12,
        sync: SyncPolicy::Always,
        ..Config::default()
    }
}

/// The value at `offset`: derived from the offset, of varying length.
fn value(offset: u64) -> Vec<u8> {
    format!("{offset:010};")
        .repeat(1 + (offset % 37) as usize)
        .into_bytes()
}

fn main() {
    match std::env::var_os(CHILD_DIR) {
        Some(dir) => child(Path::new(&dir)),
        None => parent(),
    }
}

/// Appends forever (single records and batches by turns), printing each
/// offset only after `append` has returned it.
fn child(dir: &Path) {
    let log = Log::open(dir, config()).unwrap();
    let mut stdout = std::io::stdout().lock();
    loop {
        let next = log.next_offset();
        let batch: Vec<Vec<u8>> = (next..next + 1 + next % 5).map(value).collect();
        let offsets = if batch.len() == 1 {
            let offset = log.append(&batch[0]).unwrap();
            offset..offset + 1
        } else {
            log.append_batch(&batch.iter().map(Vec::as_slice).collect::<Vec<_>>())
                .unwrap()
        };
        assert_eq!(offsets.start, next);
        for offset in offsets {
            writeln!(stdout, "{offset}").unwrap();
        }
        stdout.flush().unwrap();
    }
}

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    // The kill times are random; PROGLOG_CRASH_SEED replays a run.
    let mut random = xorshift(crash_seed("crash"));
    let mut acknowledged = 0u64; // every offset below this was reported by a child
    let mut repairs = 0;
    for round in 1..=ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            // Only whole lines count: a line cut by the kill was never reported.
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| line.parse::<u64>().ok())
                .max()
        });
        // ANCHOR: kill_and_check
        // Wait for the child to start appending, then kill it somewhere random.
        std::thread::sleep(Duration::from_millis(20 + random() % 80));
        child.kill().unwrap(); // SIGKILL: no destructors, no flush, no close
        child.wait().unwrap();
        if let Some(highest) = reader.join().unwrap() {
            acknowledged = acknowledged.max(highest + 1);
        }

        let started = Instant::now();
        let log = Log::open(dir.path(), config()).unwrap();
        repairs += log.repairs().len();
        assert!(
            log.next_offset() >= acknowledged,
            "round {round}: the log ends at {} but offsets up to {} were acknowledged",
            log.next_offset(),
            acknowledged - 1
        );
        // Every record in the log is intact: acknowledged ones and any the
        // child appended but was killed before reporting.
        for offset in 0..log.next_offset() {
            assert_eq!(
                log.read(offset).unwrap(),
                value(offset),
                "round {round}: offset {offset}"
            );
        }
        // ANCHOR_END: kill_and_check
        println!(
            "round {round:2}: {} records survive ({} acknowledged), {} repairs, reopened and verified in {:?}",
            log.next_offset(),
            acknowledged,
            log.repairs().len(),
            started.elapsed()
        );
    }
    assert!(acknowledged > 0, "the children never got to append");
    println!(
        "crash: {ROUNDS} passed, 0 failed ({acknowledged} acknowledged offsets, {repairs} repairs in all)"
    );
}
