// ANCHOR: header
//! Recovery: what a crash leaves behind, and that opening the log repairs it
//! to exactly the longest valid prefix; and what damage looks like, and that
//! opening the log refuses it with a precise error instead of cutting away
//! records that were acknowledged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use chapter_01::{Config, Corruption, Error, FRAME_OVERHEAD, Log, Repair};
use common::{append_bytes, crash_image, fill, flip, set_len, small_segments, value};
use rstest::rstest;

/// The store and index of the segment at `base` in `dir`.
fn files(dir: &Path, base: u64) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{base:020}.store")),
        dir.join(format!("{base:020}.index")),
    )
}
// ANCHOR_END: header

// ANCHOR: log_helpers
/// A log of `count` records in one segment, closed cleanly.
fn closed_log(count: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Config::default()).unwrap();
    fill(&log, count);
    log.close().unwrap();
    dir
}

/// A log of `count` records in one segment, as `kill -9` leaves it.
fn crashed_log(count: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Config::default()).unwrap();
    fill(&log, count);
    let image = crash_image(&log);
    drop(log);
    image
}

/// Checks that the log holds exactly `count` records and appends continue at `count`.
fn assert_holds_exactly(log: &Log, count: u64) {
    assert_eq!(log.next_offset(), count);
    for offset in 0..count {
        assert_eq!(log.read(offset).unwrap(), value(offset), "offset {offset}");
    }
    assert!(matches!(
        log.read(count),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.append(b"after recovery").unwrap(), count);
    assert_eq!(log.read(count).unwrap(), b"after recovery");
}
// ANCHOR_END: log_helpers

// A crash can cut the last record at any byte: for every cut, every earlier
// record is intact and appends continue at the right offset.
#[test]
fn a_torn_last_record_is_cut_off_at_every_byte() {
    let record_len = FRAME_OVERHEAD + value(0).len() as u64;
    for cut in 1..record_len {
        let dir = crashed_log(3);
        let (store, _) = files(dir.path(), 0);
        let full = fs::metadata(&store).unwrap().len();
        set_len(&store, full - record_len + cut);
        let log = Log::open(dir.path(), Config::default()).unwrap();
        assert_holds_exactly(&log, 2);
        assert!(
            matches!(log.repairs(), [Repair::CutTornTail { valid_len, cut_bytes, .. }, ..]
                if *valid_len == full - record_len && *cut_bytes == cut),
            "cut {cut}: {:?}",
            log.repairs()
        );
    }
}

// After a crash, a tail of zeros (a file extended before its data was
// written) or of garbage is cut off; the records before it are kept.
#[rstest]
#[case::zeros(vec![0; 4096])]
#[case::a_few_zeros(vec![0; 5])]
#[case::garbage(b"\xde\xad\xbe\xef this is not a record, just noise after the last one".to_vec())]
#[case::a_whole_bad_frame(vec![0, 0, 0, 0, 0, 0, 0, 2, 1, 2, 3, 4, b'h', b'i'])]
fn a_zeroed_or_garbage_tail_is_cut_off_after_a_crash(#[case] tail: Vec<u8>) {
    let dir = crashed_log(3);
    let (store, _) = files(dir.path(), 0);
    append_bytes(&store, &tail);
    let log = Log::open(dir.path(), Config::default()).unwrap();
    assert_holds_exactly(&log, 3);
    assert!(
        matches!(log.repairs(), [Repair::CutTornTail { cut_bytes, .. }, ..] if *cut_bytes == tail.len() as u64)
    );
}

// ANCHOR: clean_shutdown_refuses
// The same bytes after a *clean* shutdown cannot be a torn write: nothing
// was being written. They are refused, the file is left as it is, and so is
// the clean-shutdown record (a second open refuses too).
#[rstest]
#[case::zeros(vec![0; 4096])]
#[case::garbage(b"\xde\xad\xbe\xef noise".to_vec())]
fn a_bad_tail_after_a_clean_shutdown_fails_open(#[case] tail: Vec<u8>) {
    let dir = closed_log(3);
    let (store, _) = files(dir.path(), 0);
    let end = fs::metadata(&store).unwrap().len();
    append_bytes(&store, &tail);
    for _ in 0..2 {
        let error = Log::open(dir.path(), Config::default()).unwrap_err();
        assert!(
            matches!(&error, Error::Corrupt { path, position, .. } if *path == store && *position == end),
            "{error}"
        );
    }
    assert_eq!(fs::metadata(&store).unwrap().len(), end + tail.len() as u64);
}
// ANCHOR_END: clean_shutdown_refuses

// ANCHOR: damage_with_records_after_it
// One bad byte at the start of the only store, with a thousand records after
// it: damage, not a torn tail, whether the log was closed cleanly or
// crashed. Cutting there would delete every record and give their offsets
// out again; instead the open fails, naming the file and the byte.
#[rstest]
#[case::after_a_clean_shutdown(true)]
#[case::after_a_crash(false)]
fn damage_with_records_after_it_fails_open(#[case] clean: bool) {
    let dir = if clean {
        closed_log(1000)
    } else {
        crashed_log(1000)
    };
    let (store, _) = files(dir.path(), 0);
    let before = fs::read(&store).unwrap();
    let mut bytes = before.clone();
    bytes[0] = 0xff;
    fs::write(&store, &bytes).unwrap();
    let error = Log::open(dir.path(), Config::default()).unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { path, position: 0, problem: Corruption::LengthPastEnd { .. } } if *path == store),
        "{error}"
    );
    assert_eq!(fs::read(&store).unwrap(), bytes, "the open changed nothing");
}
// ANCHOR_END: damage_with_records_after_it

