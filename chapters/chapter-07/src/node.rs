//! One server of a cluster, put together: its two logs, Raft, gossip,
//! admission, and the two gRPC services it serves on its one port.
//!
//! ```text
//!   data_dir/raft/      the Raft log (chapter 1, synced before every answer) + raft-meta
//!   data_dir/records/   the state machine's log (chapter 1): what clients read + machine-state
//!
//!   one port, mutual TLS, the ACL in front:
//!     log.v1.Log     produce → Raft (leader) │ consume ← records (every server)
//!     raft.v1.Raft   AppendEntries, Vote, InstallSnapshot, Identify (the peer identity only)
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chapter_01::{Log, SyncPolicy};
use chapter_02::{FollowableLog, LogService, ServiceConfig};
use chapter_04::{Action, AuthorizationLayer, Authorizer, Routes};
use chapter_06::{Membership, MembershipConfig};
use openraft::SnapshotPolicy;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tonic::transport::Server;

use crate::admission::Admission;
use crate::error::{Error, Result};
use crate::log_store::LogStore;
use crate::network::Network;
use crate::raft_service::RaftService;
use crate::service::ReplicatedLog;
use crate::state_machine::StateMachine;
use crate::types::{Node, NodeId, Raft};

/// How long a joining server waits to hear from gossip before it checks
/// that its id is free.
pub const ID_CHECK_TIME: Duration = Duration::from_secs(3);

// ANCHOR: leave_timeout
/// How long a leaving leader waits for a membership change under way to
/// finish before it removes itself.
pub const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);
// ANCHOR_END: leave_timeout

// ANCHOR: replicate_action
/// The ACL action of the Raft service's methods, granted to the servers'
/// own `peer` identity only.
pub const REPLICATE: Action = Action::named("replicate");
// ANCHOR_END: replicate_action

// ANCHOR: timing
/// How often a leader makes itself heard, and how long a follower waits
/// before it calls an election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTiming {
    /// A leader sends (at least) a heartbeat this often; also how long one
    /// AppendEntries call may take.
    pub heartbeat: Duration,
    /// A follower that hears nothing calls an election after a random time
    /// between these two (drawn once per node), counted from the end of the
    /// leader's lease, which openraft makes `election_max` long: so 600 to
    /// 800 ms after the last heartbeat with the defaults.
    pub election_min: Duration,
    /// See `election_min`.
    pub election_max: Duration,
}

impl Default for RaftTiming {
    /// For a LAN: heartbeats every 50 ms, elections after 200-400 ms of
    /// silence once the leader's 400 ms lease is over (a new leader in
    /// under a second after a crash).
    fn default() -> Self {
        RaftTiming {
            heartbeat: Duration::from_millis(50),
            election_min: Duration::from_millis(200),
            election_max: Duration::from_millis(400),
        }
    }
}
// ANCHOR_END: timing

// ANCHOR: config
/// Everything a server of a cluster needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Its Raft id: unique in the cluster, for life.
    pub node_id: NodeId,
    /// Where its two logs live.
    pub data_dir: PathBuf,
    /// `host:port` where clients and peers reach its gRPC port.
    pub rpc_addr: String,
    /// Gossip (its `node_id` and `rpc_addr` are this node's, set by `start`).
    pub gossip: MembershipConfig,
    /// Whether this node forms a new cluster (the first node, once).
    pub bootstrap: bool,
    /// Form a new cluster once this many servers (this one included) are
    /// in gossip: the one with the lowest id forms it with all of them (see
    /// [`bootstrap`](crate::bootstrap)). For servers started alike, as the
    /// pods of a StatefulSet are.
    pub bootstrap_expect: Option<usize>,
    /// Raft's heartbeat and election timing.
    pub timing: RaftTiming,
    /// The Log service's limits (chapter 2).
    pub service: ServiceConfig,
    /// The Raft log's segments (its sync policy is always `Always`).
    pub raft_log: chapter_01::Config,
    /// The records' segments and their sync policy.
    pub records: chapter_01::Config,
    /// How long a produce waits for its records to be committed.
    pub write_timeout: Duration,
    /// Make a snapshot every this many Raft entries.
    pub snapshot_every: u64,
    /// Keep this many entries behind a snapshot (for followers a little
    /// behind, which then need no snapshot).
    pub keep_after_snapshot: u64,
    /// The TLS client configuration with the peer certificate, for calling
    /// the other servers (`None`: plaintext, for a server run without TLS).
    pub peer_tls: Option<Arc<rustls::ClientConfig>>,
}
// ANCHOR_END: config

