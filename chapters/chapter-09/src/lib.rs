// ANCHOR: modules
//! # Chapter 9: the production cluster
//!
//! The one `proglog` binary. `proglog serve` is a server that is a cluster
//! of one (chapter 5's behaviour, and the default) or one server of many
//! (chapters 6 to 8): gossip to find the others, Raft to replicate, one
//! port, mutual TLS and the ACL in front of everything. `proglog produce`,
//! `consume` and `bench produce` are clients of the whole cluster
//! (chapter 8's `Client`), and `proglog cluster status` shows it.
//!
//! * [`cli`]: the command line.
//! * [`settings`]: a server's place in a cluster, resolved and checked.
//! * [`server`]: `proglog serve`.
//! * [`client`]: connecting a client of the cluster.
//! * [`produce`], [`consume`], [`bench`](mod@bench), [`status`]: the client commands.
//! * `testing` (feature `testing`): clusters of `proglog` processes.

use std::process::ExitCode;

use clap::Parser;

pub mod bench;
pub mod cli;
pub mod client;
pub mod consume;
pub mod produce;
pub mod server;
pub mod settings;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;

use cli::{BenchCommand, Cli, ClusterCommand, Command};
// ANCHOR_END: modules

// ANCHOR: main
/// The whole program, as the `proglog` binary runs it: the command line,
/// then the command, run as chapter 5 runs its own (one crypto provider,
/// the async runtime, an exit code with one line of error).
pub fn main() -> ExitCode {
    chapter_05::exit_code_of(run(Cli::parse()))
}

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
        Command::Cluster(ClusterCommand::Status(args)) => status::run(&args).await,
    }
}
// ANCHOR_END: main
