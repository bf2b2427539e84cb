//! Clusters of real servers for tests (feature `testing`): each server is a
//! child process (this test executable, run again as a node), on its own
//! ports of 127.0.0.1, with its own data directory, serving over mutual
//! TLS with the development certificates and the repository's ACL. A test
//! can kill one with SIGKILL, stop one with SIGTERM, and start it again on
//! the same data.
//!
//! A test binary that uses [`NodeProcess`] must call [`run_node_if_asked`]
//! first thing in its `main`, so it is `harness = false`: [`run_tests`] is
//! such a `main`, for the tests named with
//! [`process_tests!`](crate::process_tests) (see this crate's
//! `tests/cluster.rs`).

#![allow(clippy::expect_used, clippy::unwrap_used)] // test support: a failure is a failed test

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chapter_02::api::v1::log_client::LogClient;
use chapter_02::api::v1::{ConsumeRequest, GetServersRequest};
use chapter_04::CasbinAuthorizer;
use chapter_05::testing::{cert, free_addr, repository};
use chapter_06::MembershipConfig;
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

use crate::node::{ClusterNode, NodeConfig, RaftTiming};

/// The environment variable that makes a test executable run as a node.
pub const RUN_AS_NODE: &str = "PROGLOG_TEST_NODE";

// ANCHOR: spec
/// How to run one node: everything [`NodeConfig`] needs, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Its Raft id.
    pub id: u64,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Where it serves gRPC (also the address it advertises).
    pub rpc_addr: SocketAddr,
    /// Where it gossips (UDP).
    pub gossip_addr: SocketAddr,
    /// The gossip addresses it joins.
    pub seeds: Vec<SocketAddr>,
    /// The gossip cluster id.
    pub cluster_id: String,
    /// Whether it forms the cluster.
    pub bootstrap: bool,
    /// A snapshot every this many entries.
    pub snapshot_every: u64,
    /// Entries kept behind a snapshot.
    pub keep_after_snapshot: u64,
    /// The segment size of both logs (small segments roll, and are purged,
    /// sooner); with small segments, the service's batches are smaller too.
    pub segment_bytes: u64,
    /// Where its peer certificate (and key) are, if not the development one.
    pub peer_cert: Option<(PathBuf, PathBuf)>,
    /// Where its server certificate (and key) are, if not the development one.
    pub server_cert: Option<(PathBuf, PathBuf)>,
    /// Whether SIGTERM makes it leave the cluster (rather than only stop).
    pub leave_on_sigterm: bool,
    /// Where it serves its Prometheus metrics (chapter 5's), if anywhere.
    pub metrics_addr: Option<SocketAddr>,
}
// ANCHOR_END: spec

impl NodeSpec {
    /// Node `id` in `dir`, of cluster `cluster_id`, on free ports.
    pub fn new(id: u64, dir: &Path, cluster_id: &str) -> NodeSpec {
        NodeSpec {
            id,
            data_dir: dir.join(format!("node-{id}")),
            rpc_addr: free_addr(),
            gossip_addr: chapter_06::testing::free_gossip_addr(),
            seeds: Vec::new(),
            cluster_id: cluster_id.to_string(),
            bootstrap: false,
            snapshot_every: 10_000,
            keep_after_snapshot: 1_000,
            segment_bytes: 1 << 30,
            peer_cert: None,
            server_cert: None,
            leave_on_sigterm: false,
            metrics_addr: Some(free_addr()),
        }
    }

    /// The node's configuration.
    pub fn config(&self) -> NodeConfig {
        let (peer_cert, peer_key) = self
            .peer_cert
            .clone()
            .unwrap_or_else(|| (cert("peer.pem"), cert("peer-key.pem")));
        let peer_tls = chapter_03::client_config(&cert("ca.pem"), Some((&peer_cert, &peer_key)))
            .expect("the peer certificate loads");
        let mut gossip = MembershipConfig::new(
            self.id.to_string(),
            self.gossip_addr,
            self.rpc_addr.to_string(),
        )
        .with_seeds(self.seeds.iter().map(ToString::to_string));
        gossip.cluster_id = self.cluster_id.clone();
        let mut config = NodeConfig::new(
            self.id,
            &self.data_dir,
            self.rpc_addr.to_string(),
            gossip,
            peer_tls,
        );
        config.bootstrap = self.bootstrap;
        config.timing = RaftTiming::default();
        config.snapshot_every = self.snapshot_every;
        config.keep_after_snapshot = self.keep_after_snapshot;
        config.records.max_store_bytes = self.segment_bytes;
        config.raft_log.max_store_bytes = self.segment_bytes;
        // Batches and records that fit the segments.
        let fits = (self.segment_bytes / 4) as usize;
        config.service.max_record_bytes = config.service.max_record_bytes.min(fits);
        config.service.max_batch_bytes = config.service.max_batch_bytes.min(fits);
        config.service.max_batch_records = config.service.max_batch_records.min(fits / 64);
        config
    }
}

