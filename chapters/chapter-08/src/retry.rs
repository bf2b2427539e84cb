//! Which failures are worth another try, and for how long.
//!
//! Every record the client produces carries its producer id and a sequence
//! number (chapter 7), so sending it again is always safe: a record that
//! was appended is answered with its first offset, not appended twice. So
//! the client retries whatever might succeed on another try (a server
//! down, a leader gone, an election under way, a connection cut), and
//! reports at once what would fail again (a bad request, a permission).
//!
//! ```text
//!   the failure                                  the client
//!   ─────────────────────────────────────────    ─────────────────────────────────
//!   FAILED_PRECONDITION, NOT_LEADER (+ leader)    go to that leader, at once
//!   UNAVAILABLE (server down, NO_LEADER,          pass the server over, ask for the
//!     FATE_UNKNOWN, shutting down), a broken       list again, wait a little, retry
//!     connection, a timeout
//!   anything else (INVALID_ARGUMENT,              report it: a retry would fail too
//!     PERMISSION_DENIED, OUT_OF_RANGE, ...)
//! ```

use std::time::{Duration, Instant};

use chapter_07::status::{NOT_LEADER, leader_in, reason_of};
use tonic::{Code, Status};

use crate::config::RetryPolicy;
use crate::error::Error;

// ANCHOR: next
/// What to do after a failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The server does not lead; this one does (its gRPC address).
    Redirect(String),
    /// It may work on another try (on another server, or after a pause).
    Retry,
    /// It would fail again.
    Fail,
}

/// What to do after `status`.
pub fn next_after(status: &Status) -> Next {
    if reason_of(status).as_deref() == Some(NOT_LEADER) {
        return match leader_in(status) {
            Some((_, leader)) => Next::Redirect(leader),
            None => Next::Retry,
        };
    }
    match status.code() {
        // The server (or the connection to it) is not there now; or the
        // cluster is between leaders; or the call's fate is unknown, which
        // a resend with the same sequence settles.
        Code::Unavailable
        | Code::Unknown
        | Code::Aborted
        | Code::Cancelled
        | Code::DeadlineExceeded => Next::Retry,
        // How tonic reports an HTTP/2 connection that broke mid-call.
        Code::Internal if status.message().contains("h2 protocol error") => Next::Retry,
        _ => Next::Fail,
    }
}
// ANCHOR_END: next

// ANCHOR: attempts
// ANCHOR: attempts_a
/// Counts the attempts of one call against a [`RetryPolicy`], and waits
/// between them, longer each time.
#[derive(Debug)]
pub struct Attempts {
    policy: RetryPolicy,
    started: Instant,
    failures: u32,
}

impl Attempts {
    /// The first attempt of a call, now.
    pub fn new(policy: RetryPolicy) -> Attempts {
        Attempts {
            policy,
            started: Instant::now(),
            failures: 0,
        }
    }

    /// Progress was made (a stream delivered): the count starts over.
    pub fn reset(&mut self) {
        self.started = Instant::now();
        self.failures = 0;
    }
    // ANCHOR_END: attempts_a

    // ANCHOR: failed
    /// Counts a failed attempt (`last`) and waits before the next; or
    /// gives up, if the policy's attempts or time are spent.
    ///
    /// # Errors
    /// [`Error::GaveUp`] with `last`.
    pub async fn failed(&mut self, last: Status) -> Result<(), Error> {
        self.failures += 1;
        let backoff = self
            .policy
            .first_backoff
            .saturating_mul(1 << (self.failures - 1).min(16))
            .min(self.policy.max_backoff);
        if self.failures >= self.policy.max_attempts
            || self.started.elapsed() + backoff > self.policy.give_up_after
        {
            return Err(Error::GaveUp {
                attempts: self.failures,
                elapsed: self.started.elapsed(),
                last,
            });
        }
        tokio::time::sleep(backoff).await;
        Ok(())
    }
    // ANCHOR_END: failed

