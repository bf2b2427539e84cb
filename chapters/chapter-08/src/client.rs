//! [`Client`]: a client of the whole cluster, for any Rust program (and
//! chapter 9's `proglog` commands).

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use chapter_02::api::v1::{ConsumeRequest, ProduceRequest, Record, Server};
use tonic::{Code, Status};

use crate::config::ClientConfig;
use crate::error::{Error, Result};
use chapter_07::status::reason_of;

use crate::deadline::within;
use crate::retry::{Attempts, Next, next_after, no_leader_known};
use crate::servers::{Pick, Servers};

// ANCHOR: client
/// A client of a cluster. Cheap to clone: clones share the servers, the
/// connections, and the producer id.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) servers: Arc<Servers>,
    /// This client's producer id: a random number, fixed for its life.
    producer_id: u64,
    /// The sequence number of its next record.
    next_sequence: Arc<AtomicU64>,
}
// ANCHOR_END: client

impl Client {
    // ANCHOR: connect
    /// Connects to the cluster `config.seeds` belong to: asks for the list
    /// of servers, and keeps asking every `refresh_every`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`], or [`Error::NoServer`] if no seed answers.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        config.validate()?;
        let config = Arc::new(config);
        let servers = Arc::new(Servers::new(Arc::clone(&config)));
        servers.refresh().await?;
        tokio::spawn(refresh_on_a_timer(
            Arc::downgrade(&servers),
            config.refresh_every,
        ));
        Ok(Client {
            config,
            servers,
            producer_id: random_producer_id(),
            next_sequence: Arc::new(AtomicU64::new(1)),
        })
    }
    // ANCHOR_END: connect

    /// The servers, as the client last heard.
    pub fn servers(&self) -> Vec<Server> {
        self.servers.list()
    }

    /// Asks for the servers now.
    ///
    /// # Errors
    /// [`Error::NoServer`] if none answers.
    pub async fn refresh(&self) -> Result<Vec<Server>> {
        self.servers.refresh().await?;
        Ok(self.servers.list())
    }

    /// The producer id every record of this client carries.
    pub fn producer_id(&self) -> u64 {
        self.producer_id
    }

    // ANCHOR: requests
    /// The sequence number of the next record.
    pub(crate) fn take_sequence(&self) -> u64 {
        self.next_sequence.fetch_add(1, Ordering::Relaxed)
    }

    /// A produce request for `value`, numbered `sequence`.
    pub(crate) fn request(&self, sequence: u64, value: Vec<u8>) -> ProduceRequest {
        ProduceRequest {
            record: Some(Record {
                value,
                ..Record::default()
            }),
            producer_id: self.producer_id,
            sequence,
        }
    }
    // ANCHOR_END: requests

    // ANCHOR: writer
    /// Where the next write goes ([`Servers::writer`]), asking for the list
    /// again if no leader is known.
    pub(crate) async fn writer(&self) -> Result<Option<Pick>> {
        if let Some(writer) = self.servers.writer() {
            return Ok(Some(writer));
        }
        self.servers
            .refresh_since(self.servers.generation())
            .await?;
        Ok(self.servers.writer())
    }
    // ANCHOR_END: writer

    /// After `pick` failed a call with `status`, a failure worth a retry:
    /// pass the server over if it did not answer, and ask for the list
    /// again (unless another call just did).
    pub(crate) async fn after_failure(&self, pick: &Pick, status: &Status) {
        self.after_failure_of(&pick.addr, pick.generation, status)
            .await;
    }

    // ANCHOR: after_failure
    /// As [`Client::after_failure`], for the server at `addr`, picked
    /// from the list of `generation`.
    pub(crate) async fn after_failure_of(&self, addr: &str, generation: u64, status: &Status) {
        // A server that answered with a reason (NO_LEADER, FATE_UNKNOWN) is
        // up: it may be the next leader. One that did not (the connection
        // failed, it is shutting down) is passed over for a while.
        if reason_of(status).is_none() {
            self.servers.pass_over(addr);
        }
        if let Err(error) = self.servers.refresh_since(generation).await {
            tracing::debug!(%error, "refreshing the servers failed");
        }
    }
    // ANCHOR_END: after_failure

    // ANCHOR: produce
    /// Appends `value` to the log: its offset, once the cluster has it
    /// committed. Sent to the leader (or, if it just failed, to another
    /// server, which leads by now or says who does); retried (with the same sequence
    /// number, so never appended twice) through failovers, redirects,
    /// broken connections and servers that do not answer within
    /// `attempt_timeout`, for as long as the retry policy allows.
    ///
    /// # Errors
    /// [`Error::Refused`] (the record is invalid, too large, not allowed),
    /// [`Error::GaveUp`], or [`Error::NoServer`].
    pub async fn produce(&self, value: impl Into<Vec<u8>>) -> Result<u64> {
        let request = self.request(self.take_sequence(), value.into());
        let mut attempts = Attempts::new(self.config.retry);
        loop {
            let Some(mut leader) = self.writer().await? else {
                attempts.failed(no_leader_known()).await?;
                continue;
            };
            // An attempt that runs out of time has an unknown fate: the
            // record may have been appended. The retry settles it, since it
            // carries the same producer id and sequence: a server that has
            // the record answers with its first offset.
            let limit = attempts.time_for_next(self.config.attempt_timeout);
            let status = match within(limit, leader.client.produce(request.clone())).await {
                Ok(response) => return Ok(response.into_inner().offset),
                Err(status) => status,
            };
            let failed = (leader.addr.as_str(), leader.generation);
            self.after_failed_write(status, Some(failed), &mut attempts)
                .await?;
        }
    }
    // ANCHOR_END: produce

    // ANCHOR: after_failed_write
    /// After a write failed with `status` on `failed` (its address, and the
    /// list's generation when it was picked): follow the leader it names;
    /// or pass the server over, ask for the list again and wait; or give
    /// up.
    ///
    /// # Errors
    /// [`Error::Refused`] if a retry would fail too; [`Error::GaveUp`].
    pub(crate) async fn after_failed_write(
        &self,
        status: Status,
        failed: Option<(&str, u64)>,
        attempts: &mut Attempts,
    ) -> Result<()> {
        tracing::debug!(server = ?failed.map(|(addr, _)| addr), code = ?status.code(), message = status.message(), "a write failed");
        match next_after(&status) {
            Next::Redirect(addr) if !self.servers.is_passed_over(&addr) => {
                self.servers.leader_is(&addr)?;
                attempts.redirected(status)
            }
            // The leader it names has just failed: the hint is stale (an
            // election is under way). Wait, and ask again.
            Next::Redirect(_) => attempts.failed(status).await,
            Next::Retry => {
                if let Some((addr, generation)) = failed {
                    self.after_failure_of(addr, generation, &status).await;
                }
                attempts.failed(status).await
            }
            Next::Fail => Err(Error::Refused(status)),
        }
    }
    // ANCHOR_END: after_failed_write

    // ANCHOR: consume
    // ANCHOR: consume_a
    /// The record at `offset`, read from a follower (round robin). A
    /// follower a little behind may not have it yet: then the leader,
    /// which has every acknowledged record, is asked before the client
    /// says it is out of range. So a client reads its own writes.
    ///
    /// # Errors
    /// [`Error::Refused`] (OUT_OF_RANGE: no such record), [`Error::GaveUp`],
    /// or [`Error::NoServer`].
    pub async fn consume(&self, offset: u64) -> Result<Record> {
        let request = ConsumeRequest { offset };
        let mut attempts = Attempts::new(self.config.retry);
        loop {
            let Some(mut reader) = self.servers.reader() else {
                self.servers.refresh().await?;
                attempts
                    .failed(Status::unavailable("no server is known"))
                    .await?;
                continue;
            };
            let limit = attempts.time_for_next(self.config.attempt_timeout);
            let status = match within(limit, reader.client.consume(request)).await {
                Ok(response) => return record_of(response.into_inner().record),
                Err(status) => status,
            };
            // ANCHOR_END: consume_a
            // ANCHOR: consume_b
            let (failed, status) = if status.code() == Code::OutOfRange && !reader.is_leader {
                let Some(mut leader) = self.servers.leader() else {
                    // No leader to ask (an election): the follower's
                    // answer proves nothing yet. Ask for the list, and again.
                    if let Err(error) = self.servers.refresh_since(reader.generation).await {
                        tracing::debug!(%error, "refreshing the servers failed");
                    }
                    attempts.failed(no_leader_known()).await?;
                    continue;
                };
                let limit = attempts.time_for_next(self.config.attempt_timeout);
                match within(limit, leader.client.consume(request)).await {
                    Ok(response) => return record_of(response.into_inner().record),
                    Err(status) if status.code() == Code::OutOfRange => {
                        return Err(Error::Refused(status));
                    }
                    // The leader could not be asked (cut off, down): still
                    // no proof. Retry, as after any failure of the leader.
                    Err(status) => (leader, status),
                }
            } else {
                (reader, status)
            };
            match next_after(&status) {
                Next::Retry | Next::Redirect(_) => {
                    self.after_failure(&failed, &status).await;
                    attempts.failed(status).await?;
                }
                Next::Fail => return Err(Error::Refused(status)),
            }
        }
    }
    // ANCHOR_END: consume_b
    // ANCHOR_END: consume
}

/// The record of a response that must have one.
pub(crate) fn record_of(record: Option<Record>) -> Result<Record> {
    record.ok_or_else(|| Error::Refused(Status::internal("the server answered without a record")))
}

// ANCHOR: timer
/// Asks for the list of servers every `every`, until the client is gone.
async fn refresh_on_a_timer(servers: Weak<Servers>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await; // the first tick is now: connect just asked
    loop {
        ticks.tick().await;
        let Some(servers) = servers.upgrade() else {
            return;
        };
        if let Err(error) = servers.refresh().await {
            tracing::warn!(%error, "could not refresh the list of servers");
        }
    }
}
// ANCHOR_END: timer

// ANCHOR: producer_id
/// A random, non-zero producer id (zero means "no producer").
fn random_producer_id() -> u64 {
    // std's RandomState is seeded from the operating system's randomness.
    let id = RandomState::new().hash_one(std::process::id());
    id.max(1)
}
// ANCHOR_END: producer_id
