//! The Log service of a cluster: chapter 2's API, with produces replicated
//! through Raft and reads served from the state machine's log.
//!
//! - `Produce` and `ProduceStream` propose the records to Raft on the
//!   leader, and answer once they are committed (on a majority, durable
//!   there) and applied: the offset is the one the state machine gave. A
//!   server that does not lead answers NOT_LEADER without proposing
//!   anything (see [`status`](crate::status)).
//! - `Consume` and `ConsumeStream` work on every server, leader or not:
//!   they are chapter 2's own, over the state machine's log, which holds
//!   only applied (committed) records.
//! - `GetServers` lists the cluster's voters and which one leads.

use std::sync::Arc;
use std::time::Duration;

use chapter_01::Log;
use chapter_02::api::v1::log_server::{Log as LogRpc, LogServer};
use chapter_02::api::v1::{
    ConsumeRequest, ConsumeResponse, GetServersRequest, GetServersResponse, ProduceRequest,
    ProduceResponse, Server,
};
use chapter_02::service::ready_now;
use chapter_02::status::request_error;
use chapter_02::stream::{ResponseStream, StreamSender, response_stream};
use chapter_02::{LogService, ServiceConfig};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use openraft::error::{ClientWriteError as WriteError, RaftError};
use tokio::sync::watch;
use tonic::{Request, Response, Status, Streaming};

use crate::status::{
    NO_LEADER, NOT_LEADER, fate_unknown, leader_in, no_leader, not_leader, reason_of,
    sequence_too_old,
};
use crate::types::{Append, Applied, Node, NodeId, Outcome, Producer, Raft, Record};

// ANCHOR: max_in_flight
/// How many batches one `ProduceStream` may have proposed and not yet
/// answered: proposing the next while the last is replicated keeps the
/// pipeline full.
const MAX_IN_FLIGHT: usize = 8;
// ANCHOR_END: max_in_flight

// ANCHOR: service
/// The replicated Log service of one server. Cheap to clone.
#[derive(Clone)]
pub struct ReplicatedLog {
    raft: Raft,
    me: NodeId,
    /// Chapter 2's service over the state machine's log: it serves the
    /// reads, checks produce requests, and keeps the stream budgets.
    reads: LogService<Arc<Log>>,
    /// How long a produce waits for its records to be committed.
    write_timeout: Duration,
    /// Becomes `true` when the server shuts down, to end produce streams.
    stop: Arc<watch::Sender<bool>>,
    /// Every server's gossip address, as gossip last said (for GetServers).
    gossip_addrs: GossipAddrs,
}

/// Each server's gossip address, by node id: kept up to date from gossip
/// by the node, read by `GetServers`.
pub type GossipAddrs = Arc<std::sync::RwLock<std::collections::BTreeMap<NodeId, String>>>;
// ANCHOR_END: service

impl std::fmt::Debug for ReplicatedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicatedLog")
            .field("me", &self.me)
            .field("write_timeout", &self.write_timeout)
            .finish_non_exhaustive()
    }
}

impl ReplicatedLog {
    /// The service of node `me`, proposing to `raft` and reading through
    /// `reads` (over the state machine's log).
    pub fn new(
        raft: Raft,
        me: NodeId,
        reads: LogService<Arc<Log>>,
        write_timeout: Duration,
    ) -> ReplicatedLog {
        let (stop, _) = watch::channel(false);
        ReplicatedLog {
            raft,
            me,
            reads,
            write_timeout,
            stop: Arc::new(stop),
            gossip_addrs: GossipAddrs::default(),
        }
    }

    /// The gossip addresses `GetServers` reports (the node keeps them).
    pub fn gossip_addrs(&self) -> &GossipAddrs {
        &self.gossip_addrs
    }

    /// The tonic server for this service (message limits as chapter 2's).
    pub fn into_server(self) -> LogServer<ReplicatedLog> {
        let limit = self.reads.config().max_record_bytes + 1024;
        LogServer::new(self)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }

    /// The service's limits.
    pub fn config(&self) -> &ServiceConfig {
        self.reads.config()
    }

    /// Ends every open stream (with `UNAVAILABLE`): the first step of a
    /// graceful shutdown.
    pub fn stop_streams(&self) {
        self.stop.send_replace(true);
        self.reads.stop_streams();
    }

    // ANCHOR: check_leader
    /// `Ok` if this server leads; otherwise the answer that says who does.
    fn check_leader(&self) -> Result<(), Status> {
        let (leader, node) = self.leader();
        match (leader, node) {
            (Some(leader), _) if leader == self.me => Ok(()),
            (Some(leader), Some(node)) => Err(not_leader((leader, &node))),
            _ => Err(no_leader()),
        }
    }

    /// The leader this server knows of, and its node.
    fn leader(&self) -> (Option<NodeId>, Option<Node>) {
        // Never hold the metrics across an await: it blocks the Raft core.
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let leader = metrics.current_leader;
        let node = leader.and_then(|id| {
            metrics
                .membership_config
                .membership()
                .get_node(&id)
                .cloned()
        });
        (leader, node)
    }
    // ANCHOR_END: check_leader