// ANCHOR: new
impl NodeConfig {
    /// A node with the defaults, in `data_dir`, reachable at `rpc_addr`.
    pub fn new(
        node_id: NodeId,
        data_dir: impl Into<PathBuf>,
        rpc_addr: impl Into<String>,
        gossip: MembershipConfig,
        peer_tls: impl Into<Option<Arc<rustls::ClientConfig>>>,
    ) -> NodeConfig {
        NodeConfig {
            node_id,
            data_dir: data_dir.into(),
            rpc_addr: rpc_addr.into(),
            gossip,
            bootstrap: false,
            bootstrap_expect: None,
            timing: RaftTiming::default(),
            service: ServiceConfig::default(),
            raft_log: chapter_01::Config {
                sync: SyncPolicy::Always,
                ..chapter_01::Config::default()
            },
            records: chapter_01::Config::default(),
            write_timeout: Duration::from_secs(5),
            snapshot_every: 10_000,
            keep_after_snapshot: 1_000,
            peer_tls: peer_tls.into(),
        }
    }
    // ANCHOR_END: new

    // ANCHOR: validate
    /// The most bytes one Raft entry can take: a batch of records (chapter
    /// 2's batch limits, plus the record that crosses the byte limit), each
    /// with its producer and length, and the entry's own header.
    pub fn max_entry_bytes(&self) -> u64 {
        const PER_RECORD: u64 = 32; // value length, producer id and sequence, as varints
        const PER_ENTRY: u64 = 64; // log id, payload kind, record count
        let service = &self.service;
        (service.max_batch_bytes + service.max_record_bytes) as u64
            + (service.max_batch_records as u64 + 1) * PER_RECORD
            + PER_ENTRY
    }

    /// Refuses settings that cannot work: an entry larger than the Raft
    /// log's segments would fail to append when it came, and a failed
    /// append stops Raft.
    fn validate(&self) -> Result<()> {
        let segment_holds = self
            .raft_log
            .max_store_bytes
            .saturating_sub(chapter_01::FRAME_OVERHEAD);
        if self.max_entry_bytes() > segment_holds {
            return Err(Error::InvalidConfig(format!(
                "a Raft entry may take {} bytes (the service's batch and record limits), but the Raft log's segments hold values of at most {segment_holds} bytes",
                self.max_entry_bytes()
            )));
        }
        Ok(())
    }
    // ANCHOR_END: validate

    // ANCHOR: raft_config
    fn raft_config(&self) -> Result<Arc<openraft::Config>> {
        let millis = |duration: Duration| duration.as_millis() as u64;
        let config = openraft::Config {
            cluster_name: self.gossip.cluster_id.clone(),
            heartbeat_interval: millis(self.timing.heartbeat),
            election_timeout_min: millis(self.timing.election_min),
            election_timeout_max: millis(self.timing.election_max),
            install_snapshot_timeout: 30_000,
            snapshot_max_chunk_size: 1 << 20,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.keep_after_snapshot,
            ..openraft::Config::default()
        };
        Ok(Arc::new(config.validate().map_err(|error| {
            Error::InvalidConfig(format!("Raft timing: {error}"))
        })?))
    }
}
// ANCHOR_END: raft_config

// ANCHOR: routes
/// The ACL routes of a cluster server: the Log service's, and the Raft
/// service's methods for the `replicate` action.
pub fn routes() -> Routes {
    Routes::log().service(
        "raft.v1.Raft",
        &[
            ("AppendEntries", REPLICATE),
            ("Vote", REPLICATE),
            ("InstallSnapshot", REPLICATE),
            ("Identify", REPLICATE),
        ],
    )
}
// ANCHOR_END: routes

