//! Clusters of real `proglog` processes, for tests (feature `testing`):
//! each node is the `proglog` binary started with the cluster flags a user
//! would type (`--node-id`, `--gossip-addr`, `--join`, `--bootstrap-expect`),
//! on its own ports of 127.0.0.1 and its own data directory. A test can
//! kill a node with SIGKILL and start it again on the same data and ports,
//! cut a node off from the others with a network partition, and check a
//! history of what producers were told against what every node holds.
//!
//! Partitions need a private network: [`enter_private_network`] re-runs
//! the test executable inside `unshare --net` (as root), where nftables
//! rules may drop a node's packets without touching the machine's network.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test support: a failure is a failed test

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chapter_05::testing::{Binary, free_addr};
use chapter_07::testing::{agreed_leader_at, client_tls, servers_at, wait_for_servers_at};
use chapter_08::{Client, ClientConfig};
use futures_util::StreamExt;
use tokio::task::JoinHandle;

// ANCHOR: run_as
/// The environment variable that makes a test executable run as `proglog`
/// (chapter 9's, the cluster server).
pub const RUN_AS_PROGLOG: &str = "PROGLOG_TESTING_RUN_AS_CLUSTER_PROGLOG";

/// Call first in a test's `main`: when this process was started by
/// [`this_process`], it runs `proglog` (this crate's [`crate::main`]) and
/// exits.
pub fn run_as_proglog_if_asked() {
    if std::env::var_os(RUN_AS_PROGLOG).is_some() {
        let code = crate::main();
        std::process::exit(i32::from(code != std::process::ExitCode::SUCCESS));
    }
}

/// This test executable, re-run as `proglog` (for tests outside this
/// package, which cannot ask cargo for its binary).
pub fn this_process() -> Binary {
    Binary::at(std::env::current_exe().expect("the test executable's path"))
        .with_env(RUN_AS_PROGLOG, "1")
}
// ANCHOR_END: run_as

// ANCHOR: private_network
/// Set inside the private network namespace [`enter_private_network`] made.
pub const IN_PRIVATE_NETWORK: &str = "PROGLOG_TESTING_IN_PRIVATE_NETWORK";