    // ANCHOR: replicate
    /// Proposes `records` as one entry and waits until it is committed and
    /// applied: their outcomes, in order.
    async fn replicate(&self, records: Vec<Record>) -> Result<Vec<Outcome>, Status> {
        self.check_leader()?;
        let proposed = tokio::time::timeout(
            self.write_timeout,
            self.raft.client_write(Append { records }),
        )
        .await;
        let leader_now = || {
            let (leader, node) = self.leader();
            leader.zip(node)
        };
        match proposed {
            Ok(Ok(response)) => match response.data {
                Applied::Records(outcomes) => Ok(outcomes),
                Applied::Nothing => Err(Status::internal("the entry applied as nothing")),
            },
            Ok(Err(RaftError::APIError(WriteError::ForwardToLeader(_)))) => {
                let leader = leader_now();
                Err(fate_unknown(
                    "leadership moved while the record was being replicated",
                    leader.as_ref().map(|(id, node)| (*id, node)),
                ))
            }
            Ok(Err(error)) => Err(Status::unavailable(format!(
                "this server cannot replicate: {error}"
            ))),
            Err(_) => {
                let leader = leader_now();
                Err(fate_unknown(
                    &format!("not committed within {:?}", self.write_timeout),
                    leader.as_ref().map(|(id, node)| (*id, node)),
                ))
            }
        }
    }
    // ANCHOR_END: replicate

    // ANCHOR: record_of
    /// A produce request's record (checked as chapter 2 checks it).
    fn record_of(&self, request: ProduceRequest) -> Result<Record, Status> {
        let producer = (request.producer_id != 0).then_some(Producer {
            id: request.producer_id,
            sequence: request.sequence,
        });
        let value = self.reads.value_of(request)?;
        Ok(Record {
            value: value.into(),
            producer,
        })
    }
    // ANCHOR_END: record_of

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

/// Completes when the server starts shutting down.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: the service is gone too.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

// ANCHOR: offset_of
/// The offset a record's outcome gives its producer.
fn offset_of(outcome: Outcome, producer: Option<Producer>) -> Result<u64, Status> {
    match outcome {
        Outcome::Appended(offset) | Outcome::Duplicate(offset) => Ok(offset),
        Outcome::TooOld { oldest_remembered } => {
            let producer = producer.unwrap_or(Producer { id: 0, sequence: 0 });
            Err(sequence_too_old(
                producer.id,
                producer.sequence,
                oldest_remembered,
            ))
        }
    }
}
// ANCHOR_END: offset_of

#[tonic::async_trait]
impl LogRpc for ReplicatedLog {
    // ANCHOR: produce
    async fn produce(
        &self,
        request: Request<ProduceRequest>,
    ) -> Result<Response<ProduceResponse>, Status> {
        let record = self.record_of(request.into_inner())?;
        let producer = record.producer;
        let outcomes = self.replicate(vec![record]).await?;
        let outcome = outcomes
            .first()
            .copied()
            .ok_or_else(|| Status::internal("the entry applied without its record"))?;
        Ok(Response::new(ProduceResponse {
            offset: offset_of(outcome, producer)?,
        }))
    }
    // ANCHOR_END: produce

    // ANCHOR: reads
    async fn consume(
        &self,
        request: Request<ConsumeRequest>,
    ) -> Result<Response<ConsumeResponse>, Status> {
        LogRpc::consume(&self.reads, request).await
    }

    type ConsumeStreamStream = <LogService<Arc<Log>> as LogRpc>::ConsumeStreamStream;

    async fn consume_stream(
        &self,
        request: Request<ConsumeRequest>,
    ) -> Result<Response<Self::ConsumeStreamStream>, Status> {
        LogRpc::consume_stream(&self.reads, request).await
    }
    // ANCHOR_END: reads

    // ANCHOR: produce_stream
    type ProduceStreamStream = ResponseStream<ProduceResponse>;

    async fn produce_stream(
        &self,
        request: Request<Streaming<ProduceRequest>>,
    ) -> Result<Response<Self::ProduceStreamStream>, Status> {
        if self.stopping() {
            return Err(Status::unavailable("the server is shutting down"));
        }
        self.check_leader()?;
        let (responses, stream) = response_stream(self.config().stream_buffer);
        tokio::spawn(
            self.clone()
                .replicate_stream(request.into_inner(), responses),
        );
        Ok(Response::new(stream))
    }
    // ANCHOR_END: produce_stream

