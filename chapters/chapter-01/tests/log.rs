// ANCHOR: header
//! The public API of the log: the Go book's log cases, as behaviour, and
//! what our log promises beyond them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::Read;

use chapter_01::{Config, Error, FRAME_OVERHEAD, Log, SyncPolicy};
use common::{fill, layout, small_segments, value};
use rstest::{fixture, rstest};
use tempfile::TempDir;

#[fixture]
fn dir() -> TempDir {
    tempfile::tempdir().unwrap()
}
// ANCHOR_END: header

// ANCHOR: appends_and_reads_back
// Appending returns consecutive offsets, and each offset reads back its value.
#[rstest]
#[case::one_segment(Config::default())]
#[case::many_segments(small_segments())]
fn appends_and_reads_back(dir: TempDir, #[case] config: Config) {
    let log = Log::open(dir.path(), config).unwrap();
    fill(&log, 10);
    for offset in 0..10 {
        assert_eq!(log.read(offset).unwrap(), value(offset));
    }
}
// ANCHOR_END: appends_and_reads_back

// Reading at or past the next offset is out of range, with the bounds in the error.
#[rstest]
fn reading_past_the_end_is_out_of_range(dir: TempDir) {
    let log = Log::open(dir.path(), Config::default()).unwrap();
    assert!(matches!(
        log.read(0),
        Err(Error::OffsetOutOfRange {
            offset: 0,
            lowest: 0,
            next: 0
        })
    ));
    fill(&log, 1);
    let error = log.read(1).unwrap_err();
    assert!(matches!(
        error,
        Error::OffsetOutOfRange {
            offset: 1,
            lowest: 0,
            next: 1
        }
    ));
    assert_eq!(
        error.to_string(),
        "offset 1 is out of range: the log holds offsets 0..1"
    );
}

// An empty log and a one-record log do not look alike.
#[rstest]
fn highest_offset_is_none_for_an_empty_log(dir: TempDir) {
    let log = Log::open(dir.path(), Config::default()).unwrap();
    assert_eq!(
        (log.lowest_offset(), log.next_offset(), log.highest_offset()),
        (0, 0, None)
    );
    fill(&log, 1);
    assert_eq!(
        (log.lowest_offset(), log.next_offset(), log.highest_offset()),
        (0, 1, Some(0))
    );
}

// A new log starts at the configured initial offset.
#[rstest]
fn starts_at_the_initial_offset(dir: TempDir) {
    let log = Log::open(
        dir.path(),
        Config {
            initial_offset: 16,
            ..Config::default()
        },
    )
    .unwrap();
    assert_eq!(log.append(b"first").unwrap(), 16);
    assert_eq!(log.lowest_offset(), 16);
    assert!(matches!(
        log.read(15),
        Err(Error::OffsetOutOfRange {
            lowest: 16,
            next: 17,
            ..
        })
    ));
    assert!(dir.path().join("00000000000000000016.store").exists());
}

// ANCHOR: reopen
// Reopening a log with existing segments keeps every record and continues
// at the next offset.
#[rstest]
#[case::closed(true)]
#[case::dropped(false)]
fn reopen_keeps_every_record(dir: TempDir, #[case] close: bool) {
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 9);
    if close {
        log.close().unwrap();
    } else {
        drop(log);
    }
    let log = Log::open(dir.path(), small_segments()).unwrap();
    assert!(
        log.repairs().is_empty(),
        "a clean shutdown needs no repair: {:?}",
        log.repairs()
    );
    assert_eq!((log.lowest_offset(), log.highest_offset()), (0, Some(8)));
    for offset in 0..9 {
        assert_eq!(log.read(offset).unwrap(), value(offset));
    }
    assert_eq!(log.append(b"tenth").unwrap(), 9);
}
// ANCHOR_END: reopen

// A batch gets consecutive offsets, even when it spans several segments.
#[rstest]
fn append_batch_returns_the_range_and_spans_segments(dir: TempDir) {
    let log = Log::open(dir.path(), small_segments()).unwrap();
    let values: Vec<Vec<u8>> = (0..7).map(value).collect();
    let slices: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    assert_eq!(log.append_batch(&slices).unwrap(), 0..7);
    assert_eq!(log.append_batch(&[]).unwrap(), 7..7);
    assert_eq!(log.segment_count(), 4);
    for offset in 0..7 {
        assert_eq!(log.read(offset).unwrap(), value(offset));
    }
}

