//! A consume stream that survives the loss of its server.
//!
//! The client remembers the offset of the next record it has not passed
//! on. When the stream breaks, it opens one on another server from that
//! offset: the caller sees every offset once, in order, whichever servers
//! served them.
//!
//! A stream whose server the network cuts off does not break: it falls
//! silent. Unlike a produce stream, it cannot take silence for a failure:
//! a stream at the end of the log is silent until the next record is
//! appended, for as long as that takes. So it relies on the channel's
//! HTTP/2 pings (chapter 3's `endpoint_to`): a server that stops
//! answering them is cut off, its connection is closed within seconds,
//! and the stream breaks and resumes elsewhere. (What pings cannot tell is
//! a follower that answers the client but is cut off from the leader: its
//! stream is silent because it hears of no new record. A client that must
//! notice that needs the server to say how far behind it is.)

use chapter_02::api::v1::{ConsumeRequest, Record};
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::client::{Client, record_of};
use crate::deadline::within;
use crate::error::{Error, Result};
use crate::retry::{Attempts, Next, next_after};

impl Client {
    // ANCHOR: consume_stream
    // ANCHOR: consume_stream_a
    /// Every record from `offset` on, and the new ones as they are
    /// appended, read from a follower (round robin); resumed on another
    /// server from the next offset when the stream breaks. The stream ends
    /// only with an error (one a retry would not fix, or the retry policy
    /// spent), or when it is dropped.
    pub fn consume_stream(
        &self,
        offset: u64,
    ) -> impl Stream<Item = Result<Record>> + Send + 'static {
        let (records, receiver) = mpsc::channel(256);
        tokio::spawn(self.clone().follow(offset, records));
        ReceiverStream::new(receiver)
    }

    async fn follow(self, mut next: u64, records: mpsc::Sender<Result<Record>>) {
        let mut attempts = Attempts::new(self.config.retry);
        loop {
            let Some(mut reader) = self.servers.reader() else {
                let status = match self.servers.refresh().await {
                    Ok(()) => Status::unavailable("no server is known"),
                    Err(error) => Status::unavailable(error.to_string()),
                };
                if let Err(error) = attempts.failed(status).await {
                    let _ = records.send(Err(error)).await;
                    return;
                }
                continue;
            };
            // ANCHOR_END: consume_stream_a
            // ANCHOR: consume_stream_b
            let limit = attempts.time_for_next(self.config.attempt_timeout);
            let opened = within(
                limit,
                reader
                    .client
                    .consume_stream(ConsumeRequest { offset: next }),
            );
            let status = match opened.await {
                Err(status) => status,
                Ok(stream) => {
                    let mut stream = stream.into_inner();
                    loop {
                        match stream.message().await {
                            Ok(Some(response)) => {
                                let record = match record_of(response.record) {
                                    Ok(record) => record,
                                    Err(error) => {
                                        let _ = records.send(Err(error)).await;
                                        return;
                                    }
                                };
                                if record.offset < next {
                                    continue; // already passed on
                                }
                                next = record.offset + 1;
                                attempts.reset();
                                if records.send(Ok(record)).await.is_err() {
                                    return; // the caller went away
                                }
                            }
                            Ok(None) => break Status::unavailable("the stream ended"),
                            Err(status) => break status,
                        }
                    }
                }
            };
            // ANCHOR_END: consume_stream_b
            // ANCHOR: consume_stream_c
            let retried = match next_after(&status) {
                Next::Retry | Next::Redirect(_) => {
                    self.after_failure(&reader, &status).await;
                    attempts.failed(status).await
                }
                Next::Fail => Err(Error::Refused(status)),
            };
            if let Err(error) = retried {
                let _ = records.send(Err(error)).await;
                return;
            }
        }
    }
    // ANCHOR_END: consume_stream_c
    // ANCHOR_END: consume_stream
}
