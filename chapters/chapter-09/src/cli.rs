//! The command line of the one `proglog` binary: chapter 5's commands and
//! settings, a server's cluster settings, `proglog cluster status`, and
//! clients that may be given several servers of a cluster.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

// ANCHOR: cli
/// A distributed commit log: the server (one of a cluster, or alone), and
/// its client.
#[derive(Debug, Parser)]
#[command(
    name = "proglog",
    version,
    about = "A replicated commit log over gRPC with mutual TLS and an ACL: the server (a cluster of one or of many), and its client."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a server: alone (by default), or one of a cluster.
    Serve(Box<ServerArgs>),
    /// Append records: the values given, or one per line of standard input.
    Produce(ProduceArgs),
    /// Print records from an offset on, and follow the log with --follow.
    Consume(ConsumeArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}
// ANCHOR_END: cli

// ANCHOR: serve_args_a
/// `proglog serve`: chapter 5's settings, and the cluster's.
#[derive(Debug, Clone, Default, Args)]
pub struct ServerArgs {
    /// The server's own settings (chapter 5).
    #[command(flatten)]
    pub server: chapter_05::cli::ServeArgs,
    /// Its place in a cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Where a server stands in a cluster. With none of these, it is a
/// cluster of one, and behaves as chapter 5's server did. Every one is
/// also a `PROGLOG_*` variable, and a key of the `--config` file's
/// `[cluster]` table.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Cluster")]
pub struct ClusterArgs {
    /// This server's id in the cluster, unique and kept for life [default: 1].
    #[arg(long, env = "PROGLOG_NODE_ID", value_name = "N")]
    pub node_id: Option<u64>,

    /// The UDP address to gossip on [default: the --addr address, over UDP].
    #[arg(long, env = "PROGLOG_GOSSIP_ADDR", value_name = "HOST:PORT")]
    pub gossip_addr: Option<SocketAddr>,
    // ANCHOR_END: serve_args_a

    // ANCHOR: serve_args_b
    /// The gRPC address other servers and clients reach this one at, where
    /// --addr is not (a container, 0.0.0.0); gossip is advertised at the
    /// same host [default: --addr].
    #[arg(long, env = "PROGLOG_ADVERTISE_ADDR", value_name = "HOST:PORT")]
    pub advertise_addr: Option<String>,

    /// Join the cluster these servers gossip in (their gossip addresses).
    #[arg(
        long,
        env = "PROGLOG_JOIN",
        value_name = "HOST:PORT,...",
        value_delimiter = ','
    )]
    pub join: Vec<String>,

    /// Form a new cluster, of this server alone; the others --join it.
    /// (Without --join this is what happens anyway: a cluster of one.)
    #[arg(long, env = "PROGLOG_BOOTSTRAP", value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub bootstrap: Option<bool>,

    /// Form a new cluster once this many servers have joined each other by
    /// gossip (the one with the lowest id forms it): for servers all started
    /// alike, as a StatefulSet's pods are.
    #[arg(long, env = "PROGLOG_BOOTSTRAP_EXPECT", value_name = "N")]
    pub bootstrap_expect: Option<usize>,
    // ANCHOR_END: serve_args_b

    // ANCHOR: serve_args_c
    /// Servers only gossip with servers of the same cluster id [default: proglog].
    #[arg(long, env = "PROGLOG_CLUSTER_ID", value_name = "NAME")]
    pub cluster_id: Option<String>,

    /// How often the leader sends heartbeats [default: 50ms].
    #[arg(long, env = "PROGLOG_HEARTBEAT", value_name = "DURATION")]
    pub heartbeat: Option<String>,

    /// A follower that hears nothing for a random time between this and
    /// twice this calls an election [default: 200ms].
    #[arg(long, env = "PROGLOG_ELECTION_TIMEOUT", value_name = "DURATION")]
    pub election_timeout: Option<String>,

    /// The certificate (CN `peer`) this server presents when it calls the
    /// others. Required in a cluster unless --dev.
    #[arg(long, env = "PROGLOG_PEER_CERT", value_name = "FILE")]
    pub peer_cert: Option<PathBuf>,

    /// The peer certificate's private key.
    #[arg(long, env = "PROGLOG_PEER_KEY", value_name = "FILE")]
    pub peer_key: Option<PathBuf>,

    /// On SIGTERM, leave the cluster for good (a leader first hands over
    /// and removes itself from the voters; gossip tells the others, whose
    /// leader removes it) instead of only stopping, which keeps the
    /// server's place for a restart [default: false].
    #[arg(long, env = "PROGLOG_LEAVE_ON_SHUTDOWN", value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub leave_on_shutdown: Option<bool>,

    /// Also serve gRPC health checks, in plaintext and nothing else, here
    /// (for probes that cannot do mutual TLS, as Kubernetes' cannot).
    #[arg(long, env = "PROGLOG_HEALTH_ADDR", value_name = "HOST:PORT")]
    pub health_addr: Option<SocketAddr>,
}
// ANCHOR_END: serve_args_c

// ANCHOR: client_args
/// How a client reaches a cluster: chapter 5's settings (`--addr`, TLS),
/// and more servers to try.
#[derive(Debug, Clone, Args)]
pub struct ClusterClientArgs {
    /// The first server to ask, and the TLS settings.
    #[command(flatten)]
    pub client: chapter_05::cli::ClientArgs,

    /// More servers of the cluster, tried when --addr does not answer.
    #[arg(
        long,
        env = "PROGLOG_SEEDS",
        value_name = "HOST:PORT,...",
        value_delimiter = ','
    )]
    pub seeds: Vec<String>,
}
// ANCHOR_END: client_args

/// `proglog produce`.
#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterClientArgs,

    /// The values to append, one record each. Without any, one record per
    /// line of standard input (streamed, with progress on a terminal).
    pub values: Vec<String>,
}

/// `proglog consume`.
#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterClientArgs,

    /// The first offset to print [default: the lowest offset in the log].
    #[arg(long, value_name = "OFFSET")]
    pub from: Option<u64>,

    /// Keep waiting for new records, like `tail -f`.
    #[arg(long)]
    pub follow: bool,

    /// Stop after this many records.
    #[arg(long, value_name = "K")]
    pub count: Option<u64>,

    /// `text`: `OFFSET<TAB>VALUE` per line; `json`: one JSON object per line.
    #[arg(long, value_enum, default_value_t = chapter_05::cli::OutputFormat::Text)]
    pub format: chapter_05::cli::OutputFormat,
}

/// `proglog bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Produce records as fast as the cluster takes them, and summarize
    /// throughput and latency like Kafka's producer-perf-test.
    Produce(BenchProduceArgs),
}

/// `proglog bench produce`.
#[derive(Debug, Clone, Args)]
pub struct BenchProduceArgs {
    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterClientArgs,

    /// How many records to produce in all.
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,

    /// The size of each record's value, in bytes.
    #[arg(long, default_value_t = 256)]
    pub record_size: usize,

    /// How many clients produce at once, each with its own connections.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,

    /// Use unary Produce calls, one record at a time, instead of ProduceStream.
    #[arg(long)]
    pub unary: bool,

    /// With ProduceStream, the most records each client has sent and not yet
    /// seen acknowledged.
    #[arg(long, default_value_t = 8192)]
    pub window: usize,
}

/// `proglog cluster ...`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Every server of the cluster: its addresses, whether it leads, how
    /// far it has applied the log and how far behind the leader it is.
    Status(StatusArgs),
}

/// `proglog cluster status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterClientArgs,
}
