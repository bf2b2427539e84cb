//! `proglog`: the commit log server, and its client.
//!
//! `main` only sets up the process: one crypto provider, the async runtime,
//! and an exit code with one line of error, never a panic or a backtrace.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // ring is the only crypto provider in the build; installing it
    // explicitly keeps rustls from having to guess.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = chapter_05::cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("proglog: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(chapter_05::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the error and its causes on one line.
            eprintln!("proglog: {error:#}");
            ExitCode::FAILURE
        }
    }
}
