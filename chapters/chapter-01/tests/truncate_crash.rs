//! `truncate_after` killed halfway, many times over: a child process
//! appends records and cuts the log back at random offsets, under
//! `SyncPolicy::Always`; the parent kills it with SIGKILL at a random
//! moment (often in the middle of a cut, which removes segments, cuts a
//! store and reopens a segment), reopens the log, and checks that it opens
//! and that every record in it is the one written at its offset: a cut
//! interrupted anywhere leaves a valid log, never a gap or a misplaced record.
//!
//! The child is this same test binary (`harness = false` in Cargo.toml).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use chapter_01::{Config, Log, SyncPolicy};
use common::{crash_seed, xorshift};

const CHILD_DIR: &str = "PROGLOG_TRUNCATE_CHILD_DIR";
const ROUNDS: usize = 15;

/// Small segments, so cuts cross segment boundaries.
fn config() -> Config {
    Config {
        max_store_bytes: 2048,
        max_index_bytes: 64 * 8,
        sync: SyncPolicy::Always,
        ..Config::default()
    }
}

/// The value at `offset`: a function of the offset alone, so a record read
/// back can be checked against where it sits.
fn value(offset: u64) -> Vec<u8> {
    format!("{offset:010};")
        .repeat(1 + (offset % 7) as usize)
        .into_bytes()
}

fn main() {
    match std::env::var_os(CHILD_DIR) {
        Some(dir) => child(Path::new(&dir)),
        None => parent(),
    }
}

/// Appends and cuts back, forever.
fn child(dir: &Path) {
    let log = Log::open(dir, config()).unwrap();
    let mut random = xorshift(log.next_offset() | 1);
    loop {
        for _ in 0..40 {
            let next = log.next_offset();
            assert_eq!(log.append(&value(next)).unwrap(), next);
        }
        let (lowest, next) = (log.lowest_offset(), log.next_offset());
        let cut = lowest + random() % (next - lowest);
        log.truncate_after(cut).unwrap();
    }
}

fn parent() {
    // The kill times are random; PROGLOG_CRASH_SEED replays a run.
    let mut random = xorshift(crash_seed("truncate_crash"));
    let dir = tempfile::tempdir().unwrap();
    for round in 1..=ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(30 + random() % 120));
        child.kill().unwrap(); // SIGKILL: no destructors, no close
        child.wait().unwrap();

        let log = Log::open(dir.path(), config()).unwrap();
        for offset in log.lowest_offset()..log.next_offset() {
            assert_eq!(
                log.read(offset).unwrap(),
                value(offset),
                "round {round}: offset {offset}"
            );
        }
        println!(
            "round {round:2}: {}..{} intact after the kill, {} repairs, {} segments",
            log.lowest_offset(),
            log.next_offset(),
            log.repairs().len(),
            log.segment_count()
        );
    }
    println!("truncate_crash: {ROUNDS} passed, 0 failed");
}
