//! A member of the cluster: it starts gossip (chitchat) on a UDP socket,
//! publishes its gRPC address and tags, turns each round's picture of the
//! live members into events for subscribers, and leaves gracefully, or
//! stops abruptly when dropped.
//!
//! Packets that are not gossip (garbage from a stranger, a scanner, a
//! confused client) are chitchat's to drop: it logs each one at WARN
//! (`invalid-chitchat-payload`, with the sender's address) and carries on.
//! A well-formed packet for another cluster id is answered "bad cluster" and
//! changes nothing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chitchat::transport::UdpTransport;
use chitchat::{
    ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig, NodeState, ProtocolVersion,
    spawn_chitchat,
};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::address::HostPort;
use crate::config::{MembershipConfig, check_tag_key};
use crate::error::{Error, Result};
use crate::event::MembershipEvent;
use crate::member::{LEAVING, Member, RPC_ADDR_KEY, STATUS_KEY, TAG_PREFIX, observe};
use crate::seeds::{SeedName, resolve_seeds};
use crate::subscription::{Numbered, Subscription, lock};
use crate::view::View;

/// How many gossip rounds `leave` waits after publishing that it is
/// leaving. In one round a member sends its news to up to three others, and
/// each passes it on in its next round.
const LEAVE_ROUNDS: u32 = 2;

/// This process's membership of the cluster.
///
/// Dropping it without [`leave`](Membership::leave) stops gossip at once:
/// to the others, that is a crash, and they report the member `Failed`.
// ANCHOR: membership
pub struct Membership {
    /// This member, as it publishes itself.
    local: Member,
    /// How often gossip runs (for `leave`).
    gossip_interval: Duration,
    /// chitchat's gossip task.
    chitchat: Arc<ChitchatHandle>,
    /// The other live members, as the event task last saw them.
    view: Arc<Mutex<View>>,
    /// Where the event task publishes; subscribers subscribe here.
    events: broadcast::Sender<Numbered>,
    /// The event task, and the seed resolver if there is one.
    tasks: Vec<JoinHandle<()>>,
}
// ANCHOR_END: membership

impl Membership {
    /// Binds the gossip socket and starts gossip: joining the seeds, if any,
    /// publishing this member, and watching the others.
    ///
    /// Seeds given by IP address are gossiped with until they answer. Seeds
    /// given by DNS name are resolved now and again every
    /// `seed_resolve_interval`; one that does not resolve is logged and
    /// retried, not an error.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a setting that makes no sense (see
    /// [`MembershipConfig::validate`]), [`Error::Bind`] when the gossip
    /// address cannot be bound (for example, the port is in use).
    // ANCHOR: start
    pub async fn start(config: MembershipConfig) -> Result<Membership> {
        config.validate()?;
        let advertised = config.advertised_gossip_addr();
        let local = Member {
            id: config.node_id.clone(),
            generation: generation_now(),
            gossip_addr: advertised,
            rpc_addr: config.rpc_addr.clone(),
            tags: config.tags.clone(),
        };
        let (addresses, names) = split_seeds(&config.seeds)?;
        let chitchat = spawn_chitchat(
            chitchat_config(&config, &local, addresses),
            local.published(),
            &UdpTransport,
        )
        .await
        .map_err(|error| bind_error(config.gossip_addr, &error))?;
        // ANCHOR_END: start
        // ANCHOR: start_tasks
        let live = chitchat
            .with_chitchat(|chitchat| chitchat.live_nodes_watcher())
            .await;
        let chitchat = Arc::new(chitchat);
        let view = Arc::new(Mutex::new(View::default()));
        let (events, _) = broadcast::channel(config.event_buffer);
        let mut tasks = vec![tokio::spawn(publish_events(
            live,
            local.id.clone(),
            config.dead_node_grace_period,
            Arc::clone(&view),
            events.clone(),
        ))];
        if !names.is_empty() {
            tasks.push(tokio::spawn(resolve_seeds(
                names,
                advertised,
                config.seed_resolve_interval,
                Arc::clone(&chitchat),
                Arc::clone(&view),
            )));
        }
        tracing::info!(id = %local.id, generation = local.generation, gossip_addr = %advertised,
            rpc_addr = %local.rpc_addr, seeds = ?config.seeds, "membership started");
        Ok(Membership {
            local,
            gossip_interval: config.gossip_interval,
            chitchat,
            view,
            events,
            tasks,
        })
    }
    // ANCHOR_END: start_tasks

