//! How many bytes the service may hold on behalf of its clients.
//!
//! A streaming RPC buffers: records read for a `ConsumeStream` wait in a
//! channel until the client takes them, and requests of a `ProduceStream`
//! wait while the batch before them is appended. A client that stops
//! reading would make those buffers grow without end, or at least to
//! whatever a channel's message count allows: 64 records of 1 MiB are
//! 64 MiB, per stream. So every buffered byte is counted twice, against
//! its stream's own allowance and against the service's total, with
//! tokio semaphores whose permits are bytes:
//!
//! ```text
//!   stream A ── 1 MiB allowance ──┐
//!   stream B ── 1 MiB allowance ──┼── 256 MiB for the whole service
//!   stream C ── 1 MiB allowance ──┘
//! ```
//!
//! A stream whose allowance is used up waits (that is backpressure: it
//! stops reading the log, or stops reading its client). A record larger than
//! an allowance takes all of it, so it still moves, alone. The bytes are
//! given back when the client takes the response, or when the batch is
//! appended.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

// ANCHOR: budget_types
/// The service's allowance of buffered bytes, shared by all its streams.
#[derive(Debug, Clone)]
pub(crate) struct MemoryBudget {
    total: Arc<Semaphore>,
    total_bytes: usize,
    stream_bytes: usize,
}

/// One stream's allowance, within the service's.
#[derive(Debug)]
pub(crate) struct StreamBudget {
    own: Arc<Semaphore>,
    stream_bytes: usize,
    service: MemoryBudget,
}

/// Bytes held in a buffer; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    _own: Option<OwnedSemaphorePermit>,
    _total: OwnedSemaphorePermit,
}
// ANCHOR_END: budget_types

// ANCHOR: memory_budget
impl MemoryBudget {
    /// A budget of `total_bytes`, of which one stream may hold `stream_bytes`.
    /// Both are at least 1 and at most `u32::MAX` ([`ServiceConfig::validate`](crate::ServiceConfig::validate)).
    pub(crate) fn new(total_bytes: usize, stream_bytes: usize) -> MemoryBudget {
        MemoryBudget {
            total: Arc::new(Semaphore::new(total_bytes)),
            total_bytes,
            stream_bytes,
        }
    }

    /// A new stream's allowance.
    pub(crate) fn stream(&self) -> StreamBudget {
        StreamBudget {
            own: Arc::new(Semaphore::new(self.stream_bytes)),
            stream_bytes: self.stream_bytes,
            service: self.clone(),
        }
    }

    /// Waits until `bytes` fit in the service's total, and holds them.
    pub(crate) async fn reserve(&self, bytes: usize) -> Reservation {
        Reservation {
            _own: None,
            _total: acquire(&self.total, bytes.min(self.total_bytes)).await,
        }
    }
}
// ANCHOR_END: memory_budget

// ANCHOR: stream_budget
impl StreamBudget {
    /// Waits until `bytes` fit in this stream's allowance and in the
    /// service's total, and holds them.
    pub(crate) async fn reserve(&self, bytes: usize) -> Reservation {
        let own = acquire(&self.own, bytes.min(self.stream_bytes)).await;
        let total = self.service.reserve(bytes).await;
        Reservation {
            _own: Some(own),
            _total: total._total,
        }
    }
}
// ANCHOR_END: stream_budget

// ANCHOR: acquire
async fn acquire(semaphore: &Arc<Semaphore>, bytes: usize) -> OwnedSemaphorePermit {
    // Validation keeps every allowance within u32; the semaphores are never
    // closed, so acquiring cannot fail.
    let permits = u32::try_from(bytes).unwrap_or(u32::MAX);
    match Arc::clone(semaphore).acquire_many_owned(permits).await {
        Ok(permit) => permit,
        Err(_) => unreachable!("the budget's semaphores are never closed"),
    }
}
// ANCHOR_END: acquire

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    // ANCHOR: test_allowance
    // A stream waits once its own allowance is held, and goes on when
    // bytes are given back; a record larger than the allowance still goes.
    #[tokio::test]
    async fn a_stream_waits_for_its_own_allowance() {
        let budget = MemoryBudget::new(1000, 100);
        let stream = budget.stream();
        let held = stream.reserve(60).await;
        let blocked = tokio::time::timeout(Duration::from_millis(50), stream.reserve(60)).await;
        assert!(blocked.is_err(), "60 + 60 bytes do not fit in 100");
        drop(held);
        let _big = stream.reserve(5000).await; // takes all 100
    }
    // ANCHOR_END: test_allowance

    // Streams share the service's total: when it is used up, every stream waits.
    #[tokio::test]
    async fn streams_share_the_total() {
        let budget = MemoryBudget::new(150, 100);
        let (a, b) = (budget.stream(), budget.stream());
        let _held = a.reserve(100).await;
        let blocked = tokio::time::timeout(Duration::from_millis(50), b.reserve(60)).await;
        assert!(blocked.is_err(), "100 + 60 bytes do not fit in 150");
        let _fits = b.reserve(50).await;
    }
}