// The last record damaged after a clean shutdown was acknowledged: refused,
// not dropped as if it were torn.
#[test]
fn a_damaged_last_record_after_a_clean_shutdown_fails_open() {
    let dir = closed_log(3);
    let (store, _) = files(dir.path(), 0);
    let last = 2 * (FRAME_OVERHEAD + value(0).len() as u64);
    flip(&store, last as usize + 15, 0x20);
    let error = Log::open(dir.path(), Config::default()).unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { position, problem: Corruption::ChecksumMismatch { .. }, .. } if *position == last),
        "{error}"
    );
}

// Records removed behind the log's back after a clean shutdown (the store
// cut at a record boundary, which no checksum can see) are reported.
#[test]
fn records_missing_after_a_clean_shutdown_fail_open() {
    let dir = closed_log(3);
    let (store, _) = files(dir.path(), 0);
    let two_records = 2 * (FRAME_OVERHEAD + value(0).len() as u64);
    set_len(&store, two_records);
    let error = Log::open(dir.path(), Config::default()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Corrupt {
                problem: Corruption::MissingRecords {
                    expected_next: 3,
                    found_next: 2
                },
                ..
            }
        ),
        "{error}"
    );
}

// The index disagrees with the store in every way a crash can leave it:
// it is rebuilt from the store.
#[rstest]
#[case::truncated(|index: &Path| OpenOptions::new().write(true).open(index).unwrap().set_len(12).unwrap())]
#[case::missing(|index: &Path| fs::remove_file(index).unwrap())]
#[case::zero_filled_to_full_size(|index: &Path| fs::write(index, vec![0; 10 << 20]).unwrap())]
#[case::pointing_elsewhere(|index: &Path| flip(index, 23, 1))]
fn a_damaged_index_is_rebuilt_from_the_store(#[case] damage: fn(&Path)) {
    let dir = closed_log(3);
    let (_, index) = files(dir.path(), 0);
    damage(&index);
    let log = Log::open(dir.path(), Config::default()).unwrap();
    assert!(
        log.repairs()
            .iter()
            .any(|repair| matches!(repair, Repair::RebuiltIndex { entries: 3, .. })),
        "{:?}",
        log.repairs()
    );
    assert_holds_exactly(&log, 3);
}

