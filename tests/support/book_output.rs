//! Output shown in the book, checked by the test that produces it.
//!
//! The book shows what the programs print: error lines, log lines, `--help`,
//! what a client decodes from a status. Copied by hand, such a block drifts
//! the first time a message changes, and nothing notices. So a block of
//! output in the book is included from a plain text file under a crate's
//! `tests/output/` directory, and a test of that crate makes the output for
//! real and compares it with the file, through [`assert_output`]:
//!
//! ```text
//! chapters/chapter-03/tests/book_output.rs     makes the output, calls assert_output
//! chapters/chapter-03/tests/output/NAME.txt    what the book includes
//! ```
//!
//! When the output changes on purpose, run the crate's tests with
//! `BOOK_OUTPUT=overwrite` to rewrite the files, read the diff, and commit
//! it with the change. CI never sets it, so a file that no longer matches
//! is a failed test. The book's include checker (`tests/book_includes.rs`)
//! makes sure that every block of output in the book is either included
//! from such a file, named by a test, or marked as illustrative.
//!
//! Each crate's `tests/book_output.rs` compiles this file as a module:
//! `#[path = "../../../tests/support/book_output.rs"] mod book_output;`.

#![allow(dead_code)] // each crate uses a part of it

use std::path::{Path, PathBuf};

/// Where a crate keeps the output files the book includes, relative to the
/// crate's directory.
pub(crate) const OUTPUT_DIR: &str = "tests/output";

/// The extension of an output file.
pub(crate) const OUTPUT_EXTENSION: &str = "txt";

/// The environment variable that rewrites output files instead of
/// comparing them, when set to [`OVERWRITE`].
pub(crate) const UPDATE_VARIABLE: &str = "BOOK_OUTPUT";

/// The value of [`UPDATE_VARIABLE`] that rewrites the files.
pub(crate) const OVERWRITE: &str = "overwrite";

/// The output file `name` of the crate at `crate_dir`.
pub(crate) fn output_file(crate_dir: &Path, name: &str) -> PathBuf {
    crate_dir
        .join(OUTPUT_DIR)
        .join(format!("{name}.{OUTPUT_EXTENSION}"))
}

/// Checks that `actual` is what the book shows as `name`: the file
/// `tests/output/NAME.txt` of the crate at `crate_dir` (pass
/// `env!("CARGO_MANIFEST_DIR")`). Trailing whitespace on each line and
/// trailing blank lines are not compared (editors strip them).
///
/// With `BOOK_OUTPUT=overwrite`, writes the file instead.
///
/// # Panics
/// When the file is missing or differs from `actual`: that is the test
/// failing, with both versions in the message.
#[track_caller]
pub(crate) fn assert_output(crate_dir: &str, name: &str, actual: &str) {
    let path = output_file(Path::new(crate_dir), name);
    let actual = normalize(actual);
    if std::env::var(UPDATE_VARIABLE).as_deref() == Ok(OVERWRITE) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|error| panic!("creating {}: {error}", dir.display()));
        }
        std::fs::write(&path, &actual)
            .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
        return;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(text) => normalize(&text),
        Err(error) => panic!(
            "the book's output file {} cannot be read ({error}).\n\
             Run the test with {UPDATE_VARIABLE}={OVERWRITE} to write it, check it, and commit it.\n\
             The output is:\n{actual}",
            path.display()
        ),
    };
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(expected, actual)| expected != actual)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "the output shown in the book as {} has changed (first difference at line {}).\n\
             If the change is intended, run the test again with {UPDATE_VARIABLE}={OVERWRITE}, \
             read the diff, and commit it.\n\
             --- the book shows:\n{expected}--- the code prints:\n{actual}",
            path.display(),
            line + 1
        );
    }
}

/// The text as it is compared and written: lines without trailing
/// whitespace, no trailing blank lines, one final newline.
pub(crate) fn normalize(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    let mut normal = lines.join("\n");
    normal.push('\n');
    normal
}
