// ANCHOR: small_logs
//! Helpers shared by the integration tests: small logs in temporary directories.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::Write as _;
use std::path::Path;

use chapter_01::{Config, Log};

/// A config with tiny segments, so a handful of records rolls several of them:
/// stores of 64 bytes hold two 20-byte records (32 bytes framed each).
pub fn small_segments() -> Config {
    Config {
        max_store_bytes: 64,
        max_index_bytes: 1024,
        ..Config::default()
    }
}

/// The value the tests append at `offset`: distinct for every offset.
pub fn value(offset: u64) -> Vec<u8> {
    format!("record number {offset:06}").into_bytes()
}

/// Appends `count` records made by [`value`], checking their offsets.
pub fn fill(log: &Log, count: u64) {
    for n in 0..count {
        let offset = log.append(&value(n)).unwrap();
        assert_eq!(offset, n);
    }
}
// ANCHOR_END: small_logs

// ANCHOR: layout
/// The files in `dir` with their sizes, sorted by name: the on-disk layout.
pub fn layout(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            format!(
                "{} {}",
                entry.file_name().to_string_lossy(),
                entry.metadata().unwrap().len()
            )
        })
        .collect();
    files.sort();
    files
}
// ANCHOR_END: layout

// ANCHOR: random
/// The seed of a randomized test: `$PROGLOG_CRASH_SEED` if set (to replay
/// a run), else the clock. Printed, with `test`'s name, so that any run,
/// a failed one above all, can be replayed.
pub fn crash_seed(test: &str) -> u64 {
    let seed = match std::env::var("PROGLOG_CRASH_SEED") {
        Ok(seed) => seed.parse().expect("PROGLOG_CRASH_SEED is a number"),
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .expect("the clock is past 1970")
                .as_nanos() as u64
                | 1
        }
    };
    println!("{test}: seed {seed} (PROGLOG_CRASH_SEED={seed} replays the kill times)");
    seed
}

/// A small deterministic pseudo-random generator.
pub fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
// ANCHOR_END: random

// ANCHOR: file_helpers
/// A copy of the log's segment files as they are on disk right now, in a
/// new directory: exactly what `kill -9` would leave behind (every append is
/// in the OS's hands when it returns), with no clean-shutdown marker.
pub fn crash_image(log: &Log) -> tempfile::TempDir {
    let image = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(log.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|extension| extension == "store" || extension == "index")
        {
            std::fs::copy(&path, image.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    image
}

/// Appends `bytes` to the file at `path`, as a torn or stray write would.
pub fn append_bytes(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

/// Cuts (or extends with zeros) the file at `path` to `len` bytes.
pub fn set_len(path: &Path, len: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len).unwrap();
}

/// Flips the bits of `mask` in byte `byte` of the file at `path`.
pub fn flip(path: &Path, byte: usize, mask: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[byte] ^= mask;
    std::fs::write(path, bytes).unwrap();
}
// ANCHOR_END: file_helpers