// ANCHOR: run_node
// ANCHOR: run_node_if_asked
/// Call first in a test's `main`: when this process was started by
/// [`NodeProcess::start`], it runs the node until SIGTERM (or SIGKILL) and
/// exits.
pub fn run_node_if_asked() {
    let Ok(spec) = std::env::var(RUN_AS_NODE) else {
        return;
    };
    let spec: NodeSpec = serde_json::from_str(&spec).expect("a node spec");
    let _ = rustls::crypto::ring::default_provider().install_default();
    chapter_05::observability::init_tracing(chapter_05::cli::LogFormat::Text);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let code = runtime.block_on(async move {
        match run_node(&spec).await {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("node {}: {error}", spec.id);
                1
            }
        }
    });
    std::process::exit(code);
}
// ANCHOR_END: run_node_if_asked

// ANCHOR: run_node_fn
async fn run_node(spec: &NodeSpec) -> crate::Result<()> {
    let (server_cert, server_key) = spec
        .server_cert
        .clone()
        .unwrap_or_else(|| (cert("server.pem"), cert("server-key.pem")));
    let tls = chapter_03::server_config(&chapter_03::ServerTlsFiles {
        cert: server_cert,
        key: server_key,
        client_ca: cert("ca.pem"),
    })?;
    let policies = repository().join("policies");
    let authorizer = Arc::new(
        CasbinAuthorizer::open(policies.join("model.conf"), policies.join("policy.csv"))
            .await
            .map_err(|error| crate::Error::InvalidConfig(error.to_string()))?,
    );
    let listener = tokio::net::TcpListener::bind(spec.rpc_addr)
        .await
        .map_err(crate::Error::io(
            "binding",
            PathBuf::from(spec.rpc_addr.to_string()),
        ))?;
    if let Some(addr) = spec.metrics_addr {
        chapter_05::observability::install_metrics(addr)
            .map_err(|error| crate::Error::InvalidConfig(error.to_string()))?;
    }
    let node = ClusterNode::start(spec.config()).await?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(crate::Error::io("installing", PathBuf::from("SIGTERM")))?;
    node.serve(listener, tls, authorizer, async move {
        terminate.recv().await;
    })
    .await?;
    if spec.leave_on_sigterm {
        node.leave().await
    } else {
        node.stop().await;
        Ok(())
    }
}
// ANCHOR_END: run_node_fn
// ANCHOR_END: run_node

// ANCHOR: node_process
/// A node running as a child process. Killed when dropped.
#[derive(Debug)]
pub struct NodeProcess {
    /// How it was started.
    pub spec: NodeSpec,
    /// Where its log (standard error) goes.
    pub log_file: PathBuf,
    child: Option<Child>,
}

