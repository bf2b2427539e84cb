//! A time limit on every attempt: a server that does not answer in time
//! has failed it.
//!
//! A server that is down refuses a connection, and a call to it fails at
//! once. A server behind a network partition does not: the packets to it
//! are dropped, nothing comes back, not even a refusal, and a call on a
//! connection made before the partition waits for an answer that never
//! comes. The client's HTTP/2 pings notice the dead connection within
//! seconds (chapter 3's `endpoint_to`), but a call must not depend on
//! that alone: a server that answers pings and not calls would hold it
//! forever. So every attempt of a call is given
//! [`attempt_timeout`](crate::ClientConfig::attempt_timeout), and one that
//! runs out fails as a broken connection does, `DEADLINE_EXCEEDED`, which
//! [`next_after`](crate::retry::next_after) retries: the server is passed
//! over, the list asked for again, and the call tries the next server.
//!
//! ```text
//!   t = 0   Produce ─▶ node 1 (leader; cut off a moment ago)    ... no answer
//!   t = 3 s the attempt runs out: pass node 1 over, ask node 2 for the list
//!           Produce ─▶ node 2 ◀─ NOT_LEADER, node 3   (elected meanwhile)
//!           Produce ─▶ node 3 ◀─ its offset
//! ```

use std::future::Future;
use std::time::Duration;

use tonic::Status;

// ANCHOR: within
/// The outcome of `attempt`, or `DEADLINE_EXCEEDED` if it takes longer
/// than `limit` (then the attempt is dropped: its call is cancelled).
///
/// # Errors
/// The attempt's own status, or `DEADLINE_EXCEEDED`.
pub async fn within<T>(
    limit: Duration,
    attempt: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    tokio::time::timeout(limit, attempt)
        .await
        .unwrap_or_else(|_| Err(no_answer_within(limit)))
}

/// The status of an attempt that got no answer within `limit`.
pub fn no_answer_within(limit: Duration) -> Status {
    Status::deadline_exceeded(format!("no answer within {limit:?}"))
}
// ANCHOR_END: within

#[cfg(test)]
mod tests {
    use super::*;

    // ANCHOR: test_within
    // An attempt that never ends fails at its limit, and the failure is
    // one that is retried.
    #[tokio::test(start_paused = true)]
    async fn an_attempt_without_an_answer_fails_at_its_limit() {
        let started = tokio::time::Instant::now();
        let never = std::future::pending::<Result<(), Status>>();
        let status = within(Duration::from_secs(3), never).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert_eq!(crate::retry::next_after(&status), crate::retry::Next::Retry);
        let answered = within(Duration::from_secs(3), async { Ok::<_, Status>(7) });
        assert_eq!(answered.await.unwrap(), 7);
    }
    // ANCHOR_END: test_within
}
