//! The output chapter 1 of the book shows, made for real and compared with
//! the files in `tests/output/` (see `tests/support/book_output.rs` at the
//! root of the repository): the bytes of a store and its index, the files
//! of a log as it rolls and closes, what each error says, and what recovery
//! reports when it repairs a crash or refuses damage.
//!
//! Paths change from run to run (a temporary directory), so the output shows
//! `<dir>` in their place.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

#[path = "../../../tests/support/book_output.rs"]
mod book_output;

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::path::Path;

use chapter_01::{Config, Error, Log};
use common::{append_bytes, crash_image, fill, layout, small_segments};

/// Compares `actual` with `tests/output/NAME.txt`.
fn assert_output(name: &str, actual: &str) {
    book_output::assert_output(env!("CARGO_MANIFEST_DIR"), name, actual);
}

/// `text` with the temporary directory `dir` written as `<dir>`.
fn without_dir(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), "<dir>")
}

/// The bytes as `xxd` prints them: offset, 16 bytes in groups of two, and
/// the printable characters.
fn xxd(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let mut hex = String::new();
        for (n, byte) in chunk.iter().enumerate() {
            if n > 0 && n % 2 == 0 {
                hex.push(' ');
            }
            write!(hex, "{byte:02x}").unwrap();
        }
        let text: String = chunk
            .iter()
            .map(|&byte| match byte {
                0x20..=0x7e => byte as char,
                _ => '.',
            })
            .collect();
        writeln!(out, "{:08x}: {hex:<39}  {text}", row * 16).unwrap();
    }
    out
}

#[test]
fn book_shows_a_store_and_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Config::default()).unwrap();
    log.append(b"hello").unwrap();
    log.append(b"log").unwrap();
    log.close().unwrap();
    let store = fs::read(dir.path().join("00000000000000000000.store")).unwrap();
    let index = fs::read(dir.path().join("00000000000000000000.index")).unwrap();
    assert_output("store_xxd", &xxd(&store));
    assert_output("index_xxd", &xxd(&index));
}

// The files of a log of tiny segments (64-byte stores: two 20-byte records
// each) after five appends, once the sealer has caught up, and after close.
#[test]
fn book_shows_the_files_of_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    log.sync().unwrap();
    let open = layout(dir.path()).join("\n");
    log.close().unwrap();
    let closed = layout(dir.path()).join("\n");
    assert_output(
        "layout",
        &format!("# open, after 5 appends and a sync\n{open}\n\n# closed\n{closed}\n"),
    );
}

// What each error a caller can meet says, made for real.
#[test]
fn book_shows_what_each_error_says() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 3);
    let mut lines = vec![
        log.read(7).unwrap_err().to_string(),
        log.append(&[0; 60]).unwrap_err().to_string(),
        Log::open(dir.path(), small_segments())
            .unwrap_err()
            .to_string(),
    ];
    let bad = Config {
        max_index_bytes: 4,
        ..Config::default()
    };
    lines.push(
        Log::open(dir.path().join("other"), bad)
            .unwrap_err()
            .to_string(),
    );
    let output: String = lines
        .iter()
        .map(|line| format!("{}\n", without_dir(line, dir.path())))
        .collect();
    assert_output("errors", &output);
}

// Recovery's decisions, as a log reports them: a torn tail after a crash is
// cut; the same bytes after a clean shutdown are refused, and so is damage
// with records after it, and a torn-looking tail in a segment that was sealed.
#[test]
fn book_shows_what_recovery_reports() {
    let mut output = String::new();

    // A crash mid-append: half a frame at the end of the active store.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    let image = crash_image(&log);
    drop(log);
    let active = image.path().join("00000000000000000004.store");
    append_bytes(&active, &[0, 0, 0, 0, 0, 0, 0, 40, 1, 2, 3]);
    let log = Log::open(image.path(), small_segments()).unwrap();
    writeln!(
        output,
        "# after a crash, half a record at the end of the active store"
    )
    .unwrap();
    for repair in log.repairs() {
        writeln!(
            output,
            "repair: {}",
            without_dir(&repair.to_string(), image.path())
        )
        .unwrap();
    }
    writeln!(output, "next offset: {}", log.next_offset()).unwrap();
    drop(log);

    // The same bytes after a clean shutdown.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    log.close().unwrap();
    append_bytes(
        &dir.path().join("00000000000000000004.store"),
        &[0, 0, 0, 0, 0, 0, 0, 40, 1, 2, 3],
    );
    let error = Log::open(dir.path(), small_segments()).unwrap_err();
    writeln!(output, "\n# the same bytes after a clean shutdown").unwrap();
    writeln!(
        output,
        "error: {}",
        without_dir(&error.to_string(), dir.path())
    )
    .unwrap();

    // One bad byte in the active store, with records after it, after a crash.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Config::default()).unwrap();
    fill(&log, 1000);
    let image = crash_image(&log);
    drop(log);
    let store = image.path().join("00000000000000000000.store");
    let mut bytes = fs::read(&store).unwrap();
    bytes[0] = 0xff;
    fs::write(&store, &bytes).unwrap();
    let error = Log::open(image.path(), Config::default()).unwrap_err();
    writeln!(
        output,
        "\n# after a crash, one bad byte with 1,000 records after it"
    )
    .unwrap();
    writeln!(
        output,
        "error: {}",
        without_dir(&error.to_string(), image.path())
    )
    .unwrap();

    // A record cut short in a sealed segment whose seal had finished.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_segments()).unwrap();
    fill(&log, 5);
    log.sync().unwrap(); // the sealer has trimmed both full segments
    let image = crash_image(&log);
    drop(log);
    let sealed = image.path().join("00000000000000000002.store");
    OpenOptions::new()
        .write(true)
        .open(&sealed)
        .unwrap()
        .set_len(37)
        .unwrap();
    let error = Log::open(image.path(), small_segments()).unwrap_err();
    writeln!(
        output,
        "\n# after a crash, a record cut short in a sealed segment"
    )
    .unwrap();
    writeln!(
        output,
        "error: {}",
        without_dir(&error.to_string(), image.path())
    )
    .unwrap();
    assert!(matches!(error, Error::Corrupt { .. }));

    assert_output("recovery", &output);
}