impl NodeProcess {
    /// Starts the node and waits (up to 20 s) until its gRPC port accepts
    /// connections.
    pub fn start(spec: NodeSpec) -> NodeProcess {
        std::fs::create_dir_all(&spec.data_dir).unwrap();
        let log_file = spec.data_dir.with_extension("log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_file)
            .unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .env(RUN_AS_NODE, serde_json::to_string(&spec).unwrap())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info,openraft=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut node = NodeProcess {
            spec,
            log_file,
            child: Some(child),
        };
        // ANCHOR_END: node_process
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(node.spec.rpc_addr).is_err() {
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "node {} exited with {status}:\n{}",
                    node.spec.id,
                    node.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not listen:\n{}",
                node.spec.id,
                node.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        node
    }

    /// What the node has logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    // ANCHOR: kill
    /// SIGKILL: no destructors, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    // ANCHOR_END: kill

    /// SIGTERM, and waits (at most 30 s) for it to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the node is running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not exit:\n{}",
                self.spec.id,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Its process id, while it runs (to signal it: `kill -STOP` freezes
    /// it, as a network partition would cut it off).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    // ANCHOR: restart
    /// Starts the node again, on the same data and ports.
    pub fn restart(&mut self) {
        let mut spec = self.spec.clone();
        spec.bootstrap = false;
        *self = NodeProcess::start(spec);
    }
    // ANCHOR_END: restart

    /// A client of this node, as `root`.
    pub async fn client(&self) -> LogClient<Channel> {
        client_of(self.spec.rpc_addr, "root").await
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client of the server at `addr`, with the development certificate of
/// `identity` ("root", "nobody", "peer").
pub async fn client_of(addr: SocketAddr, identity: &str) -> LogClient<Channel> {
    LogClient::new(channel_of(addr, identity).await)
}

/// A client of the server at `addr`, as `identity`, that connects when
/// first used (and again after a failure): for a server that may be down.
pub fn lazy_client_of(addr: SocketAddr, identity: &str) -> LogClient<Channel> {
    let config = client_tls(identity);
    let channel = chapter_03::client::lazy_tls_channel(
        &addr.to_string(),
        config,
        "localhost",
        Duration::from_secs(1),
    )
    .expect("a valid address");
    LogClient::new(channel)
}

/// The TLS configuration of a client with the development certificate of
/// `identity` ("root", "nobody", "peer").
pub fn client_tls(identity: &str) -> Arc<rustls::ClientConfig> {
    let (cert_file, key_file) = match identity {
        "peer" => (cert("peer.pem"), cert("peer-key.pem")),
        name => (
            cert(&format!("{name}-client.pem")),
            cert(&format!("{name}-client-key.pem")),
        ),
    };
    chapter_03::client_config(&cert("ca.pem"), Some((&cert_file, &key_file)))
        .expect("the development certificates load")
}

/// A mutual-TLS channel to the server at `addr`, with the development
/// certificate of `identity` ("root", "nobody", "peer"), for any gRPC client.
pub async fn channel_of(addr: SocketAddr, identity: &str) -> Channel {
    chapter_03::client::tls_channel(addr, client_tls(identity), "localhost")
        .await
        .expect("a client connects")
}

// ANCHOR: cluster
// ANCHOR: cluster_a
/// A cluster of node processes in one temporary directory: node 1 forms
/// it, the others join through node 1's gossip address.
#[derive(Debug)]
pub struct TestCluster {
    /// Where every node's data is.
    pub dir: tempfile::TempDir,
    /// The nodes, node `i + 1` at index `i`.
    pub nodes: Vec<NodeProcess>,
    /// The gossip cluster id (unique per cluster, so tests do not mix).
    pub cluster_id: String,
}

impl TestCluster {
    /// Starts `size` nodes, each spec adjusted by `tune`, and waits until
    /// every one is a voter.
    pub async fn start(size: u64, tune: impl Fn(&mut NodeSpec)) -> TestCluster {
        let dir = tempfile::tempdir().unwrap();
        let cluster_id = chapter_06::testing::unique_cluster_id();
        let mut nodes: Vec<NodeProcess> = Vec::new();
        for id in 1..=size {
            let mut spec = NodeSpec::new(id, dir.path(), &cluster_id);
            spec.bootstrap = id == 1;
            spec.seeds = nodes
                .first()
                .map(|first| first.spec.gossip_addr)
                .into_iter()
                .collect();
            tune(&mut spec);
            nodes.push(NodeProcess::start(spec));
        }
        let cluster = TestCluster {
            dir,
            nodes,
            cluster_id,
        };
        cluster
            .wait_for_voters(size as usize, Duration::from_secs(30))
            .await;
        cluster
    }
    // ANCHOR_END: cluster_a

    // ANCHOR: cluster_b
    /// A new node `id` that joins the cluster (not started yet: adjust it).
    pub fn spec_for_new_node(&self, id: u64) -> NodeSpec {
        let mut spec = NodeSpec::new(id, self.dir.path(), &self.cluster_id);
        spec.seeds = vec![self.nodes[0].spec.gossip_addr];
        spec
    }

    /// Every node's gRPC address (`host:port`): a client's seeds.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| node.spec.rpc_addr.to_string())
            .collect()
    }

    /// The running nodes.
    pub fn running(&self) -> impl Iterator<Item = &NodeProcess> {
        self.nodes.iter().filter(|node| node.is_running())
    }

    // ANCHOR_END: cluster_b

    // ANCHOR: wait_for_servers
    /// The servers as a running node reports them (`GetServers`), waiting
    /// (up to `within`) until `ready` accepts them.
    pub async fn wait_for_servers(
        &self,
        within: Duration,
        ready: impl Fn(&[chapter_02::api::v1::Server]) -> bool,
    ) -> Vec<chapter_02::api::v1::Server> {
        let addrs: Vec<SocketAddr> = self.running().map(|node| node.spec.rpc_addr).collect();
        wait_for_servers_at(&addrs, within, ready).await
    }
    // ANCHOR_END: wait_for_servers

    // ANCHOR: cluster_c
    /// Waits until `count` voters are listed and one of them leads.
    pub async fn wait_for_voters(&self, count: usize, within: Duration) {
        self.wait_for_servers(within, |servers| {
            servers.len() == count && servers.iter().any(|server| server.is_leader)
        })
        .await;
    }

    /// The index (in `nodes`) of the leader, once every running node names
    /// the same one (a node just restarted may still name an old leader).
    pub async fn agreed_leader(&self, within: Duration) -> usize {
        let running: Vec<(u64, SocketAddr)> = self
            .running()
            .map(|node| (node.spec.id, node.spec.rpc_addr))
            .collect();
        (agreed_leader_at(&running, within).await - 1) as usize
    }

    // ANCHOR_END: cluster_c

    // ANCHOR: cluster_d
    /// The index (in `nodes`) of the leader, once a running node leads.
    pub async fn leader(&self, within: Duration) -> usize {
        let running: Vec<String> = self
            .running()
            .map(|node| node.spec.id.to_string())
            .collect();
        let servers = self
            .wait_for_servers(within, |servers| {
                servers
                    .iter()
                    .any(|server| server.is_leader && running.contains(&server.id))
            })
            .await;
        let leader = servers
            .iter()
            .find(|server| server.is_leader)
            .map(|server| server.id.parse::<u64>().unwrap())
            .unwrap();
        (leader - 1) as usize
    }
}
// ANCHOR_END: cluster_d
// ANCHOR_END: cluster

// ANCHOR: servers_at
/// How long one `GetServers` may take before the server counts as silent
/// (a server cut off by a partition never answers).
const GET_SERVERS_TIMEOUT: Duration = Duration::from_secs(2);

/// The servers as they are listed by the server at `addr`, or `None` if
/// it does not answer in time.
pub async fn servers_at(addr: SocketAddr) -> Option<Vec<chapter_02::api::v1::Server>> {
    let mut client = lazy_client_of(addr, "root");
    match tokio::time::timeout(
        GET_SERVERS_TIMEOUT,
        client.get_servers(GetServersRequest {}),
    )
    .await
    {
        Ok(Ok(response)) => Some(response.into_inner().servers),
        _ => None,
    }
}

// ANCHOR_END: servers_at

// ANCHOR: wait_for_servers_at
/// The servers as one of the servers at `addrs` reports them
/// (`GetServers`), asking each in turn, and waiting (up to `within`) until
/// `ready` accepts an answer. A server that cannot be reached, or does not
/// answer, says nothing.
pub async fn wait_for_servers_at(
    addrs: &[SocketAddr],
    within: Duration,
    ready: impl Fn(&[chapter_02::api::v1::Server]) -> bool,
) -> Vec<chapter_02::api::v1::Server> {
    let deadline = Instant::now() + within;
    loop {
        for addr in addrs {
            if let Some(servers) = servers_at(*addr).await
                && ready(&servers)
            {
                return servers;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not settle within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
// ANCHOR_END: wait_for_servers_at

// ANCHOR: agreed_leader_at
/// The id of the leader, once every one of `nodes` (id, gRPC address)
/// names the same one, and it is one of them.
pub async fn agreed_leader_at(nodes: &[(u64, SocketAddr)], within: Duration) -> u64 {
    let deadline = Instant::now() + within;
    loop {
        let mut named = Vec::new();
        for (_, addr) in nodes {
            let leader = servers_at(*addr)
                .await
                .and_then(|servers| servers.into_iter().find(|server| server.is_leader));
            named.push(leader.and_then(|server| server.id.parse::<u64>().ok()));
        }
        if let Some(Some(leader)) = named.first().copied()
            && named.iter().all(|other| *other == Some(leader))
            && nodes.iter().any(|(id, _)| *id == leader)
        {
            return leader;
        }
        assert!(
            Instant::now() < deadline,
            "the servers did not agree on a leader within {within:?}: {named:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
// ANCHOR_END: agreed_leader_at

/// Every record node `node` holds, from offset 0, read with `Consume`.
pub async fn records_of(node: &NodeProcess) -> Vec<Vec<u8>> {
    let mut client = node.client().await;
    let mut records = Vec::new();
    loop {
        match client
            .consume(ConsumeRequest {
                offset: records.len() as u64,
            })
            .await
        {
            Ok(response) => records.push(response.into_inner().record.unwrap().value),
            Err(status) if status.code() == tonic::Code::OutOfRange => return records,
            Err(status) => panic!("consume from node {}: {status:?}", node.spec.id),
        }
    }
}

/// The first `count` records `node` holds, read with one `ConsumeStream`
/// (much faster than one `Consume` each), waiting (up to `within`) for
/// them; and checks that there is no record after them.
pub async fn stream_records(node: &NodeProcess, count: usize, within: Duration) -> Vec<Vec<u8>> {
    stream_records_at(node.spec.rpc_addr, count, within).await
}

/// [`stream_records`] of the server at `addr`.
pub async fn stream_records_at(addr: SocketAddr, count: usize, within: Duration) -> Vec<Vec<u8>> {
    use tokio_stream::StreamExt;
    let mut client = client_of(addr, "root").await;
    let mut stream = client
        .consume_stream(ConsumeRequest { offset: 0 })
        .await
        .expect("a consume stream")
        .into_inner();
    let records = tokio::time::timeout(within, async {
        let mut records = Vec::with_capacity(count);
        while records.len() < count {
            let response = stream
                .next()
                .await
                .expect("the stream goes on")
                .expect("a record");
            records.push(response.record.expect("a record").value);
        }
        records
    })
    .await
    .unwrap_or_else(|_| panic!("{addr} did not stream {count} records within {within:?}"));
    let past_the_end = client
        .consume(ConsumeRequest {
            offset: count as u64,
        })
        .await;
    assert_eq!(
        past_the_end.map(|_| ()).unwrap_err().code(),
        tonic::Code::OutOfRange,
        "{addr} holds more than {count} records"
    );
    records
}

/// The record at `offset` on `node`, waiting (up to `within`) until it is
/// there.
pub async fn record_at(node: &NodeProcess, offset: u64, within: Duration) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut client = node.client().await;
    loop {
        match client.consume(ConsumeRequest { offset }).await {
            Ok(response) => return response.into_inner().record.unwrap().value,
            Err(status)
                if status.code() == tonic::Code::OutOfRange && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("consume {offset} from node {}: {status:?}", node.spec.id),
        }
    }
}

/// Waits (up to `within`) until `node` holds at least `count` records, and
/// returns them.
pub async fn wait_for_records(node: &NodeProcess, count: usize, within: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + within;
    loop {
        let records = records_of(node).await;
        if records.len() >= count {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "node {} holds {} of {count} records:\n{}",
            node.spec.id,
            records.len(),
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ANCHOR: runner
// ANCHOR: runner_a
/// A test of a `harness = false` test file: its name and its body.
pub type ProcessTest = (
    &'static str,
    fn() -> std::pin::Pin<Box<dyn Future<Output = ()>>>,
);

/// The [`ProcessTest`]s of the `async fn`s named, for [`run_tests`]:
/// `run_tests(process_tests![first_test, second_test])`.
#[macro_export]
macro_rules! process_tests {
    ($($test:ident),+ $(,)?) => {
        &[$((
            stringify!($test),
            (|| Box::pin($test()) as ::std::pin::Pin<Box<dyn ::std::future::Future<Output = ()>>>)
                as fn() -> ::std::pin::Pin<Box<dyn ::std::future::Future<Output = ()>>>,
        )),+] as &[$crate::testing::ProcessTest]
    };
}
// ANCHOR_END: runner_a

// ANCHOR: runner_b
/// The `main` of a test file whose tests start node processes: runs a node
/// if this process was started as one ([`run_node_if_asked`]); otherwise
/// runs the tests, one after another, each on a fresh runtime, and exits
/// with a failure if any failed. It speaks enough of libtest's command
/// line for `cargo test` and `cargo nextest`: a name filter (`--exact` for
/// an exact name), `--list` (with `--format terse`), `--ignored` (there are
/// none).
pub fn run_tests(tests: &[ProcessTest]) {
    run_node_if_asked();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|arg| arg == name);
    let filter = args
        .iter()
        .find(|arg| !arg.starts_with('-') && !matches!(arg.as_str(), "terse" | "pretty"));
    let selected: Vec<&ProcessTest> = tests
        .iter()
        .filter(|(name, _)| match filter {
            None => true,
            Some(filter) if flag("--exact") => name == filter,
            Some(filter) => name.contains(filter.as_str()),
        })
        .filter(|_| !flag("--ignored"))
        .collect();
    if flag("--list") {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return;
    }
    // ANCHOR_END: runner_b
    // ANCHOR: runner_c
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in selected.iter().copied() {
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| {
            tokio::runtime::Runtime::new().unwrap().block_on(test());
        });
        let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
        println!(
            "test {name} ... {verdict} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(101);
    }
}
// ANCHOR_END: runner_c
// ANCHOR_END: runner