// A record that cannot fit even in an empty store is refused, and nothing
// about the log changes; a record that exactly fills a store is accepted.
#[rstest]
fn oversized_record_is_rejected_and_changes_nothing(dir: TempDir) {
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 1);
    let before = layout(dir.path());
    let too_big = vec![0; 64 - FRAME_OVERHEAD as usize + 1];
    let error = log.append_batch(&[b"fits", &too_big]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::RecordTooLarge {
                len: 53,
                max_store_bytes: 64,
                overhead: 12
            }
        ),
        "{error}"
    );
    assert_eq!(layout(dir.path()), before);
    assert_eq!(log.next_offset(), 1);
    let exactly_full = vec![1; 64 - FRAME_OVERHEAD as usize];
    assert_eq!(log.append(&exactly_full).unwrap(), 1);
    assert_eq!(log.read(1).unwrap(), exactly_full);
}

// ANCHOR: rolls_before
// A segment rolls *before* the append that would not fit, so no store ever
// holds bytes past its limit, and an index limit that is not a multiple of
// 8 still works (it holds the whole entries that fit). Closing trims every
// index to its entries and records the clean shutdown.
#[rstest]
fn rolls_before_the_append_that_would_not_fit(dir: TempDir) {
    let config = Config {
        max_store_bytes: 1024,
        max_index_bytes: 20,
        ..Config::default()
    };
    let log = Log::open(dir.path(), config).unwrap();
    fill(&log, 5);
    log.close().unwrap();
    // Two entries per index (20 / 8), 32 bytes per record.
    insta::assert_debug_snapshot!(layout(dir.path()), @r#"
    [
        "00000000000000000000.index 16",
        "00000000000000000000.store 64",
        "00000000000000000002.index 16",
        "00000000000000000002.store 64",
        "00000000000000000004.index 8",
        "00000000000000000004.store 32",
        "CLEAN 27",
        "LOCK 0",
    ]
    "#);
}
// ANCHOR_END: rolls_before

// The on-disk layout after a known sequence of appends: file names are the
// zero-padded base offsets; stores hold whole frames; sealed indexes are
// trimmed to their entries (once `sync` has waited for the background
// sealer), and the active one is allocated to its limit plus one entry.
#[rstest]
fn on_disk_layout_after_rolling(dir: TempDir) {
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    log.sync().unwrap();
    insta::assert_debug_snapshot!(layout(dir.path()));
}

// ANCHOR: reader
// The reader streams every store's raw bytes, oldest first: frames and all.
#[rstest]
fn reader_returns_the_raw_stores_in_order(dir: TempDir) {
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    let mut raw = Vec::new();
    log.reader().unwrap().read_to_end(&mut raw).unwrap();
    let mut expected = Vec::new();
    for offset in 0..5 {
        let record = value(offset);
        let length = (record.len() as u64).to_be_bytes();
        expected.extend_from_slice(&length);
        expected.extend_from_slice(
            &crc32c::crc32c_append(crc32c::crc32c(&length), &record).to_be_bytes(),
        );
        expected.extend_from_slice(&record);
    }
    assert_eq!(raw, expected);
}
// ANCHOR_END: reader

// ANCHOR: truncate
// Truncate removes exactly the segments whose records are all below the
// given offset; the rest stay readable.
#[rstest]
fn truncate_removes_whole_segments_below_the_offset(dir: TempDir) {
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 7); // segments start at 0, 2, 4, 6
    log.truncate(3).unwrap();
    assert_eq!(
        log.lowest_offset(),
        2,
        "offset 2 shares a segment with 3, so it stays"
    );
    assert!(matches!(
        log.read(1),
        Err(Error::OffsetOutOfRange { lowest: 2, .. })
    ));
    assert_eq!(log.read(2).unwrap(), value(2));
    log.truncate(6).unwrap();
    assert_eq!(log.lowest_offset(), 6);
    assert_eq!(log.segment_count(), 1);
}
// ANCHOR_END: truncate

// Truncating past every record leaves an empty log that keeps counting:
// offsets are never reused.
#[rstest]
fn truncate_past_the_end_keeps_the_next_offset(dir: TempDir) {
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 3);
    log.truncate(100).unwrap();
    assert_eq!(
        (log.lowest_offset(), log.next_offset(), log.highest_offset()),
        (3, 3, None)
    );
    assert_eq!(log.append(b"next").unwrap(), 3);
    drop(log);
    let log = Log::open(dir.path(), small_segments()).unwrap();
    assert_eq!((log.lowest_offset(), log.next_offset()), (3, 4));
}

// ANCHOR: reset
// Reset empties the log and leaves it usable (the Go book's does not).
#[rstest]
fn reset_leaves_an_empty_usable_log(dir: TempDir) {
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    log.reset().unwrap();
    assert_eq!(
        (log.lowest_offset(), log.next_offset(), log.highest_offset()),
        (0, 0, None)
    );
    assert_eq!(log.append(b"again").unwrap(), 0);
    assert_eq!(log.read(0).unwrap(), b"again");
    assert_eq!(
        layout(dir.path()).len(),
        3,
        "one segment and the lock: {:?}",
        layout(dir.path())
    );
}
// ANCHOR_END: reset

