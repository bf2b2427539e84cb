// ANCHOR: header
//! Dropping the end of the log (`truncate_after`) and starting it over at
//! any offset (`reset_to`): what a Raft log needs when a leader's log
//! disagrees with a follower's, and after a snapshot (chapter 7).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use chapter_01::{Error, Log};
use common::{fill, small_segments, value};
use rstest::rstest;

/// Checks that the log holds exactly the records `lowest..next` of
/// [`value`], and that the next append gets `next`, also after a reopen.
fn assert_holds(log: Log, lowest: u64, next: u64) {
    let check = |log: &Log| {
        assert_eq!((log.lowest_offset(), log.next_offset()), (lowest, next));
        for offset in lowest..next {
            assert_eq!(log.read(offset).unwrap(), value(offset), "offset {offset}");
        }
        assert!(matches!(
            log.read(next),
            Err(Error::OffsetOutOfRange { .. })
        ));
    };
    check(&log);
    let dir = log.dir().to_path_buf();
    let config = log.config().clone();
    drop(log);
    let log = Log::open(&dir, config).unwrap();
    check(&log);
    assert_eq!(log.append(&value(next)).unwrap(), next);
    assert_eq!(log.read(next).unwrap(), value(next));
}
// ANCHOR_END: header

// ANCHOR: every_boundary
// Cutting at every kind of place: inside a segment, at a segment's last
// record, at a segment's first record, across several segments, at the
// newest record (nothing changes) and past it. Records up to the offset
// stay, the rest are gone, and appends continue right after it, also after
// a reopen. (Eight records in segments of two: 0 [0, 1], 2 [2, 3],
// 4 [4, 5], 6 [6, 7].)
#[rstest]
#[case::inside_the_active_segment(6, 7)]
#[case::inside_a_sealed_segment(2, 3)]
#[case::at_a_segment_end(3, 4)]
#[case::at_a_segment_start(4, 5)]
#[case::across_three_segments(0, 1)]
#[case::at_the_newest_record(7, 8)]
#[case::past_the_end(100, 8)]
fn truncate_after_keeps_what_came_before(#[case] offset: u64, #[case] next: u64) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 8);
    log.truncate_after(offset).unwrap();
    assert_holds(log, 0, next);
}
// ANCHOR_END: every_boundary

// Below the lowest record (retention removed it), the log starts over
// right after the offset: no record is kept, no offset is reused below it.
#[test]
fn truncate_after_below_the_lowest_record_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 7);
    log.truncate(4).unwrap(); // retention: the log now holds 4..7
    log.truncate_after(1).unwrap();
    assert_holds(log, 2, 2);
}

// A log can start at any offset: after reset_to(1000) it is empty, and the
// next append gets 1000, also after a reopen.
#[rstest]
#[case::forward(1000)]
#[case::back(1)]
fn reset_to_starts_at_any_offset(#[case] start: u64) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    log.reset_to(start).unwrap();
    assert_eq!(
        (log.lowest_offset(), log.next_offset(), log.highest_offset()),
        (start, start, None)
    );
    assert_eq!(log.append(&value(start)).unwrap(), start);
    drop(log);
    let log = Log::open(dir.path(), small_segments()).unwrap();
    assert_eq!(log.read(start).unwrap(), value(start));
    assert_eq!(log.lowest_offset(), start);
}

// After a cut, appends go on where it ended, in a segment that can fill
// and roll like any other; and a reader that asks for a cut record is told
// it is out of range.
#[test]
fn the_log_goes_on_after_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 7);
    log.truncate_after(2).unwrap();
    assert!(matches!(
        log.read(5),
        Err(Error::OffsetOutOfRange { next: 3, .. })
    ));
    for offset in 3..12 {
        assert_eq!(log.append(&value(offset)).unwrap(), offset);
    }
    for offset in 0..12 {
        assert_eq!(log.read(offset).unwrap(), value(offset));
    }
    assert_eq!(log.segment_count(), 6);
}
