//! The response side of a streaming RPC: a bounded channel from the task
//! that produces responses to tonic, and the status the stream ends with.
//!
//! Two things are easy to get wrong with a plain channel, and this type
//! gets them right:
//!
//! - **Bounded memory.** The channel holds at most a few messages, and
//!   each carries a `Reservation` of its bytes, given back when tonic
//!   takes it (see `budget.rs`).
//! - **The final status.** A stream that ends because of an error, or
//!   because the server is shutting down, must end with that status, never
//!   with `OK`. Sending the error as one more message fails exactly when it
//!   matters (a client that stopped reading has a full channel), and then
//!   the channel closes and tonic sends `OK`. So the task records the final
//!   status on the side (`StreamSender::end_with`), and the stream yields
//!   it after the last message, whatever the channel's state.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tonic::Status;

use crate::budget::Reservation;

// ANCHOR: response_stream
/// Creates a response stream holding at most `capacity` messages.
pub fn response_stream<T>(capacity: usize) -> (StreamSender<T>, ResponseStream<T>) {
    let (items, receiver) = mpsc::channel(capacity);
    let end = Arc::new(Mutex::new(None));
    let sender = StreamSender {
        items,
        end: Arc::clone(&end),
    };
    let stream = ResponseStream {
        items: receiver,
        end,
        finished: false,
    };
    (sender, stream)
}

/// The producing end, kept by the task that makes the responses.
#[derive(Debug)]
pub struct StreamSender<T> {
    items: mpsc::Sender<(T, Option<Reservation>)>,
    end: Arc<Mutex<Option<Status>>>,
}
// ANCHOR_END: response_stream

// ANCHOR: sender_impl
impl<T> StreamSender<T> {
    /// Sends `item`, waiting for room; `false` if the client has gone.
    /// (`reservation`, if any, holds the item's bytes in the service's
    /// memory budget until the client takes it.)
    pub async fn send(&self, item: T, reservation: Option<Reservation>) -> bool {
        self.items.send((item, reservation)).await.is_ok()
    }

    /// Completes when the client has gone.
    pub async fn closed(&self) {
        self.items.closed().await;
    }

    /// Ends the stream with `status` after the messages already sent (the
    /// first status recorded wins).
    pub fn end_with(&self, status: Status) {
        self.end
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_or_insert(status);
    }
}
// ANCHOR_END: sender_impl

// ANCHOR: response_stream_type
/// The stream tonic sends to the client: the messages, then the final
/// status if there is one (otherwise the stream ends with `OK`).
#[derive(Debug)]
pub struct ResponseStream<T> {
    items: mpsc::Receiver<(T, Option<Reservation>)>,
    end: Arc<Mutex<Option<Status>>>,
    finished: bool,
}

impl<T> Stream for ResponseStream<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        match this.items.poll_recv(cx) {
            // The reservation is dropped here: tonic holds the bytes now.
            Poll::Ready(Some((item, _reservation))) => Poll::Ready(Some(Ok(item))),
            Poll::Ready(None) => {
                this.finished = true;
                let end = this
                    .end
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .take();
                Poll::Ready(end.map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
// ANCHOR_END: response_stream_type

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    use super::*;

    // ANCHOR: test_final_status
    // The final status comes after every message, even when the channel
    // was full when the task recorded it.
    #[tokio::test]
    async fn ends_with_the_recorded_status_after_the_messages() {
        let (sender, mut stream) = response_stream(1);
        assert!(sender.send(1, None).await);
        sender.end_with(Status::unavailable("shutting down"));
        sender.end_with(Status::internal("later, ignored"));
        drop(sender);
        assert_eq!(stream.next().await.unwrap().unwrap(), 1);
        let end = stream.next().await.unwrap().unwrap_err();
        assert_eq!(end.code(), tonic::Code::Unavailable);
        assert!(stream.next().await.is_none());
    }
    // ANCHOR_END: test_final_status

    // Without a recorded status the stream simply ends: OK.
    #[tokio::test]
    async fn ends_cleanly_without_a_status() {
        let (sender, mut stream) = response_stream::<u8>(1);
        drop(sender);
        assert!(stream.next().await.is_none());
    }
}