// Remove closes the log and deletes its directory.
#[rstest]
fn remove_deletes_the_directory(dir: TempDir) {
    let path = dir.path().join("log");
    let log = Log::open(&path, Config::default()).unwrap();
    fill(&log, 3);
    log.remove().unwrap();
    assert!(!path.exists());
}

// Two logs on one directory would corrupt each other: the second is refused.
#[rstest]
fn a_directory_is_opened_by_one_log_at_a_time(dir: TempDir) {
    let log = Log::open(dir.path(), Config::default()).unwrap();
    assert!(matches!(
        Log::open(dir.path(), Config::default()),
        Err(Error::Locked { .. })
    ));
    drop(log);
    Log::open(dir.path(), Config::default()).unwrap();
}

// Limits that cannot hold a single record are refused with the setting named.
#[rstest]
#[case::index(Config { max_index_bytes: 7, ..Config::default() }, "max_index_bytes is 7")]
#[case::store(Config { max_store_bytes: 11, ..Config::default() }, "max_store_bytes is 11")]
#[case::sync(Config { sync: SyncPolicy::EveryRecords(0), ..Config::default() }, "sync every 0 records")]
#[case::interval(Config { sync: SyncPolicy::Interval(std::time::Duration::ZERO), ..Config::default() }, "sync at an interval of 0")]
fn unusable_configs_are_refused(dir: TempDir, #[case] config: Config, #[case] message: &str) {
    let error = Log::open(dir.path(), config).unwrap_err();
    assert!(error.to_string().contains(message), "{error}");
}

// ANCHOR: sync_policies
// Each sync policy syncs exactly as often as it promises: counted, so a
// policy that never synced would fail here (dropping a log syncs it, so
// reading the records back afterwards could not tell).
#[rstest]
#[case::os(SyncPolicy::Os, 0)]
#[case::every_3(SyncPolicy::EveryRecords(3), 3)]
#[case::an_hour(SyncPolicy::Interval(std::time::Duration::from_secs(3600)), 0)]
#[case::always(SyncPolicy::Always, 10)]
fn every_sync_policy_syncs_as_it_promises(
    dir: TempDir,
    #[case] sync: SyncPolicy,
    #[case] syncs: u64,
) {
    let log = Log::open(
        dir.path(),
        Config {
            sync,
            ..Config::default()
        },
    )
    .unwrap();
    fill(&log, 10);
    assert_eq!(
        log.sync_count(),
        syncs,
        "syncs after 10 appends under {sync:?}"
    );
    log.sync().unwrap();
    assert_eq!(log.sync_count(), syncs + 1, "an explicit sync always syncs");
}
// ANCHOR_END: sync_policies

// ANCHOR: batch_one_sync
// One append_batch is one sync under SyncPolicy::Always, however many
// records it holds.
#[rstest]
fn a_batch_shares_one_sync(dir: TempDir) {
    let log = Log::open(
        dir.path(),
        Config {
            sync: SyncPolicy::Always,
            ..Config::default()
        },
    )
    .unwrap();
    let values: Vec<Vec<u8>> = (0..100).map(value).collect();
    let slices: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    log.append_batch(&slices).unwrap();
    assert_eq!(log.sync_count(), 1);
}
// ANCHOR_END: batch_one_sync

// ANCHOR: segments_info
// segments() describes every segment, oldest first, the last one active.
#[rstest]
fn segments_describes_each_segment(dir: TempDir) {
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    let segments = log.segments().unwrap();
    let shape: Vec<_> = segments
        .iter()
        .map(|s| (s.base_offset, s.next_offset, s.store_bytes, s.active))
        .collect();
    assert_eq!(
        shape,
        [(0, 2, 64, false), (2, 4, 64, false), (4, 5, 32, true)]
    );
    assert_eq!(log.size_bytes(), 160);
}
// ANCHOR_END: segments_info

/// A log is private data: its directory is created 0700 and every file in
/// it (stores, indexes, the meta file) 0600, as etcd does.
#[rstest]
fn its_directory_and_files_are_private(dir: TempDir) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path().join("private");
    let log = Log::open(&path, small_segments()).unwrap();
    fill(&log, 50);
    log.sync().unwrap();
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o700, "the log's directory");
    let files: Vec<_> = std::fs::read_dir(&path)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(
        files
            .iter()
            .any(|file| file.extension().is_some_and(|ext| ext == "index"))
    );
    assert!(files.len() > 2, "{files:?}");
    for file in files {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}
