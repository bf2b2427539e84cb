//! The cluster as the client sees it, and which server each call goes to.
//!
//! The Go book adds two pieces to grpc-go for this: a *resolver*, which
//! asks a server for the list of servers (`GetServers`), and a *picker*,
//! which sends produces to the leader and spreads consumes over the
//! followers. Here both are this one small type:
//!
//! ```text
//!   refresh():  ask the known servers, then the seeds, for GetServers;
//!               the first answer becomes the list (every 5 s, and after
//!               a failure)
//!
//!   list:       node 1  127.0.0.1:8401  leader     ── leader():  produces
//!               node 2  127.0.0.1:8402             ─┐
//!               node 3  127.0.0.1:8403             ─┴ reader(): consumes, round robin
//!                                                     (the leader only if no follower
//!                                                      is up; a server that just failed
//!                                                      is passed over for a while)
//! ```
//!
//! Each server has one channel (tonic's HTTP/2 connection, which connects
//! when first used and again after it breaks, and pings its server so
//! that one cut off by the network is noticed), kept from one refresh to
//! the next, so that every call to a server shares one connection.
//! tonic's own balancer (`Channel::balance_channel`) spreads calls over a
//! set of endpoints, but for every method alike (power of two choices by
//! load, and tonic's connections report no load: in effect at random),
//! and without saying where a call went; a produce must go to one server, and a
//! stream that breaks must know which server to pass over. So the choice
//! is ours, and it is a few lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chapter_02::api::v1::log_client::LogClient;
use chapter_02::api::v1::{GetServersRequest, Server};
use tonic::Code;
use tonic::transport::Channel;

use crate::config::ClientConfig;
use crate::error::{Error, Result};

// ANCHOR: servers
/// The servers of the cluster, as last heard, with a channel to each.
#[derive(Debug)]
pub struct Servers {
    config: Arc<ClientConfig>,
    known: RwLock<Known>,
    /// One refresh at a time: the others wait for its result.
    refreshing: tokio::sync::Mutex<()>,
    /// Counts refreshes, so that a caller can tell whether the list changed
    /// since it picked a server.
    generation: AtomicU64,
}

#[derive(Debug, Default)]
struct Known {
    servers: Vec<Known1>,
    /// Where the next read goes (round robin).
    next_read: usize,
}

/// One server.
#[derive(Debug, Clone)]
struct Known1 {
    server: Server,
    channel: Channel,
    /// Passed over for reads until then (it failed a call).
    passed_over_until: Option<Instant>,
}

/// The server a call goes to.
#[derive(Debug, Clone)]
pub struct Pick {
    /// Its gRPC address.
    pub addr: String,
    /// A client on its channel.
    pub client: LogClient<Channel>,
    /// Whether it leads.
    pub is_leader: bool,
    /// The list's generation when it was picked.
    pub generation: u64,
}
// ANCHOR_END: servers

