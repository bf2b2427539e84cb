//! The disk saying no: a full disk, an immutable file or directory, no file
//! descriptors left. Whatever the cause, the append that meets it fails
//! with the operating system's error and leaves no trace (no offset taken,
//! no byte kept, nothing readable), nothing panics, and once the cause is
//! gone the log carries on from exactly where it was, across a reopen too.
//!
//! Each scenario runs in a child process of its own (this binary again), so
//! that a mount or a lowered limit cannot leak into another. The full-disk
//! scenario mounts a 4 MiB tmpfs in a private mount namespace (`unshare
//! --mount`). Root is needed, for the mount and for `chattr +i`; CI runs as
//! root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::process::Command;

use chapter_01::{Config, Error, Log};

const SCENARIO: &str = "PROGLOG_IO_FAILURE_SCENARIO";

/// A scenario: its name, and the function the child runs in a directory.
type Scenario = (&'static str, fn(&Path));

/// Every scenario.
const SCENARIOS: [Scenario; 6] = [
    ("a_full_disk_fails_appends_without_a_trace", full_disk),
    (
        "an_immutable_store_fails_appends_without_a_trace",
        immutable_store,
    ),
    ("a_roll_that_cannot_create_files_fails_cleanly", roll_fails),
    (
        "a_seal_that_cannot_trim_poisons_but_reads_go_on",
        seal_fails,
    ),
    ("a_reset_that_cannot_remove_keeps_a_usable_log", reset_fails),
    (
        "running_out_of_file_descriptors_fails_cleanly",
        out_of_file_descriptors,
    ),
];

fn main() {
    if let Ok(name) = std::env::var(SCENARIO) {
        let dir = std::env::var("PROGLOG_IO_FAILURE_DIR").unwrap();
        let (_, scenario) = SCENARIOS.iter().find(|(known, _)| *known == name).unwrap();
        scenario(Path::new(&dir));
        return;
    }
    assert!(
        rustix::process::geteuid().is_root(),
        "these tests mount a tmpfs and set immutable attributes: run them as root (CI does)"
    );
    let mut failed = 0;
    for (name, _) in SCENARIOS {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("unshare")
            .arg("--mount")
            .arg(std::env::current_exe().unwrap())
            .env(SCENARIO, name)
            .env("PROGLOG_IO_FAILURE_DIR", dir.path())
            .output()
            .unwrap();
        // Leave nothing immutable behind, whatever happened.
        let _ = Command::new("chattr")
            .args(["-R", "-i"])
            .arg(dir.path())
            .output();
        if output.status.success() {
            println!("test {name} ... ok");
        } else {
            failed += 1;
            println!(
                "test {name} ... FAILED\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    println!(
        "io_failures: {} passed, {failed} failed",
        SCENARIOS.len() - failed
    );
    assert_eq!(failed, 0);
}

fn value(n: u64, len: usize) -> Vec<u8> {
    format!("{n:08}").into_bytes().repeat(len / 8)
}

fn chattr(flag: &str, path: &Path) {
    let status = Command::new("chattr").arg(flag).arg(path).status().unwrap();
    assert!(status.success(), "chattr {flag} {}", path.display());
}

/// The sizes of the segment files in `dir`, to show a failure changed none.
fn sizes(dir: &Path) -> Vec<(String, u64)> {
    let mut sizes: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, entry.metadata().unwrap().len())
        })
        .filter(|(name, _)| name.ends_with(".store"))
        .collect();
    sizes.sort();
    sizes
}

/// After a failed append: nothing was taken, the log carries on.
fn assert_no_trace(log: &Log, next: u64) {
    assert_eq!(log.next_offset(), next, "no offset was taken");
    assert!(matches!(
        log.read(next),
        Err(Error::OffsetOutOfRange { .. })
    ));
}

// ANCHOR: full_disk
// ANCHOR: full_disk_fill
/// A 4 MiB disk fills up: every append from then on fails with "no space",
/// without a trace; when space is freed, the next append gets the offset the
/// failed ones did not, and a reopen finds exactly the acknowledged records.
fn full_disk(dir: &Path) {
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a tmpfs on {}", dir.display());
    fs::write(dir.join("ballast"), vec![1; 1 << 20]).unwrap();
    let config = Config {
        max_store_bytes: 256 << 10,
        max_index_bytes: 8 << 10,
        ..Config::default()
    };
    let log_dir = dir.join("log");
    let log = Log::open(&log_dir, config.clone()).unwrap();
    let mut next = 0;
    let error = loop {
        match log.append(&value(next, 4096)) {
            Ok(offset) => {
                assert_eq!(offset, next);
                next += 1;
            }
            Err(error) => break error,
        }
    };
    assert!(
        matches!(&error, Error::Io { source, .. } if source.raw_os_error() == Some(28)),
        "ENOSPC expected: {error}"
    );
    // ANCHOR_END: full_disk_fill
    // ANCHOR: full_disk_after
    let before = sizes(&log_dir);
    for _ in 0..3 {
        assert!(log.append(&value(999_999, 4096)).is_err());
        assert_no_trace(&log, next);
    }
    assert_eq!(sizes(&log_dir), before, "the failed appends left no bytes");
    fs::remove_file(dir.join("ballast")).unwrap();
    assert_eq!(log.append(&value(next, 4096)).unwrap(), next);
    drop(log);
    let log = Log::open(&log_dir, config).unwrap();
    assert_eq!(log.next_offset(), next + 1);
    for offset in 0..=next {
        assert_eq!(
            log.read(offset).unwrap(),
            value(offset, 4096),
            "offset {offset}"
        );
    }
    println!("the disk was full after {next} records");
}
// ANCHOR_END: full_disk_after
// ANCHOR_END: full_disk

