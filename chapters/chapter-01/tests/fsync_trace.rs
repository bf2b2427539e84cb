//! Every fsync the log makes, seen from outside.
//!
//! A crash test that kills the process keeps the page cache, so it cannot
//! tell a log that syncs from one that never does; neither can reading the
//! records back. This test runs the log in a child process under `strace`,
//! which records every `fsync` and `fdatasync` with the path of the file it
//! was called on, and counts them between two markers (an fsync of a file
//! named `MARK-begin`, then `MARK-end`): per sync policy, per roll, per
//! removal. A policy that syncs too little fails here.
//!
//! Needs `strace` (Debian: `apt-get install strace`; CI installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::path::Path;
use std::process::Command;

use chapter_01::{Config, Log, SyncPolicy};

const SCENARIO: &str = "PROGLOG_FSYNC_SCENARIO";

/// What the child did between the markers, counted from strace's record.
#[derive(Debug, Default, PartialEq, Eq)]
struct Syncs {
    /// `fdatasync` of a `.store` file.
    stores: usize,
    /// `fsync` of the log's directory.
    directory: usize,
}

fn main() {
    if let Ok(scenario) = std::env::var(SCENARIO) {
        let dir = std::env::var("PROGLOG_FSYNC_DIR").unwrap();
        child(&scenario, Path::new(&dir));
        return;
    }
    // ANCHOR: expectations
    let expectations = [
        // 20 appends, one record each.
        (
            "os",
            Syncs {
                stores: 0,
                directory: 0,
            },
        ),
        (
            "every_5",
            Syncs {
                stores: 4,
                directory: 0,
            },
        ),
        (
            "always",
            Syncs {
                stores: 20,
                directory: 0,
            },
        ),
        // 20 appends from 4 threads at once: fewer syncs than appends.
        (
            "always_concurrent",
            Syncs {
                stores: 0,
                directory: 0,
            },
        ),
        // 6 records, two per segment: 2 rolls, each new file's name made
        // durable (a directory fsync) before its first record is acknowledged.
        (
            "always_rolling",
            Syncs {
                stores: 6,
                directory: 2,
            },
        ),
        // Retention removing three segments: the removal made durable.
        (
            "truncate",
            Syncs {
                stores: 0,
                directory: 1,
            },
        ),
    ];
    // ANCHOR_END: expectations
    let mut failed = 0;
    for (scenario, expected) in expectations {
        let seen = trace(scenario);
        let ok = match scenario {
            "always_concurrent" => seen.stores >= 1 && seen.stores < 20,
            "always_rolling" => seen.stores >= expected.stores && seen.directory == 2,
            _ => seen == expected,
        };
        println!(
            "test {scenario} ... {} (saw {seen:?}, expected {expected:?})",
            if ok { "ok" } else { "FAILED" }
        );
        failed += usize::from(!ok);
    }
    assert_eq!(failed, 0, "{failed} scenarios synced other than promised");
}

/// Runs `scenario` in a child under strace, and counts its syncs.
fn trace(scenario: &str) -> Syncs {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("strace.out");
    let log_dir = dir.path().join("log");
    let output = Command::new("strace")
        .args(["-f", "-qq", "-y", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&record)
        .arg(std::env::current_exe().unwrap())
        .env(SCENARIO, scenario)
        .env("PROGLOG_FSYNC_DIR", &log_dir)
        .output()
        .unwrap_or_else(|error| panic!("strace is needed (apt-get install strace): {error}"));
    assert!(
        output.status.success(),
        "{scenario}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let record = std::fs::read_to_string(&record).unwrap();
    if std::env::var_os("PROGLOG_FSYNC_SHOW").is_some() {
        println!("{record}");
    }
    count(&record, &log_dir)
}

/// Counts the syncs between the markers in strace's output, whose lines
/// look like `1234  fdatasync(3</tmp/x/log/00000000000000000000.store>) = 0`
/// (or, when two threads overlap, `... <unfinished ...>` and a separate
/// `<... fdatasync resumed>` line: the call is counted where it starts).
fn count(strace: &str, log_dir: &Path) -> Syncs {
    let log_dir = format!("<{}>", log_dir.display());
    let mut syncs = Syncs::default();
    let mut counting = false;
    let calls = strace
        .lines()
        .filter(|line| !line.contains("resumed>") && !line.contains("= -1"));
    for line in calls {
        if line.contains("MARK-begin") {
            counting = true;
        } else if line.contains("MARK-end") {
            counting = false;
        } else if counting && line.contains("fdatasync(") && line.contains(".store>") {
            syncs.stores += 1;
        } else if counting && line.contains("fsync(") && line.contains(&log_dir) {
            syncs.directory += 1;
        }
    }
    syncs
}

/// An fsync strace will show with this name.
fn mark(dir: &Path, name: &str) {
    File::create(dir.join(name)).unwrap().sync_all().unwrap();
}

fn child(scenario: &str, dir: &Path) {
    let sync = match scenario {
        "every_5" => SyncPolicy::EveryRecords(5),
        "always" | "always_concurrent" | "always_rolling" => SyncPolicy::Always,
        _ => SyncPolicy::Os,
    };
    let small = matches!(scenario, "always_rolling" | "truncate");
    let config = Config {
        sync,
        max_store_bytes: if small { 64 } else { 1 << 20 },
        ..Config::default()
    };
    let log = Log::open(dir, config).unwrap();
    let marks = dir.parent().unwrap();
    let value = [7u8; 20]; // 32 bytes framed: two per small segment
    match scenario {
        "truncate" => {
            for _ in 0..8 {
                log.append(&value).unwrap();
            }
            log.sync().unwrap(); // the sealer's syncs are done before the mark
            mark(marks, "MARK-begin");
            log.truncate(6).unwrap();
            mark(marks, "MARK-end");
        }
        "always_concurrent" => {
            let log = std::sync::Arc::new(log);
            mark(marks, "MARK-begin");
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let log = std::sync::Arc::clone(&log);
                    std::thread::spawn(move || {
                        for _ in 0..5 {
                            log.append(&value).unwrap();
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            mark(marks, "MARK-end");
        }
        _ => {
            let appends = if scenario == "always_rolling" { 6 } else { 20 };
            mark(marks, "MARK-begin");
            for _ in 0..appends {
                log.append(&value).unwrap();
            }
            mark(marks, "MARK-end");
        }
    }
}
