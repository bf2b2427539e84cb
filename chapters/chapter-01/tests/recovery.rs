//! Recovery: what a crash leaves behind, and that opening the log repairs it
//! to exactly the longest valid prefix, or refuses with a precise error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chapter_01::{Config, Corruption, Error, FRAME_OVERHEAD, Log, Repair};
use common::{fill, small_segments, value};
use rstest::rstest;

/// The active store and index of a log written with one segment.
fn files(dir: &Path) -> (PathBuf, PathBuf) {
    (
        dir.join("00000000000000000000.store"),
        dir.join("00000000000000000000.index"),
    )
}

/// A log of `count` records in one segment, closed cleanly.
fn closed_log(count: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Config::default()).unwrap();
    fill(&log, count);
    log.close().unwrap();
    dir
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

/// A copy of the log's files as they are on disk right now, in a new
/// directory: exactly what `kill -9` would leave behind (the log's buffer is
/// flushed first, as the crash tests' `SyncPolicy::Always` guarantees).
fn crash_image(log: &Log) -> tempfile::TempDir {
    log.flush().unwrap();
    let image = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(log.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|extension| extension == "store" || extension == "index")
        {
            fs::copy(&path, image.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    image
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

// A crash can cut the last record at any byte: for every cut, every earlier
// record is intact and appends continue at the right offset.
#[test]
fn a_torn_last_record_is_cut_off_at_every_byte() {
    let record_len = FRAME_OVERHEAD + value(0).len() as u64;
    for cut in 1..record_len {
        let dir = closed_log(3);
        let (store, _) = files(dir.path());
        let full = fs::metadata(&store).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&store)
            .unwrap()
            .set_len(full - record_len + cut)
            .unwrap();
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

// A tail of zeros (a file extended by a crash before its data was written)
// or of garbage is cut off; the records before it are kept.
#[rstest]
#[case::zeros(vec![0; 4096])]
#[case::a_few_zeros(vec![0; 5])]
#[case::garbage(b"\xde\xad\xbe\xef this is not a record, just noise after the last one".to_vec())]
#[case::a_whole_bad_frame(vec![0, 0, 0, 0, 0, 0, 0, 2, 1, 2, 3, 4, b'h', b'i'])]
fn a_zeroed_or_garbage_tail_is_cut_off(#[case] tail: Vec<u8>) {
    let dir = closed_log(3);
    let (store, _) = files(dir.path());
    append_bytes(&store, &tail);
    let log = Log::open(dir.path(), Config::default()).unwrap();
    assert_holds_exactly(&log, 3);
    assert!(
        matches!(log.repairs(), [Repair::CutTornTail { cut_bytes, .. }, ..] if *cut_bytes == tail.len() as u64)
    );
}

// The index disagrees with the store in every way a crash can leave it:
// it is rebuilt from the store.
#[rstest]
#[case::truncated(|index: &Path| OpenOptions::new().write(true).open(index).unwrap().set_len(12).unwrap())]
#[case::missing(|index: &Path| fs::remove_file(index).unwrap())]
#[case::zero_filled_to_full_size(|index: &Path| fs::write(index, vec![0; 10 << 20]).unwrap())]
#[case::pointing_elsewhere(|index: &Path| {
    let mut bytes = fs::read(index).unwrap();
    bytes[23] ^= 1;
    fs::write(index, bytes).unwrap()
})]
fn a_damaged_index_is_rebuilt_from_the_store(#[case] damage: fn(&Path)) {
    let dir = closed_log(3);
    let (_, index) = files(dir.path());
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

// An index longer than its store (the store lost its tail, the index did
// not) is cut to the store's records.
#[test]
fn an_index_longer_than_the_store_is_cut_to_it() {
    let dir = closed_log(3);
    let (_, index) = files(dir.path());
    append_bytes(&index, &[0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 99]);
    let log = Log::open(dir.path(), Config::default()).unwrap();
    assert_holds_exactly(&log, 3);
    log.close().unwrap();
    assert_eq!(
        fs::metadata(&index).unwrap().len(),
        4 * 12,
        "three records and the one appended after recovery"
    );
}

// A crash leaves the active index pre-sized and full of zero entries: the Go
// book's log reads it as full and can never append again. Ours carries on.
#[rstest]
#[case::no_records(0)]
#[case::some_records(5)]
fn an_unclean_stop_can_append(#[case] count: u64) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Config::default()).unwrap();
    fill(&log, count);
    let image = crash_image(&log);
    let (_, index) = files(image.path());
    assert_eq!(
        fs::metadata(&index).unwrap().len(),
        (10 << 20) / 12 * 12,
        "the crash left the index pre-sized"
    );
    let log = Log::open(image.path(), Config::default()).unwrap();
    assert_holds_exactly(&log, count);
}

// A flipped bit in a sealed segment is corruption, named by file and byte,
// at open; it is never cut off as if it were a torn tail.
#[test]
fn a_flipped_bit_in_a_sealed_segment_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    drop(log);
    let sealed = dir.path().join("00000000000000000002.store");
    let mut bytes = fs::read(&sealed).unwrap();
    let second_record = 32;
    bytes[second_record + 20] ^= 0x10;
    fs::write(&sealed, bytes).unwrap();
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
// is not a torn write either: it is refused, not cut off.
#[test]
fn a_flipped_bit_before_the_tail_fails_open() {
    let dir = closed_log(3);
    let (store, _) = files(dir.path());
    let mut bytes = fs::read(&store).unwrap();
    bytes[FRAME_OVERHEAD as usize] ^= 0x01;
    fs::write(&store, bytes).unwrap();
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
    log.flush().unwrap();
    let sealed = dir.path().join("00000000000000000000.store");
    let mut bytes = fs::read(&sealed).unwrap();
    bytes[40] ^= 0x04;
    fs::write(&sealed, bytes).unwrap();
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
    fs::remove_file(dir.path().join("00000000000000000002.store")).unwrap();
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
    fs::write(&orphan, [0; 12]).unwrap();
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

// Recovering twice is a no-op: the second open finds nothing to repair and
// leaves every file byte-for-byte as the first left it.
#[test]
fn recovering_twice_changes_nothing() {
    let dir = closed_log(4);
    let (store, index) = files(dir.path());
    append_bytes(&store, &[1, 2, 3]);
    fs::write(&index, vec![0; 10 << 20]).unwrap();
    let first = Log::open(dir.path(), Config::default()).unwrap();
    assert_eq!(first.repairs().len(), 2, "{:?}", first.repairs());
    let image = crash_image(&first); // another crash, right after recovery
    let (store, index) = files(image.path());
    let before = (fs::read(&store).unwrap(), fs::read(&index).unwrap());
    let second = Log::open(image.path(), Config::default()).unwrap();
    assert_eq!(second.repairs(), []);
    assert_eq!(
        (fs::read(&store).unwrap(), fs::read(&index).unwrap()),
        before
    );
    assert_holds_exactly(&second, 4);
}