    /// This member, as it publishes itself.
    pub fn local(&self) -> &Member {
        &self.local
    }

    /// Other live members that claim this member's id, at other
    /// addresses: another process started with the same id by mistake.
    /// (The member list hides them: it is keyed by id.) A server checks
    /// this when it starts, and refuses to go on.
    pub async fn twins(&self) -> Vec<Member> {
        let local = self.local.clone();
        self.chitchat
            .with_chitchat(move |chitchat| {
                chitchat
                    .live_nodes()
                    .filter(|id| {
                        *id.node_id == local.id && id.gossip_advertise_addr != local.gossip_addr
                    })
                    .filter_map(|id| crate::member::read_back(id, chitchat.node_state(id)?))
                    .map(|observed| observed.member)
                    .filter(|member| member.rpc_addr != local.rpc_addr)
                    .collect()
            })
            .await
    }

    /// The live members, this one included, in id order.
    ///
    /// Every member but this one is what gossip claims: a hint (see [`Member`]).
    // ANCHOR: members
    pub fn members(&self) -> Vec<Member> {
        let view = lock(&self.view);
        let mut members: Vec<Member> = view.live().cloned().collect();
        members.push(self.local.clone());
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members
    }
    // ANCHOR_END: members

    /// Events about the other members: a `Joined` for each member live now,
    /// then every change (see [`Subscription`]).
    pub fn subscribe(&self) -> Subscription {
        Subscription::new(&self.view, &self.events)
    }

    /// Publishes a tag (or changes it). The others see a
    /// [`MembershipEvent::Updated`] within a few gossip rounds.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] if `key` is empty or has spaces or control
    /// characters.
    // ANCHOR: set_tag
    pub async fn set_tag(&mut self, key: &str, value: &str) -> Result<()> {
        check_tag_key(key)?;
        let tag = format!("{TAG_PREFIX}{key}");
        self.chitchat
            .with_chitchat(|chitchat| chitchat.self_node_state().set(&tag, value))
            .await;
        self.local.tags.insert(key.to_string(), value.to_string());
        Ok(())
    }
    // ANCHOR_END: set_tag

    /// Leaves the cluster gracefully: publishes `status = leaving`, gossips
    /// for two more rounds so that the others hear it, then stops. The
    /// others report this member `Left`, not `Failed`.
    ///
    /// # Errors
    /// [`Error::Gossip`] if gossip had already stopped on its own (its
    /// socket failed), so that nobody could be told.
    // ANCHOR: leave
    pub async fn leave(self) -> Result<()> {
        tracing::info!(id = %self.local.id, "leaving the cluster");
        self.chitchat
            .with_chitchat(|chitchat| chitchat.self_node_state().set(STATUS_KEY, LEAVING))
            .await;
        tokio::time::sleep(self.gossip_interval * LEAVE_ROUNDS).await;
        self.chitchat
            .initiate_shutdown()
            .map_err(|error| Error::Gossip(format!("{error:#}")))?;
        self.chitchat
            .termination_watcher()
            .await
            .map_err(|error| Error::Gossip(format!("{error:#}")))
        // Dropping `self` now stops the event task: subscribers get `None`.
    }
    // ANCHOR_END: leave
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("local", &self.local)
            .field("gossip_interval", &self.gossip_interval)
            .finish_non_exhaustive()
    }
}

// ANCHOR: drop
impl Drop for Membership {
    /// An abrupt stop: gossip stops at the next turn of its loop, the socket
    /// closes, and the others find this member dead by silence.
    fn drop(&mut self) {
        let _ = self.chitchat.initiate_shutdown();
        for task in &self.tasks {
            task.abort();
        }
    }
}
// ANCHOR_END: drop

