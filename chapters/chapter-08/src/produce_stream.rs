//! A produce stream that survives a failover.
//!
//! The client keeps every record it has sent and not yet seen
//! acknowledged, in order (at most `window` of them). When the stream
//! breaks (the leader died, leadership moved, the connection was cut), it
//! opens a new one to the leader and sends those records again, first,
//! then carries on. The records that had been appended are answered with
//! their first offsets (chapter 7's producer sequences), so the caller
//! gets exactly one offset per record, in order:
//!
//! ```text
//!   sent:       s1 s2 s3 s4 s5 s6          (s = sequence number)
//!   answered:   s1 s2 ──── leader dies ────
//!   new stream: s3 s4 s5 s6 s7 ...         s3, s4 were appended: their first offsets
//!   caller:     o1 o2 o3 o4 o5 o6 o7 ...   one offset per record, none twice
//! ```
//!
//! A leader cut off by the network does not break the stream: it falls
//! silent. So a stream that has records in flight and hears nothing for
//! [`attempt_timeout`](crate::ClientConfig::attempt_timeout) has broken
//! too, and the records are resent to the new leader like any others.

use std::collections::VecDeque;
use std::pin::pin;

use chapter_02::api::v1::ProduceRequest;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::client::Client;
use crate::deadline::{no_answer_within, within};
use crate::error::Result;
use crate::retry::{Attempts, no_leader_known};

impl Client {
    // ANCHOR: produce_stream
    /// Appends every value of `values`, in order, through `ProduceStream`
    /// to the leader, with up to `window` records in flight: the offsets,
    /// one per value, in the same order. Resumes on the new leader after a
    /// failover, without losing or repeating a record. The stream of
    /// offsets ends after the last value's, or with the error that stopped
    /// it (then the values after the last offset were perhaps not appended).
    pub fn produce_stream<S>(&self, values: S) -> impl Stream<Item = Result<u64>> + Send + 'static
    where
        S: Stream<Item = Vec<u8>> + Send + 'static,
    {
        let (offsets, receiver) = mpsc::channel(self.config.window.min(4096));
        tokio::spawn(self.clone().stream_to_leader(values, offsets));
        ReceiverStream::new(receiver)
    }
    // ANCHOR_END: produce_stream

    // ANCHOR: stream_to_leader
    async fn stream_to_leader<S>(self, values: S, offsets: mpsc::Sender<Result<u64>>)
    where
        S: Stream<Item = Vec<u8>> + Send + 'static,
    {
        let mut values = pin!(values.fuse());
        // Sent and not yet acknowledged, oldest first: what a new stream
        // sends again.
        let mut unacknowledged: VecDeque<ProduceRequest> = VecDeque::new();
        let mut exhausted = false;
        let mut attempts = Attempts::new(self.config.retry);
        loop {
            if exhausted && unacknowledged.is_empty() {
                return;
            }
            let outcome = self
                .one_stream(
                    &mut values,
                    &mut unacknowledged,
                    &mut exhausted,
                    &offsets,
                    &mut attempts,
                )
                .await;
            let (status, leader) = match outcome {
                Broke::Done => return,
                Broke::With(status, leader) => (*status, leader),
            };
            let failed = leader
                .as_ref()
                .map(|(addr, generation)| (addr.as_str(), *generation));
            let retried = self.after_failed_write(status, failed, &mut attempts).await;
            if let Err(error) = retried {
                let _ = offsets.send(Err(error)).await;
                return;
            }
        }
    }
    // ANCHOR_END: stream_to_leader

