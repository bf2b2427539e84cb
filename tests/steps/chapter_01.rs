//! Steps for `features/chapter-01-commit-log.feature`: they drive the real
//! `chapter_01::Log` on a temporary directory.

use std::fs::{self, OpenOptions};
use std::io::Write;

use chapter_01::{Config, Repair};
use cucumber::{given, then, when};

use crate::world::ProglogWorld;

/// The value of the n-th numbered record.
fn numbered(n: u64) -> Vec<u8> {
    format!("record {n:03}").into_bytes()
}

#[given(expr = "an empty log whose stores hold {int} bytes")]
fn empty_log(world: &mut ProglogWorld, max_store_bytes: u64) {
    world.config = Config {
        max_store_bytes,
        ..Config::default()
    };
    world.open_log().unwrap();
}

#[when(expr = "I append {string}")]
fn append_one(world: &mut ProglogWorld, value: String) {
    world.log().append(value.as_bytes()).unwrap();
}

#[when(expr = "I append {string} and {string}")]
fn append_two(world: &mut ProglogWorld, first: String, second: String) {
    world
        .log()
        .append_batch(&[first.as_bytes(), second.as_bytes()])
        .unwrap();
}

#[given(expr = "{int} records were appended")]
#[when(expr = "I append {int} records")]
fn append_numbered(world: &mut ProglogWorld, count: u64) {
    for n in 0..count {
        assert_eq!(world.log().append(&numbered(n)).unwrap(), n);
    }
}

#[then(expr = "offset {int} holds {string}")]
fn offset_holds(world: &mut ProglogWorld, offset: u64, value: String) {
    assert_eq!(world.log().read(offset).unwrap(), value.as_bytes());
}

#[then(expr = "reading offset {int} fails with {string}")]
fn reading_fails(world: &mut ProglogWorld, offset: u64, message: String) {
    let error = world.log().read(offset).unwrap_err();
    assert_eq!(error.to_string(), message);
}

#[when("the log is closed and reopened")]
fn close_and_reopen(world: &mut ProglogWorld) {
    world.log.take().unwrap().close().unwrap();
    world.open_log().unwrap();
}

#[when("the log is reopened")]
fn reopen(world: &mut ProglogWorld) {
    world.open_log().unwrap();
}

#[then(expr = "the log holds exactly the {int} records")]
fn holds_exactly(world: &mut ProglogWorld, count: u64) {
    let log = world.log();
    assert_eq!((log.lowest_offset(), log.next_offset()), (0, count));
    for n in 0..count {
        assert_eq!(log.read(n).unwrap(), numbered(n));
    }
}

#[then(expr = "the next append gets offset {int}")]
fn next_append(world: &mut ProglogWorld, offset: u64) {
    assert_eq!(world.log().append(b"one more").unwrap(), offset);
    assert_eq!(world.log().read(offset).unwrap(), b"one more");
}

#[when("the process dies in the middle of writing another record")]
fn dies_mid_write(world: &mut ProglogWorld) {
    // What kill -9 leaves: the files as the OS has them, plus the first
    // bytes of a frame whose write never finished, and no record of a
    // clean shutdown (dropping the log here writes one; a killed process
    // would not have).
    let log = world.log.take().unwrap();
    let active = fs::read_dir(world.log_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "store")
        })
        .max()
        .unwrap();
    drop(log);
    fs::remove_file(world.log_file("CLEAN")).unwrap();
    let half_a_frame = [
        0, 0, 0, 0, 0, 0, 0, 10, 0xab, 0xcd, 0xef, 0x01, b'h', b'a', b'l', b'f',
    ];
    OpenOptions::new()
        .append(true)
        .open(active)
        .unwrap()
        .write_all(&half_a_frame)
        .unwrap();
}

#[then("recovery reports that it cut a torn write")]
fn recovery_cut(world: &mut ProglogWorld) {
    let repairs = world.log().repairs();
    assert!(
        repairs
            .iter()
            .any(|repair| matches!(repair, Repair::CutTornTail { cut_bytes: 16, .. })),
        "{repairs:?}"
    );
}

#[when(expr = "a bit flips in the second record of {string}")]
fn flip_a_bit(world: &mut ProglogWorld, file: String) {
    world.log.take().unwrap().close().unwrap();
    let path = world.log_file(&file);
    let mut bytes = fs::read(&path).unwrap();
    bytes[22 + 15] ^= 0x20; // a payload byte of the second record, at byte 22
    fs::write(&path, bytes).unwrap();
}

#[then(expr = "opening the log fails with {string} naming {string} at byte {int}")]
fn open_fails(world: &mut ProglogWorld, message: String, file: String, position: u64) {
    let error = world.open_log().unwrap_err().to_string();
    assert!(error.starts_with(&message), "{error}");
    assert!(error.contains(&file), "{error}");
    assert!(error.contains(&format!("at byte {position}:")), "{error}");
    assert!(world.log.is_none());
}
