//! The `log.v1.Log` service: four RPCs over a [`FollowableLog`].
//!
//! - `Produce` and `Consume` are unary: one request, one response.
//! - `ProduceStream` reads requests as they come and appends the ones that
//!   have already arrived *together*, as one batch: one lock, one write, one
//!   sync for all of them (group commit). Each request still gets its own
//!   response, in order.
//! - `ConsumeStream` sends every record from an offset on, then waits at the
//!   end of the log until an append wakes it. It sends through a *bounded*
//!   channel: when a consumer reads slowly the channel fills, the task waits,
//!   and the server never holds more than a few records for it (backpressure).
//!
//! Appends may `fsync`, which blocks a thread for a while, so they run on
//! tokio's blocking pool; reads come from the page cache and run inline.

use std::ops::Range;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::api::v1::log_server::{Log, LogServer};
use crate::api::v1::{ConsumeRequest, ConsumeResponse, ProduceRequest, ProduceResponse, Record};
use crate::commit_log::{CommitLog, FollowableLog};
use crate::error::{Error, Result};

// ANCHOR: config
/// Limits of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// The largest record value accepted (Kafka's default: 1 MiB).
    pub max_record_bytes: usize,
    /// The most requests `ProduceStream` appends as one batch.
    pub max_batch_records: usize,
    /// The most value bytes `ProduceStream` appends as one batch.
    pub max_batch_bytes: usize,
    /// How many responses a stream may have queued for a slow client.
    pub stream_buffer: usize,
    /// How long a graceful shutdown waits for calls in flight (a client that
    /// stopped reading would otherwise hold the server up forever).
    pub drain_timeout: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            max_record_bytes: 1 << 20,
            max_batch_records: 1024,
            max_batch_bytes: 4 << 20,
            stream_buffer: 64,
            drain_timeout: Duration::from_secs(10),
        }
    }
}
// ANCHOR_END: config

// ANCHOR: service
/// The gRPC service. Cheap to clone: clones share the log and the shutdown signal.
#[derive(Debug)]
pub struct LogService<L> {
    log: Arc<FollowableLog<L>>,
    config: Arc<ServiceConfig>,
    /// Becomes `true` when the server shuts down, to end open streams.
    stop: Arc<watch::Sender<bool>>,
}

impl<L> Clone for LogService<L> {
    fn clone(&self) -> Self {
        LogService {
            log: Arc::clone(&self.log),
            config: Arc::clone(&self.config),
            stop: Arc::clone(&self.stop),
        }
    }
}

impl<L: CommitLog> LogService<L> {
    /// A service over `log`.
    pub fn new(log: Arc<FollowableLog<L>>, config: ServiceConfig) -> Self {
        let (stop, _) = watch::channel(false);
        LogService {
            log,
            config: Arc::new(config),
            stop: Arc::new(stop),
        }
    }
    // ANCHOR_END: service

    /// The service's limits.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The log the service serves.
    pub fn log(&self) -> &Arc<FollowableLog<L>> {
        &self.log
    }

    // ANCHOR: into_server
    /// The tonic server for this service, accepting messages big enough for
    /// the largest record (so an oversized one gets our clear
    /// `INVALID_ARGUMENT`, not a transport error).
    pub fn into_server(self) -> LogServer<Self> {
        let limit = (self.config.max_record_bytes + 1024).max(4 << 20);
        LogServer::new(self)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }
    // ANCHOR_END: into_server

    // ANCHOR: shutdown_hooks
    /// Ends every open stream (with `UNAVAILABLE`) and refuses new ones: the
    /// first step of a graceful shutdown, since a following `ConsumeStream`
    /// would otherwise never finish.
    pub fn stop_streams(&self) {
        self.stop.send_replace(true);
    }

    /// Syncs the log: the last step of a graceful shutdown.
    ///
    /// # Errors
    /// The log's error if the sync fails.
    pub async fn sync_log(&self) -> Result<()> {
        let log = Arc::clone(&self.log);
        tokio::task::spawn_blocking(move || log.log().sync()).await?
    }
    // ANCHOR_END: shutdown_hooks

    // ANCHOR: value_of
    /// The record's value, if there is a record and it is not too large.
    fn value_of(&self, request: ProduceRequest) -> Result<Vec<u8>> {
        let value = request.record.ok_or(Error::MissingRecord)?.value;
        if value.len() > self.config.max_record_bytes {
            return Err(Error::RecordTooLarge {
                len: value.len(),
                max: self.config.max_record_bytes,
            });
        }
        Ok(value)
    }
    // ANCHOR_END: value_of