/// A store the kernel will not let anyone write (`chattr +i`): appends fail
/// with "operation not permitted", without a trace, until the flag goes.
fn immutable_store(dir: &Path) {
    let log = Log::open(dir, Config::default()).unwrap();
    for n in 0..10 {
        log.append(&value(n, 64)).unwrap();
    }
    let store = dir.join("00000000000000000000.store");
    chattr("+i", &store);
    for _ in 0..3 {
        let error = log.append(&value(99, 64)).unwrap_err();
        assert!(
            matches!(&error, Error::Io { source, .. } if source.raw_os_error() == Some(1)),
            "EPERM expected: {error}"
        );
        assert_no_trace(&log, 10);
    }
    chattr("-i", &store);
    assert_eq!(log.append(&value(10, 64)).unwrap(), 10);
    drop(log);
    let log = Log::open(dir, Config::default()).unwrap();
    assert_eq!(log.next_offset(), 11);
    assert_eq!(log.read(10).unwrap(), value(10, 64));
}

/// The segment is full and no new segment file can be created (the
/// directory is immutable): the append that needs the roll fails, the full
/// segment is not sealed by the failure, and after the cause is gone the
/// roll happens and every record reads back.
fn roll_fails(dir: &Path) {
    let config = Config {
        max_store_bytes: 1024,
        ..Config::default()
    };
    let log = Log::open(dir, config.clone()).unwrap();
    for n in 0..16 {
        log.append(&value(n, 48)).unwrap(); // 16 × 60 bytes: almost full
    }
    chattr("+i", dir);
    for _ in 0..3 {
        assert!(log.append(&value(99, 128)).is_err());
        assert_no_trace(&log, 16);
        assert_eq!(log.segment_count(), 1);
    }
    assert_eq!(
        log.append(&value(16, 48)).unwrap(),
        16,
        "what fits still goes in"
    );
    chattr("-i", dir);
    assert_eq!(log.append(&value(17, 128)).unwrap(), 17);
    assert_eq!(log.segment_count(), 2);
    drop(log);
    let log = Log::open(dir, config).unwrap();
    assert_eq!(log.read(16).unwrap(), value(16, 48));
    assert_eq!(log.read(17).unwrap(), value(17, 128));
}

/// The full segment's index cannot be trimmed (immutable): the sealer's
/// failure poisons the log (it no longer knows its files are as it
/// wrote them), writes are refused with the cause, and reads go on with
/// no panic. A reopen finishes the seal.
fn seal_fails(dir: &Path) {
    let config = Config {
        max_store_bytes: 1024,
        ..Config::default()
    };
    let log = Log::open(dir, config.clone()).unwrap();
    for n in 0..17 {
        log.append(&value(n, 48)).unwrap();
    }
    chattr("+i", &dir.join("00000000000000000000.index"));
    assert_eq!(
        log.append(&value(17, 128)).unwrap(),
        17,
        "the roll itself works"
    );
    let error = log.sync().unwrap_err();
    assert!(
        matches!(&error, Error::Poisoned { cause } if cause.contains("trimming index")),
        "{error}"
    );
    assert!(matches!(
        log.append(b"refused"),
        Err(Error::Poisoned { .. })
    ));
    for offset in 0..18 {
        log.read(offset).unwrap();
    }
    chattr("-i", &dir.join("00000000000000000000.index"));
    drop(log);
    let log = Log::open(dir, config).unwrap();
    assert_eq!(log.next_offset(), 18);
    assert_eq!(log.append(b"after the reopen").unwrap(), 18);
}

/// Reset deletes segments oldest first; when one cannot be deleted, the
/// segments still there remain a usable log (no empty list, no panic).
fn reset_fails(dir: &Path) {
    let config = Config {
        max_store_bytes: 256,
        ..Config::default()
    };
    let log = Log::open(dir, config).unwrap();
    for n in 0..12 {
        log.append(&value(n, 48)).unwrap(); // four per segment: 0, 4, 8
    }
    chattr("+i", &dir.join("00000000000000000004.store"));
    assert!(log.reset().is_err());
    assert_eq!(log.lowest_offset(), 4, "segment 0 went, segment 4 stayed");
    assert_eq!(log.next_offset(), 12);
    assert_eq!(log.read(5).unwrap(), value(5, 48));
    assert_eq!(log.append(&value(12, 48)).unwrap(), 12);
    chattr("-i", &dir.join("00000000000000000004.store"));
    log.reset().unwrap();
    assert_eq!(log.append(b"again").unwrap(), 0);
}

/// No file descriptor left for a new segment: the append that needs the
/// roll fails with "too many open files" (the OS's words, kept), and works
/// once descriptors are back.
fn out_of_file_descriptors(dir: &Path) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let config = Config {
        max_store_bytes: 1024,
        ..Config::default()
    };
    let log = Log::open(dir, config).unwrap();
    for n in 0..16 {
        log.append(&value(n, 48)).unwrap();
    }
    let limit = getrlimit(Resource::Nofile);
    // Take every descriptor there is: open /dev/null until the OS says no.
    let mut lowered = limit;
    lowered.current = Some(64);
    setrlimit(Resource::Nofile, lowered).unwrap();
    let mut hogs = Vec::new();
    while let Ok(file) = fs::File::open("/dev/null") {
        hogs.push(file);
    }
    let error = log.append(&value(99, 128)).unwrap_err();
    assert!(
        error.to_string().contains("Too many open files"),
        "EMFILE expected: {error}"
    );
    assert_no_trace(&log, 16);
    drop(hogs);
    setrlimit(Resource::Nofile, limit).unwrap();
    assert_eq!(log.append(&value(16, 128)).unwrap(), 16);
    assert_eq!(log.read(16).unwrap(), value(16, 128));
}