// An index written in the first format of this log (12-byte entries: a
// relative offset, then the position) is rebuilt in today's 8-byte format.
#[test]
fn an_index_with_12_byte_entries_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (store, index) = files(dir.path(), 0);
    let mut frames = Vec::new();
    let mut old_index = Vec::new();
    for offset in 0..3u64 {
        old_index.extend_from_slice(&(offset as u32).to_be_bytes());
        old_index.extend_from_slice(&(frames.len() as u64).to_be_bytes());
        let record = value(offset);
        let length = (record.len() as u64).to_be_bytes();
        frames.extend_from_slice(&length);
        frames.extend_from_slice(
            &crc32c::crc32c_append(crc32c::crc32c(&length), &record).to_be_bytes(),
        );
        frames.extend_from_slice(&record);
    }
    fs::write(&store, frames).unwrap();
    fs::write(&index, old_index).unwrap();
    let log = Log::open(dir.path(), Config::default()).unwrap();
    assert!(
        matches!(log.repairs(), [Repair::RebuiltIndex { entries: 3, .. }]),
        "{:?}",
        log.repairs()
    );
    assert_holds_exactly(&log, 3);
    log.close().unwrap();
    assert_eq!(fs::metadata(&index).unwrap().len(), 4 * 8);
}

// An index longer than its store (the store lost its tail, the index did
// not) is cut to the store's records.
#[test]
fn an_index_longer_than_the_store_is_cut_to_it() {
    let dir = closed_log(3);
    let (_, index) = files(dir.path(), 0);
    append_bytes(&index, &99u64.to_be_bytes());
    let log = Log::open(dir.path(), Config::default()).unwrap();
    assert_holds_exactly(&log, 3);
    log.close().unwrap();
    assert_eq!(
        fs::metadata(&index).unwrap().len(),
        4 * 8,
        "three records and the one appended after recovery"
    );
}

// A crash leaves the active index pre-sized and full of zero entries: the Go
// book's log reads it as full and can never append again. Ours carries on.
#[rstest]
#[case::no_records(0)]
#[case::some_records(5)]
fn an_unclean_stop_can_append(#[case] count: u64) {
    let dir = crashed_log(count);
    let (_, index) = files(dir.path(), 0);
    assert_eq!(
        fs::metadata(&index).unwrap().len(),
        (10 << 20) + 8,
        "the crash left the index pre-sized (and marked unsealed)"
    );
    let log = Log::open(dir.path(), Config::default()).unwrap();
    assert_holds_exactly(&log, count);
}

// ANCHOR: torn_last_sealed
// A crash right after a roll, before the background seal synced the full
// segment: its tail can be torn while the new segment already has records.
// Those records came after lost ones, and were never acknowledged (a sync
// covers the full segment first): the tail is cut and the new segment goes.
#[test]
fn a_torn_tail_in_a_segment_whose_seal_had_not_finished_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5); // segments 0 [0, 1], 2 [2, 3], 4 [4]
    let image = crash_image(&log);
    drop(log);
    let (store, index) = files(image.path(), 2);
    // As the crash found it: the index still pre-sized, the last record torn.
    set_len(&index, 1024 + 8);
    let torn_at = FRAME_OVERHEAD + value(2).len() as u64;
    set_len(&store, torn_at + 5);
    let log = Log::open(image.path(), small_segments()).unwrap();
    assert_eq!(
        log.repairs(),
        [
            Repair::CutTornTail {
                path: store,
                valid_len: torn_at,
                cut_bytes: 5,
                problem: Corruption::TruncatedHeader { available: 5 },
            },
            Repair::RemovedSegmentAfterTornTail {
                path: files(image.path(), 4).0
            },
            Repair::RemovedOrphanIndex {
                path: files(image.path(), 4).1
            },
        ]
    );
    assert_holds_exactly(&log, 3);
}
// ANCHOR_END: torn_last_sealed

// The same damage in a segment whose seal finished (its index trimmed) was
// synced before any later record: damage, refused.
#[test]
fn a_torn_looking_tail_in_a_sealed_segment_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    log.sync().unwrap(); // the sealer has trimmed both full segments
    let image = crash_image(&log);
    drop(log);
    let (store, _) = files(image.path(), 2);
    let torn_at = FRAME_OVERHEAD + value(2).len() as u64;
    set_len(&store, torn_at + 5);
    let error = Log::open(image.path(), small_segments()).unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { path, position, .. } if *path == store && *position == torn_at),
        "{error}"
    );
}