impl Servers {
    /// No servers known yet: [`Servers::refresh`] finds them.
    pub fn new(config: Arc<ClientConfig>) -> Servers {
        Servers {
            config,
            known: RwLock::new(Known::default()),
            refreshing: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }

    fn known(&self) -> std::sync::RwLockReadGuard<'_, Known> {
        self.known
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn known_mut(&self) -> std::sync::RwLockWriteGuard<'_, Known> {
        self.known
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The list's generation now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The servers, as last heard.
    pub fn list(&self) -> Vec<Server> {
        self.known()
            .servers
            .iter()
            .map(|known| known.server.clone())
            .collect()
    }

    // ANCHOR: channel_to
    /// The channel to `addr`: the one already open, or a new one.
    fn channel_to(&self, addr: &str) -> Result<Channel> {
        if let Some(known) = self
            .known()
            .servers
            .iter()
            .find(|known| known.server.rpc_addr == addr)
        {
            return Ok(known.channel.clone());
        }
        let Some(tls) = &self.config.tls else {
            let endpoint = chapter_03::client::endpoint_to(addr)
                .map_err(|error| Error::InvalidConfig(format!("{addr:?}: {error}")))?;
            return Ok(endpoint
                .connect_timeout(self.config.connect_timeout)
                .connect_lazy());
        };
        let server_name = match &self.config.server_name {
            Some(name) => name.clone(),
            None => chapter_07::network::host_of(addr)
                .ok_or_else(|| Error::InvalidConfig(format!("{addr:?} is not host:port")))?
                .to_string(),
        };
        Ok(chapter_03::client::lazy_tls_channel(
            addr,
            Arc::clone(tls),
            &server_name,
            self.config.connect_timeout,
        )?)
    }
    // ANCHOR_END: channel_to

    // ANCHOR: refresh
    // ANCHOR: refresh_calls
    /// Asks for the list of servers: the known ones first (the leader
    /// first, those that just failed last), then the seeds; the first
    /// answer wins.
    ///
    /// # Errors
    /// [`Error::NoServer`] if none answers; [`Error::Refused`] if one
    /// answers that this client may not ask.
    pub async fn refresh(&self) -> Result<()> {
        let _one_at_a_time = self.refreshing.lock().await;
        self.refresh_now().await
    }

    /// Refreshes, unless the list changed since `generation` (another call
    /// refreshed meanwhile: its answer is as fresh).
    ///
    /// # Errors
    /// As [`Servers::refresh`].
    pub async fn refresh_since(&self, generation: u64) -> Result<()> {
        let _one_at_a_time = self.refreshing.lock().await;
        if self.generation() != generation {
            return Ok(());
        }
        self.refresh_now().await
    }
    // ANCHOR_END: refresh_calls

    // ANCHOR: candidates
    async fn refresh_now(&self) -> Result<()> {
        let mut candidates: Vec<String> = {
            let known = self.known();
            let now = Instant::now();
            let mut servers: Vec<&Known1> = known.servers.iter().collect();
            // Servers that just failed last, the leader first of the others.
            servers.sort_by_key(|known| {
                (
                    known.passed_over_until.is_some_and(|until| until > now),
                    !known.server.is_leader,
                )
            });
            servers
                .iter()
                .map(|known| known.server.rpc_addr.clone())
                .collect()
        };
        for seed in &self.config.seeds {
            if !candidates.contains(seed) {
                candidates.push(seed.clone());
            }
        }
        // ANCHOR_END: candidates
        // ANCHOR: ask
        let mut tried = Vec::new();
        let mut last = String::from("no address to try");
        // Not past an attempt's time either: one cut off never answers.
        let patience = (self.config.connect_timeout * 2).min(self.config.attempt_timeout);
        for addr in candidates {
            tried.push(addr.clone());
            let mut client = LogClient::new(self.channel_to(&addr)?);
            match tokio::time::timeout(patience, client.get_servers(GetServersRequest {})).await {
                Ok(Ok(response)) if !response.get_ref().servers.is_empty() => {
                    self.replace(response.into_inner().servers)?;
                    return Ok(());
                }
                Ok(Ok(_)) => last = format!("{addr} knows no servers yet"),
                // A single server that is not a cluster (chapter 5's): it
                // is the leader of itself.
                Ok(Err(status)) if status.code() == Code::Unimplemented => {
                    self.replace(vec![Server {
                        id: addr.clone(),
                        rpc_addr: addr.clone(),
                        is_leader: true,
                        ..Server::default()
                    }])?;
                    return Ok(());
                }
                // A server answered, and said no: so would the others.
                Ok(Err(status))
                    if matches!(
                        status.code(),
                        Code::PermissionDenied | Code::Unauthenticated
                    ) =>
                {
                    return Err(Error::Refused(status));
                }
                Ok(Err(status)) => last = format!("{addr}: {}", status.message()),
                Err(_) => last = format!("{addr}: no answer within {patience:?}"),
            }
        }
        Err(Error::NoServer { tried, last })
    }
    // ANCHOR_END: ask

    // ANCHOR: replace
    /// Makes `servers` the list, keeping the channels (and the marks) of the
    /// servers already known.
    fn replace(&self, servers: Vec<Server>) -> Result<()> {
        let mut fresh = Vec::with_capacity(servers.len());
        for server in servers {
            let channel = self.channel_to(&server.rpc_addr)?;
            let passed_over_until = self
                .known()
                .servers
                .iter()
                .find(|known| known.server.rpc_addr == server.rpc_addr)
                .and_then(|known| known.passed_over_until);
            fresh.push(Known1 {
                server,
                channel,
                passed_over_until,
            });
        }
        self.known_mut().servers = fresh;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
    // ANCHOR_END: replace
    // ANCHOR_END: refresh

    // ANCHOR: pick
    // ANCHOR: writer
    /// The leader, if one is known.
    pub fn leader(&self) -> Option<Pick> {
        let generation = self.generation();
        let known = self.known();
        let leader = known.servers.iter().find(|known| known.server.is_leader)?;
        Some(pick(leader, generation))
    }

    /// The server for the next write: the leader; but if it just failed
    /// (it died, or the network cut it off), the next server that is up,
    /// round robin, which either leads by now or says who does.
    pub fn writer(&self) -> Option<Pick> {
        let generation = self.generation();
        let now = Instant::now();
        let mut known = self.known_mut();
        let up = |candidate: &Known1| candidate.passed_over_until.is_none_or(|until| until <= now);
        if let Some(leader) = known
            .servers
            .iter()
            .find(|candidate| candidate.server.is_leader && up(candidate))
        {
            return Some(pick(leader, generation));
        }
        if !known
            .servers
            .iter()
            .any(|candidate| candidate.server.is_leader)
        {
            return None; // no leader known: the caller asks again
        }
        let count = known.servers.len();
        let start = known.next_read;
        let chosen = (0..count)
            .map(|step| (start + step) % count)
            .find(|&at| up(&known.servers[at]))?;
        known.next_read = chosen + 1;
        Some(pick(&known.servers[chosen], generation))
    }
    // ANCHOR_END: writer

    // ANCHOR: reader
    /// The server for the next read: the next follower that is up, round
    /// robin; the leader if no follower is; any server if none is up.
    pub fn reader(&self) -> Option<Pick> {
        let generation = self.generation();
        let now = Instant::now();
        let mut known = self.known_mut();
        let count = known.servers.len();
        let start = known.next_read;
        let up = |candidate: &Known1| candidate.passed_over_until.is_none_or(|until| until <= now);
        let chosen = (0..count)
            .map(|step| (start + step) % count)
            .find(|&at| !known.servers[at].server.is_leader && up(&known.servers[at]))
            .or_else(|| {
                known
                    .servers
                    .iter()
                    .position(|candidate| candidate.server.is_leader && up(candidate))
            })
            .or_else(|| (count > 0).then_some(start % count))?;
        known.next_read = chosen + 1;
        Some(pick(&known.servers[chosen], generation))
    }
    // ANCHOR_END: reader
    // ANCHOR_END: pick

    // ANCHOR: pass_over
    /// The server at `addr` failed a call: passed over for reads for a
    /// while.
    pub fn pass_over(&self, addr: &str) {
        let until = Instant::now() + self.config.pass_over_for;
        if let Some(known) = self
            .known_mut()
            .servers
            .iter_mut()
            .find(|known| known.server.rpc_addr == addr)
        {
            known.passed_over_until = Some(until);
        }
    }

    /// Whether the server at `addr` failed a call a moment ago.
    pub fn is_passed_over(&self, addr: &str) -> bool {
        let now = Instant::now();
        self.known().servers.iter().any(|known| {
            known.server.rpc_addr == addr
                && known.passed_over_until.is_some_and(|until| until > now)
        })
    }
    // ANCHOR_END: pass_over

    // ANCHOR: leader_is
    /// A server said the leader is at `addr`: believe it until the next
    /// refresh says otherwise.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `addr` is not `host:port`.
    pub fn leader_is(&self, addr: &str) -> Result<()> {
        let channel = self.channel_to(addr)?;
        let mut known = self.known_mut();
        for candidate in &mut known.servers {
            candidate.server.is_leader = candidate.server.rpc_addr == addr;
        }
        if !known
            .servers
            .iter()
            .any(|candidate| candidate.server.rpc_addr == addr)
        {
            known.servers.push(Known1 {
                server: Server {
                    rpc_addr: addr.to_string(),
                    is_leader: true,
                    ..Server::default()
                },
                channel,
                passed_over_until: None,
            });
        }
        Ok(())
    }
    // ANCHOR_END: leader_is
}

// ANCHOR: pick_fn
fn pick(known: &Known1, generation: u64) -> Pick {
    Pick {
        addr: known.server.rpc_addr.clone(),
        client: LogClient::new(known.channel.clone()),
        is_leader: known.server.is_leader,
        generation,
    }
}
// ANCHOR_END: pick_fn