    // ANCHOR: append
    /// Appends `values` as one batch, and hands them to the OS before
    /// answering: an acknowledged record survives a crash of this process
    /// under any sync policy (and a power loss under `Always`). An append
    /// that may fsync runs on tokio's blocking pool; one that cannot runs
    /// right here, since the trip to the pool and back would cost more than
    /// the append itself.
    async fn append(&self, values: Vec<Vec<u8>>) -> Result<Range<u64>> {
        let append = move |log: &FollowableLog<L>| {
            let slices: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let offsets = log.append_batch(&slices)?;
            log.log().flush()?;
            Ok(offsets)
        };
        if !self.log.log().appends_wait_for_disk() {
            return append(&self.log);
        }
        let log = Arc::clone(&self.log);
        tokio::task::spawn_blocking(move || append(&log)).await?
    }
    // ANCHOR_END: append

    // ANCHOR: record_at
    fn record_at(&self, offset: u64) -> Result<ConsumeResponse> {
        let value = self.log.log().read(offset)?;
        Ok(ConsumeResponse {
            record: Some(Record {
                value,
                offset,
                term: 0,
                r#type: 0,
            }),
        })
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
    // ANCHOR_END: record_at
}

#[tonic::async_trait]
impl<L: CommitLog> Log for LogService<L> {
    // ANCHOR: unary
    async fn produce(
        &self,
        request: Request<ProduceRequest>,
    ) -> Result<Response<ProduceResponse>, Status> {
        let value = self.value_of(request.into_inner())?;
        let offsets = self.append(vec![value]).await?;
        Ok(Response::new(ProduceResponse {
            offset: offsets.start,
        }))
    }

    async fn consume(
        &self,
        request: Request<ConsumeRequest>,
    ) -> Result<Response<ConsumeResponse>, Status> {
        Ok(Response::new(self.record_at(request.into_inner().offset)?))
    }
    // ANCHOR_END: unary

    type ConsumeStreamStream = ReceiverStream<Result<ConsumeResponse, Status>>;

