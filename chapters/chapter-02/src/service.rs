//! The `log.v1.Log` service: four RPCs over a [`FollowableLog`].
//!
//! - `Produce` and `Consume` are unary: one request, one response.
//! - `ProduceStream` reads requests as they come and appends the ones that
//!   have already arrived *together*, as one batch: one write, one sync for
//!   all of them. While a batch is being appended, the next one is already
//!   being read from the client (a two-stage pipeline). Each request still
//!   gets its own response, in order.
//! - `ConsumeStream` sends every record from an offset on, then waits at the
//!   end of the log until an append wakes it. What it has read but the
//!   client has not taken is bounded, in messages and in bytes (see
//!   `budget.rs`): a slow consumer holds back its own task,
//!   not the server's memory.
//!
//! An append that may `fsync` blocks a thread for a while, so it goes to
//! the committer (`committer.rs`), a thread of its own that appends for
//! every call waiting at once; an append that cannot (`SyncPolicy::Os`),
//! and every read, runs inline, on the async worker.

use std::ops::Range;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tonic::{Request, Response, Status, Streaming};

use crate::api::v1::log_server::{Log, LogServer};
use crate::api::v1::{
    ConsumeRequest, ConsumeResponse, GetServersRequest, GetServersResponse, ProduceRequest,
    ProduceResponse, Record,
};
use crate::budget::{MemoryBudget, Reservation};
use crate::commit_log::{CommitLog, FollowableLog};
use crate::committer::Committer;
use crate::error::{Error, Result};
use crate::status::request_error;
use crate::stream::{ResponseStream, StreamSender, response_stream};

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
    /// How many bytes of records a stream may have queued for a slow client
    /// (a larger record still goes, alone).
    pub stream_buffer_bytes: usize,
    /// How many bytes all streams together may have queued or waiting to be
    /// appended; past it, streams wait.
    pub total_buffer_bytes: usize,
    /// How many calls one client connection may have open at once (HTTP/2's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub max_concurrent_streams: u32,
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
            stream_buffer_bytes: 1 << 20,
            total_buffer_bytes: 256 << 20,
            max_concurrent_streams: 128,
            drain_timeout: Duration::from_secs(10),
        }
    }
}
// ANCHOR_END: config

// ANCHOR: validate_zero
impl ServiceConfig {
    /// Checks that the limits can work, with each other and with a log
    /// whose records hold at most `max_value_len` bytes.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the setting that is off.
    pub fn validate(&self, max_value_len: u64) -> Result<()> {
        let positive = [
            ("max_record_bytes", self.max_record_bytes),
            ("max_batch_records", self.max_batch_records),
            ("max_batch_bytes", self.max_batch_bytes),
            ("stream_buffer", self.stream_buffer),
            ("stream_buffer_bytes", self.stream_buffer_bytes),
            ("total_buffer_bytes", self.total_buffer_bytes),
            (
                "max_concurrent_streams",
                self.max_concurrent_streams as usize,
            ),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(Error::InvalidConfig(format!("{name} must be at least 1")));
        }
        // ANCHOR_END: validate_zero
        // ANCHOR: validate_limits
        for (name, value) in [
            ("stream_buffer_bytes", self.stream_buffer_bytes),
            ("total_buffer_bytes", self.total_buffer_bytes),
            ("max_record_bytes", self.max_record_bytes),
        ] {
            if value > u32::MAX as usize {
                return Err(Error::InvalidConfig(format!(
                    "{name} is {value}, more than the {} this service can count",
                    u32::MAX
                )));
            }
        }
        if self.max_record_bytes as u64 > max_value_len {
            return Err(Error::InvalidConfig(format!(
                "max_record_bytes is {}, but the log's segments hold values of at most {max_value_len} bytes",
                self.max_record_bytes
            )));
        }
        if self.stream_buffer_bytes > self.total_buffer_bytes {
            return Err(Error::InvalidConfig(format!(
                "stream_buffer_bytes ({}) is more than total_buffer_bytes ({})",
                self.stream_buffer_bytes, self.total_buffer_bytes
            )));
        }
        Ok(())
    }
}
// ANCHOR_END: validate_limits

// ANCHOR: service
/// The gRPC service. Cheap to clone: clones share the log, the memory
/// budget and the shutdown signal.
#[derive(Debug)]
pub struct LogService<L> {
    log: Arc<FollowableLog<L>>,
    config: Arc<ServiceConfig>,
    budget: MemoryBudget,
    /// The task that appends for every call when appends wait for the disk
    /// (started with the first such append).
    committer: Arc<std::sync::OnceLock<Committer>>,
    /// Becomes `true` when the server shuts down, to end open streams.
    stop: Arc<watch::Sender<bool>>,
}

impl<L> Clone for LogService<L> {
    fn clone(&self) -> Self {
        LogService {
            log: Arc::clone(&self.log),
            config: Arc::clone(&self.config),
            budget: self.budget.clone(),
            committer: Arc::clone(&self.committer),
            stop: Arc::clone(&self.stop),
        }
    }
}
// ANCHOR_END: service