    // ANCHOR: redirected
    /// Counts a redirect, which is followed at once; it is an attempt all
    /// the same (two servers that name each other must not loop forever).
    ///
    /// # Errors
    /// [`Error::GaveUp`] with `last`.
    pub fn redirected(&mut self, last: Status) -> Result<(), Error> {
        self.failures += 1;
        if self.failures >= self.policy.max_attempts
            || self.started.elapsed() > self.policy.give_up_after
        {
            return Err(Error::GaveUp {
                attempts: self.failures,
                elapsed: self.started.elapsed(),
                last,
            });
        }
        Ok(())
    }
    // ANCHOR_END: redirected

    // ANCHOR: time_for_next
    /// How long the next attempt may wait for its answer: `attempt_timeout`
    /// ([`ClientConfig::attempt_timeout`](crate::ClientConfig::attempt_timeout)),
    /// or less if the call's time runs out sooner, so that no attempt
    /// takes a call past `give_up_after`.
    pub fn time_for_next(&self, attempt_timeout: Duration) -> Duration {
        let left = self
            .policy
            .give_up_after
            .saturating_sub(self.started.elapsed());
        attempt_timeout.min(left)
    }
    // ANCHOR_END: time_for_next
}
// ANCHOR_END: attempts

// ANCHOR: no_leader_known
/// The status a call "fails" with when no leader is known yet.
pub fn no_leader_known() -> Status {
    Status::unavailable("no leader is known yet (an election may be under way)")
}
// ANCHOR_END: no_leader_known

#[cfg(test)]
mod tests {
    use super::*;

    // ANCHOR: test_next
    // Only a retry can tell: what might work again is retried, what would
    // fail again is not.
    #[test]
    fn retries_what_might_work_next_time() {
        assert_eq!(
            next_after(&Status::unavailable("connection refused")),
            Next::Retry
        );
        assert_eq!(next_after(&Status::aborted("aborted")), Next::Retry);
        assert_eq!(
            next_after(&Status::internal("h2 protocol error: broken pipe")),
            Next::Retry
        );
        assert_eq!(next_after(&Status::internal("a bug")), Next::Fail);
        assert_eq!(next_after(&Status::permission_denied("nobody")), Next::Fail);
        assert_eq!(next_after(&Status::out_of_range("offset 9")), Next::Fail);
        let node = chapter_07::types::Node {
            rpc_addr: "127.0.0.1:9".into(),
        };
        let not_leader = chapter_07::status::not_leader((2, &node));
        assert_eq!(
            next_after(&not_leader),
            Next::Redirect("127.0.0.1:9".into())
        );
    }
    // ANCHOR_END: test_next

    // ANCHOR: test_attempts
    // The pauses double, and the policy's time or attempts run out.
    #[tokio::test(start_paused = true)]
    async fn gives_up_when_the_policy_is_spent() {
        let policy = RetryPolicy {
            max_attempts: 4,
            give_up_after: Duration::from_secs(60),
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        let mut attempts = Attempts::new(policy);
        let started = tokio::time::Instant::now();
        for _ in 0..3 {
            attempts.failed(Status::unavailable("down")).await.unwrap();
        }
        assert_eq!(started.elapsed(), Duration::from_millis(100 + 200 + 400));
        let gave_up = attempts
            .failed(Status::unavailable("still down"))
            .await
            .unwrap_err();
        assert!(
            matches!(gave_up, Error::GaveUp { attempts: 4, .. }),
            "{gave_up}"
        );
    }
    // ANCHOR_END: test_attempts

    // No attempt outlives its call: near the end of the call's time, the
    // attempt gets what is left.
    #[test]
    fn an_attempt_gets_at_most_the_time_left() {
        let policy = RetryPolicy {
            give_up_after: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        let attempts = Attempts::new(policy);
        assert!(attempts.time_for_next(Duration::from_secs(3)) <= Duration::from_secs(1));
        let generous = Attempts::new(RetryPolicy::default());
        assert_eq!(
            generous.time_for_next(Duration::from_secs(3)),
            Duration::from_secs(3)
        );
    }
}