    // ANCHOR: one_stream
    // ANCHOR: one_stream_a
    /// One `ProduceStream` to the leader: sends the unacknowledged records
    /// again, then the next values, while it passes on the offsets; until
    /// every value is acknowledged, or the stream breaks.
    async fn one_stream<S>(
        &self,
        values: &mut std::pin::Pin<&mut futures_util::stream::Fuse<S>>,
        unacknowledged: &mut VecDeque<ProduceRequest>,
        exhausted: &mut bool,
        offsets: &mpsc::Sender<Result<u64>>,
        attempts: &mut Attempts,
    ) -> Broke
    where
        S: Stream<Item = Vec<u8>>,
    {
        let mut leader = match self.writer().await {
            Ok(Some(leader)) => leader,
            Ok(None) => return Broke::With(Box::new(no_leader_known()), None),
            Err(error) => {
                return Broke::With(Box::new(Status::unavailable(error.to_string())), None);
            }
        };
        // Room for every record in flight: sending never waits.
        let (requests, outbound) = mpsc::channel(self.config.window + 1);
        for request in unacknowledged.iter() {
            let _ = requests.try_send(request.clone());
        }
        let mut requests = (!*exhausted).then_some(requests);
        let limit = attempts.time_for_next(self.config.attempt_timeout);
        let opened = within(
            limit,
            leader.client.produce_stream(ReceiverStream::new(outbound)),
        );
        let mut responses = match opened.await {
            Ok(responses) => responses.into_inner(),
            Err(status) => {
                return Broke::With(Box::new(status), Some((leader.addr, leader.generation)));
            }
        };
        // ANCHOR_END: one_stream_a
        // ANCHOR: one_stream_b
        // Silence while records are in flight means the leader is gone, or
        // cut off: after `attempt_timeout` of it, the stream has broken.
        // (One timer, moved on only when it fires: not one per answer.)
        let silence = self.config.attempt_timeout;
        let mut heard_at = Instant::now();
        let mut watchdog = pin!(tokio::time::sleep(silence));
        loop {
            tokio::select! {
                biased;
                response = responses.message() => match response {
                    Ok(Some(response)) => {
                        unacknowledged.pop_front();
                        heard_at = Instant::now();
                        attempts.reset();
                        if offsets.send(Ok(response.offset)).await.is_err() {
                            return Broke::Done; // the caller went away
                        }
                    }
                    Ok(None) if *exhausted && unacknowledged.is_empty() => return Broke::Done,
                    Ok(None) => {
                        let status = Status::unavailable("the stream ended early");
                        return Broke::With(Box::new(status), Some((leader.addr, leader.generation)));
                    }
                    Err(status) => return Broke::With(Box::new(status), Some((leader.addr, leader.generation))),
                },
                // ANCHOR_END: one_stream_b
                // ANCHOR: one_stream_c
                value = values.next(), if !*exhausted && unacknowledged.len() < self.config.window => match value {
                    Some(value) => {
                        if unacknowledged.is_empty() {
                            heard_at = Instant::now(); // the first in flight
                        }
                        let request = self.request(self.take_sequence(), value);
                        unacknowledged.push_back(request.clone());
                        if let Some(requests) = &requests {
                            let _ = requests.try_send(request);
                        }
                    }
                    None => {
                        *exhausted = true;
                        requests = None; // the end of the requests: the server finishes
                        if unacknowledged.is_empty() {
                            return Broke::Done;
                        }
                    }
                },
                // The unacknowledged records are resent on the next stream:
                // their fate is unknown, and their sequences settle it.
                () = &mut watchdog, if !unacknowledged.is_empty() => {
                    if heard_at.elapsed() < silence {
                        watchdog.as_mut().reset(heard_at + silence);
                        continue;
                    }
                    let status = no_answer_within(silence);
                    return Broke::With(Box::new(status), Some((leader.addr, leader.generation)));
                }
            }
        }
    }
    // ANCHOR_END: one_stream_c
    // ANCHOR_END: one_stream
}

// ANCHOR: broke
/// How one stream ended.
enum Broke {
    /// Every value acknowledged (or the caller gone).
    Done,
    /// With this status, on this leader (its address and the list's
    /// generation when it was picked), if one was picked.
    With(Box<Status>, Option<(String, u64)>),
}
// ANCHOR_END: broke