/// Re-runs this process, with the same arguments, inside a private network
/// namespace (`unshare --net`, which needs root) with its loopback up, and
/// exits with its exit code; returns at once if this process already runs
/// in one. Where a private network cannot be made, it says so and returns:
/// the tests that cut the network then fail, saying why
/// ([`assert_private_network`]); the others run as usual.
pub fn enter_private_network() {
    if std::env::var_os(IN_PRIVATE_NETWORK).is_some() {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        assert!(
            up.is_ok_and(|status| status.success()),
            "ip link set lo up failed in the private network"
        );
        return;
    }
    let can_unshare = Command::new("unshare")
        .args(["--net", "--", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !can_unshare {
        eprintln!("note: `unshare --net` is not possible here (it needs root): no partition tests");
        return;
    }
    let status = Command::new("unshare")
        .args(["--net", "--"])
        .arg(std::env::current_exe().expect("the test executable's path"))
        .args(std::env::args_os().skip(1))
        .env(IN_PRIVATE_NETWORK, "1")
        .status()
        .expect("unshare runs");
    std::process::exit(status.code().unwrap_or(1));
}

// ANCHOR_END: private_network

/// Fails the test unless this process runs in a private network.
pub fn assert_private_network() {
    assert!(
        std::env::var_os(IN_PRIVATE_NETWORK).is_some(),
        "this test cuts the network between servers: it runs only inside a private \
         network namespace, which needs root (`unshare --net`, nft, setpriv)"
    );
}

// ANCHOR: node
/// One `proglog serve` of a cluster: its ports and directory are fixed when
/// it is made, so that it can be killed and started again as the same
/// server. Killed when dropped.
#[derive(Debug)]
pub struct Node {
    /// Its node id (`--node-id`).
    pub id: u64,
    /// Where it serves gRPC (`--addr`, also the address it advertises).
    pub rpc_addr: SocketAddr,
    /// Where it gossips (`--gossip-addr`, UDP).
    pub gossip_addr: SocketAddr,
    /// Where it serves Prometheus metrics (`--metrics-addr`).
    pub metrics_addr: SocketAddr,
    /// Its `--data-dir`.
    pub data_dir: PathBuf,
    /// Where its standard error (its log) goes, across restarts.
    pub log_file: PathBuf,
    /// The flags after the ones above (`--join ...`, `--bootstrap-expect 3`).
    pub flags: Vec<String>,
    binary: Binary,
    child: Option<Child>,
}
// ANCHOR_END: node

impl Node {
    /// Node `id` in `dir`, on free ports, run with `binary`: not started.
    pub fn new(binary: Binary, id: u64, dir: &Path) -> Node {
        Node {
            id,
            rpc_addr: free_addr(),
            gossip_addr: free_addr(),
            metrics_addr: free_addr(),
            data_dir: dir.join(format!("node-{id}")),
            log_file: dir.join(format!("node-{id}.log")),
            flags: Vec::new(),
            binary,
            child: None,
        }
    }

    // ANCHOR: spawn
    /// Starts `proglog serve --dev` with the node's ports, directory and
    /// flags; [`Node::wait_until_listening`] waits for it.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "node {} is running", self.id);
        let fixed = [
            "serve".to_string(),
            "--dev".to_string(),
            format!("--node-id={}", self.id),
            format!("--addr={}", self.rpc_addr),
            format!("--gossip-addr={}", self.gossip_addr),
            format!("--metrics-addr={}", self.metrics_addr),
            format!("--data-dir={}", self.data_dir.display()),
        ];
        let args: Vec<&str> = fixed
            .iter()
            .chain(&self.flags)
            .map(String::as_str)
            .collect();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .unwrap();
        let child = self
            .binary
            .command(&args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info,openraft=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("proglog starts");
        self.child = Some(child);
    }
    // ANCHOR_END: spawn

    /// Waits (up to 30 s) until the node accepts connections.
    pub fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(self.rpc_addr).is_err() {
            let child = self.child.as_mut().expect("the node was started");
            if let Some(status) = child.try_wait().unwrap() {
                panic!("node {} exited with {status}:\n{}", self.id, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not listen:\n{}",
                self.id,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the node (again, on the same data and ports) and waits until
    /// it listens.
    pub fn start(&mut self) {
        self.spawn();
        self.wait_until_listening();
    }

    /// SIGKILL: no destructors, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and waits (at most 30 s) for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let child = self.child.as_ref().expect("the node is running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        self.wait_for_exit(Duration::from_secs(30))
    }

    /// Waits (at most `limit`) for the process to exit by itself, and
    /// returns its exit status.
    pub fn wait_for_exit(&mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("the node is running");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not exit:\n{}",
                self.id,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is running (it was started and not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// What the node has logged, over all its runs.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// Runs a client command (`produce ...`, `cluster status`) of `proglog`
    /// against this node, as the development `root` client.
    pub fn cli(&self, args: &[&str]) -> Output {
        let addr = format!("--addr={}", self.rpc_addr);
        let split = if args.first() == Some(&"cluster") {
            2
        } else {
            1
        };
        let args = [&args[..split], &["--dev", &addr], &args[split..]].concat();
        self.binary.run(&args, None)
    }

    /// The offset this node will give its next record (its own `GetServers`
    /// entry), or `None` if it does not answer.
    pub async fn next_offset(&self) -> Option<u64> {
        let servers = servers_at(self.rpc_addr).await?;
        let me = self.id.to_string();
        servers
            .into_iter()
            .find(|server| server.id == me)
            .and_then(|server| server.next_offset)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

// ANCHOR: forming
/// How the servers of a test cluster form it (the two ways a user can).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forming {
    /// Node 1 `--bootstrap`s; the others `--join` node 1's gossip address.
    FirstBootstraps,
    /// Every node starts with `--bootstrap-expect N --join` the gossip
    /// addresses of the others, all at once.
    AllExpect,
}
// ANCHOR_END: forming

// ANCHOR: cluster
/// A cluster of `proglog` processes in one temporary directory.
#[derive(Debug)]
pub struct ProglogCluster {
    /// Where every node's data and log are.
    pub dir: tempfile::TempDir,
    /// The nodes, node `i + 1` at index `i`.
    pub nodes: Vec<Node>,
}

impl ProglogCluster {
    /// Starts `size` nodes, node `id` run with `binary(id)`, formed as
    /// `forming` says, and waits until every one is a voter.
    pub async fn start(size: u64, forming: Forming, binary: impl Fn(u64) -> Binary) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes: Vec<Node> = (1..=size)
            .map(|id| Node::new(binary(id), id, dir.path()))
            .collect();
        let gossip: Vec<String> = nodes.iter().map(|n| n.gossip_addr.to_string()).collect();
        for node in &mut nodes {
            let others = || {
                let mine = node.gossip_addr.to_string();
                gossip.iter().filter(move |addr| **addr != mine).cloned()
            };
            node.flags = match forming {
                Forming::FirstBootstraps if node.id == 1 => vec!["--bootstrap".into()],
                Forming::FirstBootstraps => vec![format!("--join={}", gossip[0])],
                Forming::AllExpect => vec![
                    format!("--bootstrap-expect={size}"),
                    format!("--join={}", others().collect::<Vec<_>>().join(",")),
                ],
            };
            node.spawn();
        }
        for node in &mut nodes {
            node.wait_until_listening();
        }
        let cluster = ProglogCluster { dir, nodes };
        cluster.wait_for_voters(size as usize).await;
        cluster
    }
    // ANCHOR_END: cluster

    /// Starts one more node, run with `binary`, that `--join`s node 1's
    /// gossip address; returns its index.
    pub fn add_node(&mut self, binary: Binary) -> usize {
        let id = self.nodes.len() as u64 + 1;
        let mut node = Node::new(binary, id, self.dir.path());
        node.flags = vec![format!("--join={}", self.nodes[0].gossip_addr)];
        node.start();
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// The servers as a running node lists them (`GetServers`), once
    /// `ready` accepts the list (waiting up to [`SETTLE`]).
    pub async fn servers(
        &self,
        ready: impl Fn(&[chapter_02::api::v1::Server]) -> bool,
    ) -> Vec<chapter_02::api::v1::Server> {
        wait_for_servers_at(&self.running_addrs(), SETTLE, ready).await
    }

    /// Every node's gRPC address: a client's seeds.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.rpc_addr.to_string()).collect()
    }

    /// A configuration of chapter 8's client of this cluster, as `root`.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig::new(self.seeds(), client_tls("root"))
    }

    /// The running nodes' gRPC addresses.
    fn running_addrs(&self) -> Vec<SocketAddr> {
        let running = self.nodes.iter().filter(|node| node.is_running());
        running.map(|node| node.rpc_addr).collect()
    }

    /// Waits (up to [`SETTLE`]) until `count` voters are listed and one of
    /// them leads.
    pub async fn wait_for_voters(&self, count: usize) {
        self.servers(|servers| {
            servers.len() == count && servers.iter().any(|server| server.is_leader)
        })
        .await;
    }

    /// The index (in `nodes`) of the leader, once every node of `among`
    /// (indexes) names the same one (waiting up to [`SETTLE`]).
    pub async fn leader_among(&self, among: &[usize]) -> usize {
        let nodes: Vec<(u64, SocketAddr)> = among
            .iter()
            .map(|&index| (self.nodes[index].id, self.nodes[index].rpc_addr))
            .collect();
        (agreed_leader_at(&nodes, SETTLE).await - 1) as usize
    }

    /// The index of the leader that every running node names.
    pub async fn leader(&self) -> usize {
        let running: Vec<usize> = (0..self.nodes.len())
            .filter(|&index| self.nodes[index].is_running())
            .collect();
        self.leader_among(&running).await
    }

    /// Waits (up to [`SETTLE`]) until node `index` holds at least as many
    /// records as the others held when it was asked: it has caught up.
    pub async fn wait_until_caught_up(&self, index: usize) {
        let mut target = 0;
        for (other, node) in self.nodes.iter().enumerate() {
            if other != index && node.is_running() {
                target = target.max(node.next_offset().await.unwrap_or(0));
            }
        }
        let deadline = Instant::now() + SETTLE;
        loop {
            let next = self.nodes[index].next_offset().await;
            if next.is_some_and(|next| next >= target) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not catch up to offset {target} within {SETTLE:?} (at {next:?})",
                self.nodes[index].id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to [`SETTLE`]) until every node is running and holds the
    /// same number of records, then returns each node's records, read back.
    pub async fn converged_records(&self) -> Vec<Vec<Vec<u8>>> {
        let deadline = Instant::now() + SETTLE;
        let count = loop {
            let mut counts = Vec::new();
            for node in &self.nodes {
                counts.push(node.next_offset().await);
            }
            if let Some(Some(first)) = counts.first().copied()
                && counts.iter().all(|count| *count == Some(first))
            {
                break first;
            }
            assert!(
                Instant::now() < deadline,
                "the nodes did not converge within {SETTLE:?}: next offsets {counts:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut logs = Vec::new();
        for node in &self.nodes {
            let records =
                chapter_07::testing::stream_records_at(node.rpc_addr, count as usize, SETTLE).await;
            logs.push(records);
        }
        logs
    }
}

/// The longest a test waits for a cluster to settle (an election, a
/// restart and catch-up, a partition healed).
pub const SETTLE: Duration = Duration::from_secs(60);

// ANCHOR: partition
/// A network partition that cuts one node off from everyone: its ports
/// drop every packet sent to them, and every packet its process sends is
/// dropped (nftables, matching the node's group id). Healed when dropped.
///
/// Needs a private network ([`enter_private_network`]) and nodes that run
/// under their own group id ([`own_group`]).
#[derive(Debug)]
pub struct Partition {
    table: String,
}

/// The group id node `id` runs under in a partition test.
pub fn group_of(id: u64) -> u64 {
    3100 + id
}

/// `binary`, run under node `id`'s own group id ([`group_of`]), so that a
/// [`Partition`] can tell its packets from the others'.
pub fn own_group(binary: Binary, id: u64) -> Binary {
    let group = group_of(id).to_string();
    binary.wrapped_in(&["setpriv", "--regid", &group, "--clear-groups", "--"])
}

// ANCHOR_END: partition
// ANCHOR: isolate
impl Partition {
    /// Cuts `node` off from everyone.
    pub fn isolate(node: &Node) -> Partition {
        let table = format!("proglog_cut_{}", node.id);
        let (grpc, gossip) = (node.rpc_addr.port(), node.gossip_addr.port());
        let rules = format!(
            "table inet {table} {{
               chain in {{ type filter hook input priority 0;
                 tcp dport {{ {grpc}, {gossip} }} drop; udp dport {{ {grpc}, {gossip} }} drop; }}
               chain out {{ type filter hook output priority 0; meta skgid {} drop; }}
             }}",
            group_of(node.id)
        );
        nft(&["-f", "-"], Some(&rules));
        Partition { table }
    }

    /// Lets the packets through again.
    pub fn heal(self) {}
}

impl Drop for Partition {
    fn drop(&mut self) {
        nft(&["delete", "table", "inet", &self.table], None);
    }
}

// ANCHOR_END: isolate

fn nft(args: &[&str], input: Option<&str>) {
    use std::io::Write;
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nft runs (Debian: apt-get install nftables)");
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

// ANCHOR: history
/// What the producers of a test were told: each acknowledged record's
/// offset and value, and the values whose fate they never learned (the
/// client gave up: the record may or may not be in the log, but at most
/// once).
#[derive(Debug, Default, Clone)]
pub struct History {
    /// Offset → value, for every produce that returned an offset.
    pub acknowledged: BTreeMap<u64, Vec<u8>>,
    /// Values whose produce failed.
    pub unknown: Vec<Vec<u8>>,
    /// Acknowledgements that named an offset already acknowledged for
    /// another value (a log that gave one offset twice).
    pub conflicting: u64,
}

// ANCHOR_END: history

// ANCHOR: verdict
/// A history checked against what every node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Records acknowledged to a producer.
    pub acknowledged: usize,
    /// Acknowledged records missing from the log, or not at their offset.
    pub lost: usize,
    /// Values held more than once.
    pub duplicated: usize,
    /// Nodes whose records differ from node 1's.
    pub divergent: usize,
    /// Offsets acknowledged twice, for different values.
    pub conflicting: u64,
    /// Records held that no producer sent (or sent and was told failed,
    /// beyond `unknown_kept`): never expected.
    pub unexplained: usize,
    /// Produces that failed whose record is in the log anyway (allowed:
    /// their fate was unknown).
    pub unknown_kept: usize,
    /// Records every node holds.
    pub held: usize,
}
// ANCHOR_END: verdict

// ANCHOR: check
impl History {
    /// Checks this history against the records of every node (node 1's
    /// first), as [`ProglogCluster::converged_records`] returns them.
    pub fn check(&self, logs: &[Vec<Vec<u8>>]) -> Verdict {
        let reference = &logs[0];
        let divergent = logs[1..].iter().filter(|log| *log != reference).count();
        let lost = self
            .acknowledged
            .iter()
            .filter(|(offset, value)| reference.get(**offset as usize) != Some(*value))
            .count();
        let mut held: HashMap<&[u8], usize> = HashMap::new();
        for value in reference {
            *held.entry(value).or_default() += 1;
        }
        let duplicated = held.values().filter(|count| **count > 1).count();
        let acknowledged: std::collections::HashSet<&[u8]> =
            self.acknowledged.values().map(Vec::as_slice).collect();
        let unknown: std::collections::HashSet<&[u8]> =
            self.unknown.iter().map(Vec::as_slice).collect();
        let unknown_kept = held.keys().filter(|value| unknown.contains(*value)).count();
        let unexplained = held
            .keys()
            .filter(|value| !acknowledged.contains(*value) && !unknown.contains(*value))
            .count();
        Verdict {
            acknowledged: self.acknowledged.len(),
            lost,
            duplicated,
            divergent,
            conflicting: self.conflicting,
            unexplained,
            unknown_kept,
            held: reference.len(),
        }
    }
}
// ANCHOR_END: check

impl Verdict {
    /// Whether nothing went wrong: nothing lost, duplicated, divergent,
    /// conflicting or unexplained.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.divergent == 0
            && self.conflicting == 0
            && self.unexplained == 0
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} acknowledged, {} held on every node; lost {}, duplicated {}, divergent nodes {}, \
             conflicting offsets {}, unexplained {}; failed produces kept {}",
            self.acknowledged,
            self.held,
            self.lost,
            self.duplicated,
            self.divergent,
            self.conflicting,
            self.unexplained,
            self.unknown_kept
        )
    }
}

/// What a consumer saw, in order: each record's offset and value.
pub type Seen = Vec<(u64, Vec<u8>)>;

// ANCHOR: load
/// Producers and a consumer running against a cluster through chapter 8's
/// client, recording what they are told, until [`Load::stop`].
#[derive(Debug)]
pub struct Load {
    history: Arc<Mutex<History>>,
    seen: Arc<Mutex<Seen>>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts `producers` producers (each its own client, so its own
    /// producer id, producing one record at a time: `p{n}-{sequence}`) and
    /// one consumer that follows the log from offset 0.
    pub async fn start(config: &ClientConfig, producers: usize) -> Load {
        let history = Arc::new(Mutex::new(History::default()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for producer in 0..producers {
            let client = Client::connect(config.clone()).await.expect("a client");
            let (history, stopped) = (Arc::clone(&history), stopped.clone());
            tasks.push(tokio::spawn(produce(client, producer, history, stopped)));
        }
        let client = Client::connect(config.clone()).await.expect("a client");
        tasks.push(tokio::spawn(consume(client, Arc::clone(&seen), stopped)));
        Load {
            history,
            seen,
            stop,
            tasks,
        }
    }
    // ANCHOR_END: load

    /// How many records have been acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.history.lock().unwrap().acknowledged.len()
    }

    /// Waits (up to [`SETTLE`]) until `more` records more than now are
    /// acknowledged: the cluster takes writes. Returns how long it took.
    pub async fn wait_for_progress(&self, more: usize) -> Duration {
        let started = Instant::now();
        let target = self.acknowledged() + more;
        while self.acknowledged() < target {
            assert!(
                started.elapsed() < SETTLE,
                "no progress within {SETTLE:?}: {} of {target} acknowledged",
                self.acknowledged()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    }

    /// Stops the producers (each finishes the produce it is in) and the
    /// consumer once it has seen `held` records (waiting up to [`SETTLE`]);
    /// returns the history, and what the consumer saw, in order.
    pub async fn stop(self) -> (History, Seen) {
        let _ = self.stop.send(true);
        let mut tasks = self.tasks;
        let consumer = tasks.pop().unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        consumer.abort();
        let history = self.history.lock().unwrap().clone();
        let seen = std::mem::take(&mut *self.seen.lock().unwrap());
        (history, seen)
    }
}

async fn produce(
    client: Client,
    producer: usize,
    history: Arc<Mutex<History>>,
    stopped: tokio::sync::watch::Receiver<bool>,
) {
    for sequence in 0.. {
        if *stopped.borrow() {
            return;
        }
        let value = format!("p{producer}-{sequence}").into_bytes();
        let outcome = client.produce(value.clone()).await;
        let mut history = history.lock().unwrap();
        match outcome {
            Ok(offset) => {
                if let Some(other) = history.acknowledged.insert(offset, value.clone())
                    && other != value
                {
                    history.conflicting += 1;
                }
            }
            Err(_) => history.unknown.push(value),
        }
    }
}

async fn consume(
    client: Client,
    seen: Arc<Mutex<Seen>>,
    stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut stream = std::pin::pin!(client.consume_stream(0));
    while let Some(record) = stream.next().await {
        match record {
            Ok(record) => seen.lock().unwrap().push((record.offset, record.value)),
            // The client gave up for now (no server within its bound): a
            // consumer starts again where it stopped.
            Err(_) if !*stopped.borrow() => {
                let next = seen
                    .lock()
                    .unwrap()
                    .last()
                    .map_or(0, |(offset, _)| offset + 1);
                stream.set(client.consume_stream(next));
            }
            Err(_) => return,
        }
    }
}

// ANCHOR: consumer_check
/// Checks what a consumer saw against the final log: offsets 0, 1, 2, ...
/// with no gap or repeat, each with the value the log holds there (so the
/// consumer never saw a record the cluster later lost). Returns the
/// problems found, none if all is well.
pub fn check_consumer(seen: &[(u64, Vec<u8>)], log: &[Vec<u8>]) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, (offset, value)) in seen.iter().enumerate() {
        if *offset != index as u64 {
            problems.push(format!("record {index} seen at offset {offset}"));
        } else if log.get(index) != Some(value) {
            problems.push(format!(
                "offset {offset} seen as {:?}, held as {:?}",
                String::from_utf8_lossy(value),
                log.get(index)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            ));
        }
        if problems.len() >= 10 {
            break;
        }
    }
    problems
}
// ANCHOR_END: consumer_check

/// The number of rounds of a fault loop: `$var` if set (a long run), else
/// `default` (CI's short run).
pub fn rounds(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(default)
}