// ANCHOR: new
impl<L: CommitLog> LogService<L> {
    /// A service over `log`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `config` cannot work with `log` (see
    /// [`ServiceConfig::validate`]).
    pub fn new(log: Arc<FollowableLog<L>>, config: ServiceConfig) -> Result<Self> {
        config.validate(log.log().max_value_len())?;
        let (stop, _) = watch::channel(false);
        Ok(LogService {
            log,
            budget: MemoryBudget::new(config.total_buffer_bytes, config.stream_buffer_bytes),
            committer: Arc::default(),
            config: Arc::new(config),
            stop: Arc::new(stop),
        })
    }

    /// The service's limits.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The log the service serves.
    pub fn log(&self) -> &Arc<FollowableLog<L>> {
        &self.log
    }
    // ANCHOR_END: new

    // ANCHOR: into_server
    /// The tonic server for this service. It accepts messages a little
    /// larger than the largest record (a request's framing), so that a
    /// record just over the limit gets our clear `INVALID_ARGUMENT`; larger
    /// messages are refused by tonic before they are read whole (and
    /// [`CodecErrorLayer`](crate::status::CodecErrorLayer) gives that
    /// refusal the same code).
    pub fn into_server(self) -> LogServer<Self> {
        let limit = self.config.max_record_bytes + 1024;
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
    /// The record's value, if there is a record and it is not too large:
    /// the check every produce makes before anything is appended.
    ///
    /// # Errors
    /// [`Error::MissingRecord`] or [`Error::RecordTooLarge`].
    pub fn value_of(&self, request: ProduceRequest) -> Result<Vec<u8>> {
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
    /// Appends `values` as one batch. When it returns, the records are in
    /// the operating system's hands (and on disk under `SyncPolicy::Always`),
    /// and readers can see them; if it fails, none was appended. An append
    /// that may fsync goes to the [committer](crate::committer), which
    /// appends every call's values at once on a blocking thread, so that
    /// they share one fsync; one that cannot fsync runs right here, since
    /// the trip to another thread and back would cost more than the append.
    async fn append(&self, values: Vec<Vec<u8>>) -> Result<Range<u64>> {
        if self.log.log().appends_wait_for_disk() {
            let log = &self.log;
            let committer = match self.committer.get() {
                Some(committer) => committer,
                None => {
                    let started = Committer::start(Arc::clone(log))?;
                    self.committer.get_or_init(|| started)
                }
            };
            return committer.append(values).await;
        }
        let slices: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        self.log.append_batch(&slices)
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

    type ConsumeStreamStream = ResponseStream<ConsumeResponse>;

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
        let (responses, stream) = response_stream(self.config.stream_buffer);
        tokio::spawn(self.clone().follow(start, responses));
        Ok(Response::new(stream))
    }
    // ANCHOR_END: consume_stream

    type ProduceStreamStream = ResponseStream<ProduceResponse>;

    // ANCHOR: produce_stream
    async fn produce_stream(
        &self,
        request: Request<Streaming<ProduceRequest>>,
    ) -> Result<Response<Self::ProduceStreamStream>, Status> {
        if self.stopping() {
            return Err(Error::ShuttingDown.into());
        }
        let (responses, stream) = response_stream(self.config.stream_buffer);
        // The pipeline's two stages, joined by a channel that holds one
        // batch: while one batch is appended, the next is read.
        let (batches, to_append) = mpsc::channel(1);
        tokio::spawn(self.clone().read_batches(request.into_inner(), batches));
        tokio::spawn(self.clone().append_batches(to_append, responses));
        Ok(Response::new(stream))
    }
    // ANCHOR_END: produce_stream

    // ANCHOR: get_servers
    async fn get_servers(
        &self,
        _request: Request<GetServersRequest>,
    ) -> Result<Response<GetServersResponse>, Status> {
        Err(Status::unimplemented(
            "this server is not part of a cluster (chapter 7 adds GetServers)",
        ))
    }
    // ANCHOR_END: get_servers
}

// ANCHOR: batch
/// One batch of a `ProduceStream`, on its way from the reader to the appender.
struct Batch {
    /// The values to append.
    values: Vec<Vec<u8>>,
    /// The batch's bytes, held in the service's budget until appended.
    _reservation: Option<Reservation>,
    /// How the stream ends after this batch's responses, if it does: an
    /// invalid request, a request that could not be decoded, or shutdown.
    end: Option<Status>,
}
// ANCHOR_END: batch

impl<L: CommitLog> LogService<L> {
    // ANCHOR: follow
    /// Sends every record from `offset` on, for as long as the client listens.
    async fn follow(self, mut offset: u64, responses: StreamSender<ConsumeResponse>) {
        let mut stop = self.stop.subscribe();
        let stream_budget = self.budget.stream();
        loop {
            // Sleep until a record at `offset` exists, the client hangs up,
            // or the server stops. No polling: an append wakes us.
            let next = tokio::select! {
                next = self.log.wait_for(offset) => next,
                () = responses.closed() => return,
                () = stopped(&mut stop) => return responses.end_with(Error::ShuttingDown.into()),
            };
            while offset < next {
                let response = match self.record_at(offset) {
                    Ok(response) => response,
                    Err(error) => return responses.end_with(error.into()),
                };
                let bytes = response.record.as_ref().map_or(0, |r| r.value.len());
                // Wait while this stream (or the whole service) holds as many
                // bytes as it may: a slow client holds back this task, not
                // the server's memory.
                let sent = tokio::select! {
                    sent = async {
                        let reservation = stream_budget.reserve(bytes).await;
                        responses.send(response, Some(reservation)).await
                    } => sent,
                    () = stopped(&mut stop) => return responses.end_with(Error::ShuttingDown.into()),
                };
                if !sent {
                    return; // the client went away
                }
                offset += 1;
            }
        }
    }
    // ANCHOR_END: follow

    // ANCHOR: read_batches
    // ANCHOR: read_batches_head
    /// The pipeline's first stage: reads requests, gathers the ones that
    /// have already arrived into a batch, checks them, and hands the batch
    /// on. Ends at the client's end, at an invalid request, or at shutdown,
    /// handing on the status the stream must end with.
    async fn read_batches(
        self,
        mut requests: Streaming<ProduceRequest>,
        batches: mpsc::Sender<Batch>,
    ) {
        let mut stop = self.stop.subscribe();
        loop {
            // Wait for the next request (or the end of the stream, or shutdown).
            let first = tokio::select! {
                request = requests.message() => request,
                () = stopped(&mut stop) => Err(Error::ShuttingDown.into()),
            };
            let (values, end) = match first {
                Ok(Some(first)) => {
                    // Then every request that is already here, without waiting.
                    let (gathered, read_error) = self.gather(first, &mut requests);
                    let (values, invalid) = self.valid_prefix(gathered);
                    (values, invalid.map(Status::from).or(read_error))
                }
                Ok(None) => return, // the client finished
                Err(status) => (Vec::new(), Some(request_error(status))),
            };
            // ANCHOR_END: read_batches_head
            // ANCHOR: read_batches_tail
            let bytes = values.iter().map(Vec::len).sum();
            let reservation = tokio::select! {
                reservation = self.budget.reserve(bytes) => Some(reservation),
                () = stopped(&mut stop) => None,
            };
            let ending = end.is_some() || reservation.is_none();
            let end = end.or_else(|| reservation.is_none().then(|| Error::ShuttingDown.into()));
            let batch = Batch {
                values,
                _reservation: reservation,
                end,
            };
            if batches.send(batch).await.is_err() || ending {
                return; // the appender stopped, or this batch ends the stream
            }
        }
    }
    // ANCHOR_END: read_batches_tail
    // ANCHOR_END: read_batches

    // ANCHOR: append_batches
    /// The pipeline's second stage: appends each batch and answers each of
    /// its requests with its offset, in order; then ends the stream as the
    /// batch says.
    async fn append_batches(
        self,
        mut batches: mpsc::Receiver<Batch>,
        responses: StreamSender<ProduceResponse>,
    ) {
        let mut stop = self.stop.subscribe();
        while let Some(batch) = batches.recv().await {
            let offsets = match batch.values.is_empty() {
                true => 0..0,
                false => match self.append(batch.values).await {
                    Ok(offsets) => offsets,
                    Err(error) => return responses.end_with(error.into()),
                },
            };
            for offset in offsets {
                let sent = tokio::select! {
                    sent = responses.send(ProduceResponse { offset }, None) => sent,
                    () = stopped(&mut stop) => return responses.end_with(Error::ShuttingDown.into()),
                };
                if !sent {
                    return; // the client went away
                }
            }
            if let Some(status) = batch.end {
                return responses.end_with(status);
            }
        }
    }
    // ANCHOR_END: append_batches

    // ANCHOR: gather
    /// `first`, and the requests that arrived with it (up to the batch
    /// limits); and the status to end with if the stream failed meanwhile.
    fn gather(
        &self,
        first: ProduceRequest,
        requests: &mut Streaming<ProduceRequest>,
    ) -> (Vec<ProduceRequest>, Option<Status>) {
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
                // The client finished: the next read says so.
                Some(Ok(None)) | None => break,
                Some(Err(status)) => return (batch, Some(request_error(status))),
            }
        }
        (batch, None)
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

// ANCHOR: stopped
/// Completes when the server starts shutting down.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens when the
    // service is dropped: stop as well.
    let _ = stop.wait_for(|stopping| *stopping).await;
}
// ANCHOR_END: stopped

// ANCHOR: ready_now
/// Polls `future` once: its output if it is ready now, `None` if it would
/// wait. (The no-op waker is never woken, which is fine: a future that is
/// not ready is dropped, and the loop above waits properly for the next
/// request with `.await`.)
pub fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    let future = pin!(future);
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}
// ANCHOR_END: ready_now