    // ANCHOR: consume_stream
    async fn consume_stream(
        &self,
        request: Request<ConsumeRequest>,
    ) -> Result<Response<Self::ConsumeStreamStream>, Status> {
        let start = request.into_inner().offset;
        let (lowest, next) = (self.log.log().lowest_offset(), self.log.log().next_offset());
        // Starting exactly at the next offset is allowed: it waits for the
        // next record, like `tail -f`. Past it there is nothing to wait for.
        if start < lowest || start > next {
            return Err(Error::Log(chapter_01::Error::OffsetOutOfRange {
                offset: start,
                lowest,
                next,
            })
            .into());
        }
        if self.stopping() {
            return Err(Error::ShuttingDown.into());
        }
        let (responses, receiver) = mpsc::channel(self.config.stream_buffer);
        tokio::spawn(self.clone().follow(start, responses));
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
    // ANCHOR_END: consume_stream

    // ANCHOR: produce_stream
    type ProduceStreamStream = ReceiverStream<Result<ProduceResponse, Status>>;

    async fn produce_stream(
        &self,
        request: Request<Streaming<ProduceRequest>>,
    ) -> Result<Response<Self::ProduceStreamStream>, Status> {
        if self.stopping() {
            return Err(Error::ShuttingDown.into());
        }
        let (responses, receiver) = mpsc::channel(self.config.stream_buffer);
        tokio::spawn(self.clone().group_commit(request.into_inner(), responses));
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
    // ANCHOR_END: produce_stream
}

impl<L: CommitLog> LogService<L> {
    // ANCHOR: follow
    /// Sends every record from `offset` on, for as long as the client listens.
    async fn follow(
        self,
        mut offset: u64,
        responses: mpsc::Sender<Result<ConsumeResponse, Status>>,
    ) {
        let mut stop = self.stop.subscribe();
        loop {
            // Sleep until a record at `offset` exists, the client hangs up,
            // or the server stops. No polling: an append wakes us.
            let next = tokio::select! {
                next = self.log.wait_for(offset) => next,
                () = responses.closed() => return,
                () = stopped(&mut stop) => return announce_shutdown(&responses),
            };
            while offset < next {
                let response = self.record_at(offset).map_err(Status::from);
                let failed = response.is_err();
                // Waits while the channel is full: a slow client holds back
                // this task, not the server's memory.
                if !send_or_stop(&responses, response, &mut stop).await || failed {
                    return; // client gone, server stopping, or the error was sent
                }
                offset += 1;
            }
        }
    }
    // ANCHOR_END: follow

    // ANCHOR: group_commit
    /// Appends what the client streams, batching the requests that have
    /// already arrived, and answers each request with its offset.
    async fn group_commit(
        self,
        mut requests: Streaming<ProduceRequest>,
        responses: mpsc::Sender<Result<ProduceResponse, Status>>,
    ) {
        let mut stop = self.stop.subscribe();
        loop {
            // Wait for the next request (or the end of the stream, or shutdown).
            let first = tokio::select! {
                request = requests.message() => request,
                () = stopped(&mut stop) => return announce_shutdown(&responses),
            };
            let Ok(Some(first)) = first else {
                return; // the client finished, or went away
            };
            // Then every request that is already here, without waiting.
            let (batch, client_done) = self.gather(first, &mut requests);
            let (values, invalid) = self.valid_prefix(batch);
            let offsets = match values.is_empty() {
                true => 0..0,
                false => match self.append(values).await {
                    Ok(offsets) => offsets,
                    Err(error) => {
                        send_or_stop(&responses, Err(error.into()), &mut stop).await;
                        return;
                    }
                },
            };
            // ANCHOR_END: group_commit
            // ANCHOR: group_commit_answer
            for offset in offsets {
                if !send_or_stop(&responses, Ok(ProduceResponse { offset }), &mut stop).await {
                    return;
                }
            }
            if let Some(error) = invalid {
                send_or_stop(&responses, Err(error.into()), &mut stop).await;
                return;
            }
            if client_done {
                return;
            }
        }
    }
    // ANCHOR_END: group_commit_answer

    // ANCHOR: gather
    /// `first`, and the requests that arrived with it (up to the batch
    /// limits); and whether the client has finished sending.
    fn gather(
        &self,
        first: ProduceRequest,
        requests: &mut Streaming<ProduceRequest>,
    ) -> (Vec<ProduceRequest>, bool) {
        let mut batch = vec![first];
        let mut batch_bytes = 0;
        while batch.len() < self.config.max_batch_records
            && batch_bytes < self.config.max_batch_bytes
        {
            match ready_now(requests.message()) {
                Some(Ok(Some(request))) => {
                    batch_bytes += request
                        .record
                        .as_ref()
                        .map_or(0, |record| record.value.len());
                    batch.push(request);
                }
                Some(Ok(None) | Err(_)) => return (batch, true),
                None => break, // nothing more has arrived yet
            }
        }
        (batch, false)
    }
    // ANCHOR_END: gather

    // ANCHOR: valid_prefix
    /// The values of the valid requests before the first invalid one, and
    /// that one's error: it ends the stream after their responses.
    fn valid_prefix(&self, batch: Vec<ProduceRequest>) -> (Vec<Vec<u8>>, Option<Error>) {
        let mut values = Vec::with_capacity(batch.len());
        for request in batch {
            match self.value_of(request) {
                Ok(value) => values.push(value),
                Err(error) => return (values, Some(error)),
            }
        }
        (values, None)
    }
    // ANCHOR_END: valid_prefix
}

// ANCHOR: send_or_stop
/// Sends `item`, waiting for room in the channel, unless the server stops
/// first. `false` when the stream is over (client gone, or server stopping).
async fn send_or_stop<T>(
    responses: &mpsc::Sender<T>,
    item: T,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        sent = responses.send(item) => sent.is_ok(),
        () = stopped(stop) => false,
    }
}
// ANCHOR_END: send_or_stop

// ANCHOR: stopped
/// Ends a stream at shutdown with `UNAVAILABLE`, if there is room to say so:
/// a client that stopped reading has a full channel, and must not hold up
/// the server's shutdown.
fn announce_shutdown<T>(responses: &mpsc::Sender<Result<T, Status>>) {
    let _ = responses.try_send(Err(Error::ShuttingDown.into()));
}

/// Completes when the server starts shutting down.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens when the
    // service is dropped: stop as well.
    let _ = stop.wait_for(|stopping| *stopping).await;
}
// ANCHOR_END: stopped

// ANCHOR: ready_now
/// Polls `future` once: its output if it is ready now, `None` if it would wait.
fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    let future = pin!(future);
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}
// ANCHOR_END: ready_now