// ANCHOR: cluster_node
/// A running server of a cluster.
pub struct ClusterNode {
    id: NodeId,
    raft: Raft,
    log_store: LogStore,
    machine: StateMachine,
    service: ReplicatedLog,
    raft_service: RaftService,
    /// Gossip, until the node leaves or stops.
    membership: Mutex<Option<Membership>>,
    admission: JoinHandle<()>,
}
// ANCHOR_END: cluster_node

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ClusterNode {
    // ANCHOR: start
    // ANCHOR: start_a
    /// Opens the node's logs, starts Raft (forming a new cluster if
    /// `bootstrap` and it has never been part of one), starts gossip, and
    /// the admission loop. Serving is the caller's: [`ClusterNode::serve`],
    /// or the services composed into a server of its own (chapter 9).
    ///
    /// # Errors
    /// A setting that cannot work, a log that cannot open, a gossip port in
    /// use, or Raft refusing to start.
    pub async fn start(config: NodeConfig) -> Result<ClusterNode> {
        config.validate()?;
        let raft_config = config.raft_config()?;
        let raft_dir = config.data_dir.join("raft");
        let records_dir = config.data_dir.join("records");
        let raft_log = chapter_01::Config {
            sync: SyncPolicy::Always,
            ..config.raft_log.clone()
        };
        let (log_store, machine) = {
            let (raft_dir, records_dir, records) = (
                raft_dir.clone(),
                records_dir.clone(),
                config.records.clone(),
            );
            tokio::task::spawn_blocking(move || -> Result<_> {
                Ok((
                    LogStore::open(&raft_dir, raft_log)?,
                    StateMachine::open(&records_dir, records)?,
                ))
            })
            .await
            .map_err(|error| Error::Raft(format!("opening the logs failed: {error}")))??
        };
        // ANCHOR_END: start_a
        // ANCHOR: start_b
        let raft = Raft::new(
            config.node_id,
            raft_config,
            Network::new(config.peer_tls.clone()),
            log_store.clone(),
            machine.clone(),
        )
        .await
        .map_err(|error| Error::Raft(error.to_string()))?;
        let me = Node {
            rpc_addr: config.rpc_addr.clone(),
        };
        if config.bootstrap && !is_initialized(&raft).await? {
            raft.initialize(BTreeMap::from([(config.node_id, me)]))
                .await
                .map_err(|error| Error::Raft(format!("forming the cluster: {error}")))?;
        }
        // ANCHOR_END: start_b

        // ANCHOR: start_c
        let reads = LogService::new(Arc::clone(machine.log()), config.service.clone())?;
        let service = ReplicatedLog::new(raft.clone(), config.node_id, reads, config.write_timeout);
        let cluster_id = config.gossip.cluster_id.clone();
        let raft_service = RaftService::new(raft.clone(), config.node_id, cluster_id.clone());

        let mut gossip = config.gossip.clone();
        gossip.node_id = config.node_id.to_string();
        gossip.rpc_addr = config.rpc_addr.clone();
        let membership = Membership::start(gossip).await?;
        check_id_is_free(&membership, &config).await?;
        tokio::spawn(keep_gossip_addrs(
            Arc::clone(service.gossip_addrs()),
            config.node_id,
            membership.local().gossip_addr.to_string(),
            membership.subscribe(),
        ));
        // ANCHOR_END: start_c
        // ANCHOR: start_d
        if let Some(expect) = config.bootstrap_expect {
            tokio::spawn(crate::bootstrap::form_when_complete(
                raft.clone(),
                config.node_id,
                config.rpc_addr.clone(),
                expect,
                cluster_id.clone(),
                config.peer_tls.clone(),
                membership.subscribe(),
            ));
        }
        let admission = Admission::new(
            raft.clone(),
            config.node_id,
            cluster_id,
            config.peer_tls.clone(),
        );
        let admission = tokio::spawn(admission.run(membership.subscribe()));
        Ok(ClusterNode {
            id: config.node_id,
            raft,
            log_store,
            machine,
            service,
            raft_service,
            membership: Mutex::new(Some(membership)),
            admission,
        })
    }
    // ANCHOR_END: start_d
    // ANCHOR_END: start

    /// The node's Raft id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The node's Raft.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The records clients read (the state machine's log).
    pub fn records(&self) -> &Arc<FollowableLog<Arc<Log>>> {
        self.machine.log()
    }

    /// The Raft log.
    pub fn raft_log(&self) -> &Log {
        self.log_store.log()
    }

    /// The last entry the state machine applied.
    pub async fn last_applied(&self) -> Option<crate::types::LogId> {
        self.machine.last_applied().await
    }

    /// The replicated Log service (to compose into a server).
    pub fn service(&self) -> &ReplicatedLog {
        &self.service
    }

    /// The Raft service (to compose into a server).
    pub fn raft_service(&self) -> &RaftService {
        &self.raft_service
    }

    // ANCHOR: serve
    // ANCHOR: serve_a
    /// Serves both services on `listener` over mutual TLS, with chapter 5's
    /// log line and metrics for every call, and the ACL of [`routes`] in
    /// front, until `shutdown` completes; then ends the open
    /// streams and finishes the calls in flight (for at most the service's
    /// drain timeout).
    ///
    /// # Errors
    /// A transport error if serving fails.
    pub async fn serve<A: Authorizer>(
        &self,
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
        authorizer: Arc<A>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        let router = Server::builder()
            .max_concurrent_streams(Some(self.service.config().max_concurrent_streams))
            .layer(chapter_05::observability::RpcObservabilityLayer)
            .layer(AuthorizationLayer::with_routes(authorizer, routes()))
            .layer(chapter_02::status::CodecErrorLayer)
            .add_service(self.service.clone().into_server())
            .add_service(self.raft_service.clone().into_server());
        // ANCHOR_END: serve_a
        // ANCHOR: serve_b
        let incoming = chapter_03::tls_incoming(listener, tls);
        let (drain_now, drain) = tokio::sync::oneshot::channel::<()>();
        let server = router.serve_with_incoming_shutdown(incoming, async {
            let _ = drain.await;
        });
        tokio::pin!(server);
        tokio::select! {
            served = &mut server => served.map_err(chapter_02::Error::from)?,
            () = shutdown => {
                self.service.stop_streams();
                let _ = drain_now.send(());
                let drain_timeout = self.service.config().drain_timeout;
                if let Ok(served) = tokio::time::timeout(drain_timeout, &mut server).await {
                    served.map_err(chapter_02::Error::from)?;
                }
            }
        }
        Ok(())
    }
    // ANCHOR_END: serve_b
    // ANCHOR_END: serve

    // ANCHOR: stop
    // ANCHOR: leave
    /// Leaves the cluster for good: if this node leads, it first removes
    /// itself from the voters (another leader is elected); then it tells
    /// gossip it is leaving, so that the leader removes it, and stops.
    ///
    /// # Errors
    /// If Raft cannot remove it (it then stays a voter: remove it later).
    pub async fn leave(self) -> Result<()> {
        if self.raft.metrics().borrow().current_leader == Some(self.id) {
            self.remove_myself().await?;
        }
        if let Some(membership) = self.membership.lock().await.take() {
            membership.leave().await?;
        }
        self.stop().await;
        Ok(())
    }
    // ANCHOR_END: leave

    // ANCHOR: remove_myself
    /// Removes this leader from the voters. A membership change may be
    /// under way (admission's, say): Raft allows one at a time, so this
    /// waits its turn, for up to [`LEAVE_TIMEOUT`].
    async fn remove_myself(&self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + LEAVE_TIMEOUT;
        loop {
            let change =
                openraft::ChangeMembers::RemoveVoters(std::collections::BTreeSet::from([self.id]));
            let error = match self.raft.change_membership(change, false).await {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            let busy = matches!(
                &error,
                openraft::error::RaftError::APIError(
                    openraft::error::ClientWriteError::ChangeMembershipError(
                        openraft::error::ChangeMembershipError::InProgress(_)
                    )
                )
            );
            if !busy || tokio::time::Instant::now() >= deadline {
                return Err(Error::Raft(format!(
                    "removing this leader from the voters: {error}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // ANCHOR_END: remove_myself

    // ANCHOR: stop_only
    /// Stops the node without leaving the cluster (it is still a voter: a
    /// restart, or an operator, decides what happens next). Gossip stops at
    /// once, so the others see it fail.
    pub async fn stop(self) {
        self.admission.abort();
        drop(self.membership.lock().await.take());
        if let Err(error) = self.raft.shutdown().await {
            tracing::warn!(%error, "Raft did not shut down cleanly");
        }
    }
    // ANCHOR_END: stop_only
    // ANCHOR_END: stop
}

/// Keeps `addrs` (what `GetServers` reports) up to date with gossip:
/// each server's gossip address, this one's included, until gossip stops.
async fn keep_gossip_addrs(
    addrs: crate::service::GossipAddrs,
    me: NodeId,
    mine: String,
    mut events: chapter_06::Subscription,
) {
    let set = |id: NodeId, addr: String| {
        addrs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, addr);
    };
    set(me, mine);
    while let Some(event) = events.recv().await {
        if let chapter_06::MembershipEvent::Joined(member)
        | chapter_06::MembershipEvent::Updated(member) = event
            && let Ok(id) = member.id.parse::<NodeId>()
        {
            set(id, member.gossip_addr.to_string());
        }
    }
}

// ANCHOR: check_id_is_free
/// Refuses to start a server whose id another live server already has (at
/// another address): two servers with one id would corrupt the cluster's
/// membership. Gossip is asked for up to [`ID_CHECK_TIME`] for another
/// member to show up first (a first server, alone, has no one to ask).
async fn check_id_is_free(membership: &Membership, config: &NodeConfig) -> Result<()> {
    if config.gossip.seeds.is_empty() {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + ID_CHECK_TIME;
    loop {
        if let Some(twin) = membership.twins().await.first() {
            return Err(Error::InvalidConfig(format!(
                "node id {} is already taken by the server at {} (gossip {}): give this server another --node-id",
                config.node_id, twin.rpc_addr, twin.gossip_addr
            )));
        }
        // Once others are heard from, their view of the cluster has arrived.
        if membership.members().len() > 1
            && tokio::time::Instant::now() + ID_CHECK_TIME / 2 >= deadline
            || tokio::time::Instant::now() >= deadline
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
// ANCHOR_END: check_id_is_free

async fn is_initialized(raft: &Raft) -> Result<bool> {
    raft.is_initialized()
        .await
        .map_err(|error| Error::Raft(error.to_string()))
}