    // ANCHOR: get_servers
    async fn get_servers(
        &self,
        _request: Request<GetServersRequest>,
    ) -> Result<Response<GetServersResponse>, Status> {
        let gossip_addrs = self
            .gossip_addrs
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let next_offset = self.reads.log().log().next_offset();
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let membership = metrics.membership_config.membership();
        let servers = membership
            .voter_ids()
            .filter_map(|id| {
                let node = membership.get_node(&id)?;
                let me = id == self.me;
                Some(Server {
                    id: id.to_string(),
                    rpc_addr: node.rpc_addr.clone(),
                    is_leader: metrics.current_leader == Some(id),
                    gossip_addr: gossip_addrs.get(&id).cloned().unwrap_or_default(),
                    // What only this server knows of itself.
                    next_offset: me.then_some(next_offset),
                    applied_index: if me {
                        metrics.last_applied.map(|id| id.index)
                    } else {
                        None
                    },
                })
            })
            .collect();
        Ok(Response::new(GetServersResponse { servers }))
    }
    // ANCHOR_END: get_servers
}

impl ReplicatedLog {
    // ANCHOR: replicate_stream
    // ANCHOR: stream_a
    /// Proposes what the client streams, batching the requests that have
    /// already arrived, with up to [`MAX_IN_FLIGHT`] batches proposed and
    /// not yet answered; answers each request with its offset, in order.
    async fn replicate_stream(
        self,
        mut requests: Streaming<ProduceRequest>,
        responses: StreamSender<ProduceResponse>,
    ) {
        let mut stop = self.stop.subscribe();
        let mut in_flight = FuturesOrdered::new();
        let mut end: Option<Status> = None; // how the stream ends, after the batches in flight
        let mut reading = true;
        loop {
            if !reading && in_flight.is_empty() {
                if let Some(status) = end {
                    responses.end_with(status);
                }
                return;
            }
            // ANCHOR_END: stream_a
            // ANCHOR: stream_b
            tokio::select! {
                Some(answered) = in_flight.next(), if !in_flight.is_empty() => {
                    let (producers, outcomes): (Vec<Option<Producer>>, Result<Vec<Outcome>, Status>) = answered;
                    let outcomes = match outcomes {
                        Ok(outcomes) => outcomes,
                        // NOT_LEADER and NO_LEADER say "not appended", true of
                        // this batch but not known of the batches proposed
                        // after it.
                        Err(status)
                            if !in_flight.is_empty()
                                && reason_of(&status).is_some_and(|reason| [NOT_LEADER, NO_LEADER].contains(&reason.as_str())) =>
                        {
                            return responses.end_with(fate_unknown(
                                "leadership moved while later records were being replicated",
                                leader_in(&status)
                                    .map(|(id, rpc_addr)| (id, Node { rpc_addr }))
                                    .as_ref()
                                    .map(|(id, node)| (*id, node)),
                            ));
                        }
                        Err(status) => return responses.end_with(status),
                    };
                    for (outcome, producer) in outcomes.into_iter().zip(producers) {
                        let offset = match offset_of(outcome, producer) {
                            Ok(offset) => offset,
                            Err(status) => return responses.end_with(status),
                        };
                        if !responses.send(ProduceResponse { offset }, None).await {
                            return; // the client went away
                        }
                    }
                }
                // ANCHOR_END: stream_b
                // ANCHOR: stream_c
                request = requests.message(), if reading && in_flight.len() < MAX_IN_FLIGHT => {
                    let (records, ending) = match request {
                        Ok(Some(first)) => self.gather(first, &mut requests),
                        Ok(None) => (Vec::new(), None),
                        Err(status) => (Vec::new(), Some(request_error(status))),
                    };
                    if !records.is_empty() {
                        let producers = records.iter().map(|record| record.producer).collect();
                        let service = self.clone();
                        in_flight.push_back(async move { (producers, service.replicate(records).await) });
                    } else {
                        reading = false;
                    }
                    if let Some(status) = ending {
                        end = Some(status);
                        reading = false;
                    }
                }
                () = stopped(&mut stop) => {
                    return responses.end_with(Status::unavailable("the server is shutting down"));
                }
            }
        }
    }
    // ANCHOR_END: stream_c
    // ANCHOR_END: replicate_stream

    // ANCHOR: gather
    /// `first`, and the requests that arrived with it (up to chapter 2's
    /// batch limits), as records; and how the stream ends if it must (an
    /// invalid request, a broken stream) after them.
    fn gather(
        &self,
        first: ProduceRequest,
        requests: &mut Streaming<ProduceRequest>,
    ) -> (Vec<Record>, Option<Status>) {
        let config = self.config();
        let mut records = Vec::new();
        let mut bytes = 0;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match self.record_of(request) {
                Ok(record) => {
                    bytes += record.value.len();
                    records.push(record);
                }
                Err(status) => return (records, Some(status)),
            }
            if records.len() >= config.max_batch_records || bytes >= config.max_batch_bytes {
                break;
            }
            match ready_now(requests.message()) {
                Some(Ok(Some(request))) => next = Some(request),
                Some(Err(status)) => return (records, Some(request_error(status))),
                Some(Ok(None)) | None => break,
            }
        }
        (records, None)
    }
    // ANCHOR_END: gather
}