// A flipped bit in a sealed segment is corruption, named by file and byte,
// at open; it is never cut off as if it were a torn tail.
#[test]
fn a_flipped_bit_in_a_sealed_segment_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 7);
    drop(log);
    let (sealed, _) = files(dir.path(), 2);
    let second_record = 32;
    flip(&sealed, second_record + 20, 0x10);
    let error = Log::open(dir.path(), small_segments()).unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { path, position: 32, problem: Corruption::ChecksumMismatch { .. } } if *path == sealed),
        "{error}"
    );
    insta::assert_snapshot!(error.to_string().replace(&dir.path().display().to_string(), "<dir>"), @"corrupt log file <dir>/00000000000000000002.store: at byte 32: checksum mismatch: stored 0x9fc75c55, computed 0x86ee8446");
    // The damaged file was not changed by the failed open.
    assert_eq!(fs::metadata(&sealed).unwrap().len(), 64);
}

// Damage in the middle of the active segment (good records after a bad one)
// is not a torn write either, clean shutdown or crash: refused, not cut off.
#[rstest]
#[case::after_a_clean_shutdown(closed_log(3))]
#[case::after_a_crash(crashed_log(3))]
fn a_flipped_bit_before_the_tail_fails_open(#[case] dir: tempfile::TempDir) {
    let (store, _) = files(dir.path(), 0);
    flip(&store, FRAME_OVERHEAD as usize, 0x01);
    assert!(matches!(
        Log::open(dir.path(), Config::default()),
        Err(Error::Corrupt { position: 0, .. })
    ));
}

// A flipped bit that happens after the log is open is caught at read: the
// record is an error naming the file and position, never returned as data.
#[test]
fn a_flipped_bit_is_reported_at_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    let (sealed, _) = files(dir.path(), 0);
    flip(&sealed, 40, 0x04);
    assert_eq!(log.read(0).unwrap(), value(0));
    let error = log.read(1).unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { path, position: 32, .. } if *path == sealed),
        "{error}"
    );
    assert_eq!(log.read(2).unwrap(), value(2));
}

// A missing segment in the middle would silently renumber records: refused.
#[test]
fn a_missing_segment_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 7);
    drop(log);
    fs::remove_file(files(dir.path(), 2).0).unwrap();
    let error = Log::open(dir.path(), small_segments()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Corrupt {
                problem: Corruption::SegmentGap {
                    expected: 2,
                    found: 4
                },
                ..
            }
        ),
        "{error}"
    );
}

// An index without its store (a crash while deleting a segment) is removed.
#[test]
fn an_orphan_index_is_removed() {
    let dir = closed_log(2);
    let orphan = dir.path().join("00000000000000000099.index");
    fs::write(&orphan, [0; 8]).unwrap();
    let log = Log::open(dir.path(), Config::default()).unwrap();
    assert_eq!(
        log.repairs(),
        [Repair::RemovedOrphanIndex {
            path: orphan.clone()
        }]
    );
    assert!(!orphan.exists());
    assert_holds_exactly(&log, 2);
}

// ANCHOR: recovering_twice
// Recovering twice is a no-op: the second open finds nothing to repair and
// leaves every file byte-for-byte as the first left it.
#[test]
fn recovering_twice_changes_nothing() {
    let dir = crashed_log(4);
    let (store, index) = files(dir.path(), 0);
    append_bytes(&store, &[1, 2, 3]);
    fs::write(&index, vec![0; 10 << 20]).unwrap();
    let first = Log::open(dir.path(), Config::default()).unwrap();
    assert_eq!(first.repairs().len(), 2, "{:?}", first.repairs());
    let image = crash_image(&first); // another crash, right after recovery
    let (store, index) = files(image.path(), 0);
    let before = (fs::read(&store).unwrap(), fs::read(&index).unwrap());
    let second = Log::open(image.path(), Config::default()).unwrap();
    assert_eq!(second.repairs(), []);
    assert_eq!(
        (fs::read(&store).unwrap(), fs::read(&index).unwrap()),
        before
    );
    assert_holds_exactly(&second, 4);
}
// ANCHOR_END: recovering_twice
