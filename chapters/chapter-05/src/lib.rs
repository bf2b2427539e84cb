// ANCHOR: modules
//! # Chapter 5: the production server, `proglog`
//!
//! The layers of chapters 1 to 4 composed into one binary that someone
//! would run and operate, and that is also its own client. The major
//! components are:
//!
//! * [`cli`]: the command line (`serve`, `produce`, `consume`, `bench`).
//! * [`settings`] and [`units`]: flags over environment over config file
//!   over defaults, checked before anything starts.
//! * [`server`]: the composition root: log, TLS, ACL, health, reflection,
//!   metrics, retention, signals and graceful shutdown.
//! * [`dev`]: the development certificates and ACL built into the binary.
//! * [`drain`]: ending health's and reflection's endless streams at shutdown.
//! * [`observability`]: logs (tracing, text or JSON), one event per RPC,
//!   and Prometheus metrics.
//! * [`metered_log`]: the log, counting what is appended.
//! * [`retention`]: deleting the oldest sealed segments by size and age.
//! * [`client`], [`produce`], [`consume`], [`bench`](mod@bench): the client commands.
//! * `testing` (feature `testing`): the real binary as a process, for tests.

pub mod bench;
pub mod cli;
pub mod client;
pub mod consume;
pub mod dev;
pub mod drain;
pub mod metered_log;
pub mod observability;
pub mod produce;
pub mod retention;
pub mod server;
pub mod settings;
#[cfg(feature = "testing")]
pub mod testing;
pub mod units;
// ANCHOR_END: modules

use std::process::ExitCode;

use clap::Parser;
use cli::{BenchCommand, Cli, Command};

// ANCHOR: main
// ANCHOR: main_fn
/// The whole program, as the `proglog` binary runs it: the command line,
/// then [`exit_code_of`] the command.
pub fn main() -> ExitCode {
    exit_code_of(run(Cli::parse()))
}

/// Runs `program` as a binary's whole life: one crypto provider, the async
/// runtime, and an exit code with one line of error, never a panic or a
/// backtrace. (Chapter 9's `proglog` runs its commands the same way.)
pub fn exit_code_of(program: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    // ring is the only crypto provider in the build; installing it
    // explicitly keeps rustls from having to guess.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("proglog: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(program) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("proglog: {}", one_line(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}
// ANCHOR_END: main_fn

// ANCHOR: one_line
/// An error and its causes on one line, each said once: a cause whose words
/// the line already ends with (a wrapper that prints its source, as
/// `thiserror`'s do, then also exposes it) is not repeated.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let text = error.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = error.source();
    }
    line
}
// ANCHOR_END: one_line

// ANCHOR: run_fn
/// Runs the command the user gave.
///
/// # Errors
/// Whatever stopped it, as one line for the terminal.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => server::run(&args).await,
        Command::Produce(args) => produce::run(&args).await,
        Command::Consume(args) => consume::run(&args).await,
        Command::Bench(BenchCommand::Produce(args)) => bench::run(&args).await,
    }
}
// ANCHOR_END: run_fn
// ANCHOR_END: main
