//! What a client of the cluster is told: where to start, how to speak TLS,
//! and how hard to try.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

// ANCHOR: config
/// Everything a [`Client`](crate::Client) needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Where to ask for the list of servers first (`host:port` of any
    /// servers of the cluster): one that answers is enough.
    pub seeds: Vec<String>,
    /// The TLS configuration: the CA to trust and the client's certificate
    /// (`None`: plaintext, for a server run with `--insecure`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The name every server's certificate must carry; `None`: the host of
    /// the server's own address.
    pub server_name: Option<String>,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// How long one attempt of a call may wait for its answer (a stream:
    /// for its next acknowledgement) before it counts as failed, and the
    /// call tries again elsewhere. A server cut off by the network does
    /// not refuse a call, it never answers it: without this, a call to a
    /// leader behind a partition would wait for it, and never try the new
    /// one. Shorter than the retry's `give_up_after`, to leave time for
    /// more attempts; longer than a busy cluster's slowest answer.
    pub attempt_timeout: Duration,
    /// How often the list of servers is asked for again, failures or not.
    pub refresh_every: Duration,
    /// How long a server that failed a call is passed over: by reads, and
    /// by writes while it is the leader (another server is asked who leads).
    pub pass_over_for: Duration,
    /// How many records a [`produce_stream`](crate::Client::produce_stream)
    /// keeps in flight (sent, not yet acknowledged): a cluster answers
    /// after a round trip to a majority, so it takes thousands to keep it
    /// busy. At most chapter 7's window of sequences, so that all of them
    /// can be resent after a failover.
    pub window: usize,
    /// When to give up.
    pub retry: RetryPolicy,
}
// ANCHOR_END: config

// ANCHOR: retry_policy
/// How hard a call tries before it reports failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The most attempts for one call (or, for a stream, since it last
    /// made progress).
    pub max_attempts: u32,
    /// The most time for one call (or since a stream last made progress).
    pub give_up_after: Duration,
    /// The pause after the first failure; it doubles after each next one.
    pub first_backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Long enough to ride out an election (under a second with chapter
    /// 7's timing) many times over: 10 s, or 200 attempts. The pauses stay
    /// short (10 ms, doubling to 100 ms): a new leader is found within a
    /// pause of being elected, and what the client asks in the meantime
    /// (who leads?) costs a server next to nothing.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 200,
            give_up_after: Duration::from_secs(10),
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
        }
    }
}
// ANCHOR_END: retry_policy

// ANCHOR: new
impl ClientConfig {
    /// A client of the cluster that `seeds` belong to, with the defaults.
    pub fn new(
        seeds: impl IntoIterator<Item = impl Into<String>>,
        tls: impl Into<Option<Arc<rustls::ClientConfig>>>,
    ) -> ClientConfig {
        ClientConfig {
            seeds: seeds.into_iter().map(Into::into).collect(),
            tls: tls.into(),
            server_name: None,
            connect_timeout: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(3),
            refresh_every: Duration::from_secs(5),
            pass_over_for: Duration::from_secs(1),
            window: 8192,
            retry: RetryPolicy::default(),
        }
    }
    // ANCHOR_END: new

    // ANCHOR: validate
    /// Refuses a configuration that cannot work.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`], saying what is wrong.
    pub fn validate(&self) -> Result<()> {
        let window = chapter_07::producers::WINDOW;
        if self.seeds.is_empty() {
            return Err(Error::InvalidConfig(
                "no seed address: give at least one server".into(),
            ));
        }
        if self.window == 0 || self.window as u64 > window {
            return Err(Error::InvalidConfig(format!(
                "window is {}: it must be between 1 and {window} (the records a server remembers per producer)",
                self.window
            )));
        }
        if self.attempt_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "attempt_timeout must be longer than 0".into(),
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(Error::InvalidConfig(
                "max_attempts must be at least 1".into(),
            ));
        }
        Ok(())
    }
    // ANCHOR_END: validate
}