/// Translates our settings into chitchat's.
// ANCHOR: chitchat_config
fn chitchat_config(
    config: &MembershipConfig,
    local: &Member,
    seed_addrs: Vec<String>,
) -> ChitchatConfig {
    ChitchatConfig {
        chitchat_id: ChitchatId::new(local.id.clone(), local.generation, local.gossip_addr),
        cluster_id: config.cluster_id.clone(),
        gossip_interval: config.gossip_interval,
        listen_addr: config.gossip_addr,
        seed_nodes: seed_addrs,
        failure_detector_config: FailureDetectorConfig {
            phi_threshold: config.phi_threshold,
            // Before it has measured anything, the detector assumes news of a
            // member arrives this often. chitchat's default is 5 s, which
            // would make a member that dies soon after joining take 40 s to
            // be found dead; a gossip interval is the honest guess.
            initial_interval: config.gossip_interval,
            dead_node_grace_period: config.dead_node_grace_period,
            ..FailureDetectorConfig::default()
        },
        marked_for_deletion_grace_period: config.marked_for_deletion_grace_period,
        catchup_callback: None,
        // Not live until its gRPC address has arrived: a member nobody can
        // dial is of no use to a subscriber.
        extra_liveness_predicate: Some(Box::new(|state: &NodeState| {
            state.contains_key(RPC_ADDR_KEY)
        })),
        // Every member runs this code, so all can read the compressed digest.
        protocol_version: ProtocolVersion::V1,
    }
}
// ANCHOR_END: chitchat_config

/// The event task: after every gossip round that changed the set of live
/// members or what one publishes, works out the events and publishes them,
/// numbered, under the view's lock (see [`Subscription::new`] for why).
// ANCHOR: publish_events
async fn publish_events(
    mut live: watch::Receiver<BTreeMap<ChitchatId, NodeState>>,
    self_id: String,
    forget_after: Duration,
    view: Arc<Mutex<View>>,
    events: broadcast::Sender<Numbered>,
) {
    while live.changed().await.is_ok() {
        let picture = observe(&live.borrow_and_update(), &self_id);
        let mut view = lock(&view);
        view.forget_departed(forget_after);
        for event in view.apply(picture) {
            log(&event);
            let seq = view.next_seq();
            // An error only means nobody is subscribed right now.
            let _ = events.send((seq, event));
        }
    }
}
// ANCHOR_END: publish_events

/// One line per event in the log.
fn log(event: &MembershipEvent) {
    let (what, member) = match event {
        MembershipEvent::Joined(member) => ("member joined", member),
        MembershipEvent::Updated(member) => ("member updated", member),
        MembershipEvent::Left(member) => ("member left", member),
        MembershipEvent::Failed(member) => ("member failed", member),
    };
    tracing::info!(id = %member.id, generation = member.generation, gossip_addr = %member.gossip_addr,
        rpc_addr = %member.rpc_addr, "{what}");
}

/// Seeds by IP address (for chitchat) and by DNS name (for our resolver).
fn split_seeds(seeds: &[String]) -> Result<(Vec<String>, Vec<SeedName>)> {
    let mut addresses = Vec::new();
    let mut names = Vec::new();
    for (i, seed) in seeds.iter().enumerate() {
        match HostPort::parse(seed)
            .map_err(|reason| Error::setting(format!("seeds[{i}]"), reason))?
        {
            HostPort::Addr(addr) => addresses.push(addr.to_string()),
            HostPort::Name { host, port } => names.push((host, port)),
        }
    }
    Ok((addresses, names))
}

/// chitchat's start fails only when its socket cannot be bound; say which
/// address, with the operating system's reason.
fn bind_error(addr: SocketAddr, error: &anyhow::Error) -> Error {
    match error
        .chain()
        .find_map(|cause| cause.downcast_ref::<std::io::Error>())
    {
        Some(io) => Error::Bind {
            addr,
            source: std::io::Error::new(io.kind(), io.to_string()),
        },
        None => Error::Gossip(format!("{error:#}")),
    }
}

/// This run's generation: the time it started, in microseconds since the
/// Unix epoch, so that a restart has a larger one.
fn generation_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}
