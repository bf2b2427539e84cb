//! The built `proglog` binary, started by the shared test support in
//! `chapter_05::testing`.

#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::{Path, PathBuf};
use std::process::Output;

pub use chapter_05::testing::{Binary, cert, free_addr, refusal_line, scrape, stderr, stdout};

pub const PROGLOG: &str = env!("CARGO_BIN_EXE_proglog-single");

pub fn binary() -> Binary {
    Binary::at(PROGLOG)
}

pub fn repo(path: &str) -> PathBuf {
    chapter_05::testing::repository().join(path)
}

/// `proglog serve` with these arguments, on a free port, in `dir`.
pub struct ServerProcess;

impl ServerProcess {
    pub fn start(dir: &Path, args: &[&str]) -> chapter_05::testing::ServerProcess {
        chapter_05::testing::ServerProcess::start(&binary(), dir, args, &[])
    }
}

/// Runs `proglog ARGS...`, feeding `stdin` if given.
pub fn cli(args: &[&str], stdin: Option<&str>) -> Output {
    binary().run(args, stdin)
}
