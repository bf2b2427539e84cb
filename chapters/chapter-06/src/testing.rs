//! Test support (feature `testing`): members on free ports of 127.0.0.1 in
//! a cluster of their own, a member as a real child process (to kill it
//! with SIGKILL), and waiting for events with a deadline.
//!
//! The child process is the test executable itself, started again with
//! [`MEMBER_ID_ENV`] set: a test's `main` (or the acceptance runner's)
//! calls [`run_member_if_asked`] first, which then runs a member instead of
//! the tests, as chapter 5's tests re-run themselves as `proglog`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test support: a failure is a failed test

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::{Membership, MembershipConfig, MembershipEvent, Subscription};

/// Set in a child process's environment: the member id it runs as.
pub const MEMBER_ID_ENV: &str = "PROGLOG_TESTING_MEMBER_ID";
/// The child's gossip address.
pub const MEMBER_GOSSIP_ENV: &str = "PROGLOG_TESTING_MEMBER_GOSSIP_ADDR";
/// The child's gRPC address (published, not served).
pub const MEMBER_RPC_ENV: &str = "PROGLOG_TESTING_MEMBER_RPC_ADDR";
/// The child's seeds, separated by commas.
pub const MEMBER_SEEDS_ENV: &str = "PROGLOG_TESTING_MEMBER_SEEDS";
/// The child's cluster id.
pub const MEMBER_CLUSTER_ENV: &str = "PROGLOG_TESTING_MEMBER_CLUSTER";

/// A deadline for things that take a second or two: generous, because a
/// loaded machine is slow, and a test must not fail for being slow.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A UDP port of 127.0.0.1 that was free when asked (the member binds it
/// next): chapter 5's [`free_addr`](chapter_05::testing::free_addr), which
/// takes ports free for TCP and UDP alike, below the kernel's ephemeral
/// range.
pub fn free_gossip_addr() -> SocketAddr {
    chapter_05::testing::free_addr()
}

/// A cluster id no other test uses, so that tests running side by side (or
/// a port reused between them) never gossip with each other.
pub fn unique_cluster_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    format!(
        "test-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A member `id` of `cluster` on a free port, joining `seeds`, with the
/// default timings. Its `rpc_addr` is `ID.rpc.test:PORT` (PORT: its gossip
/// port): published, not served, since nothing in this chapter dials it,
/// and unlike any gossip address, so a test cannot confuse the two.
pub fn member_config(id: &str, cluster: &str, seeds: &[SocketAddr]) -> MembershipConfig {
    let gossip_addr = free_gossip_addr();
    let rpc_addr = format!("{id}.rpc.test:{}", gossip_addr.port());
    let mut config = MembershipConfig::new(id, gossip_addr, rpc_addr)
        .with_seeds(seeds.iter().map(ToString::to_string));
    config.cluster_id = cluster.to_string();
    config
}

/// The next event, within `within`.
///
/// # Panics
/// If none comes in time, or the membership stops.
pub async fn next_event(subscription: &mut Subscription, within: Duration) -> MembershipEvent {
    match tokio::time::timeout(within, subscription.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the membership stopped"),
        Err(_) => panic!("no membership event within {within:?}"),
    }
}

/// The next event about `id` (events about others are passed over), within `within`.
///
/// # Panics
/// If none comes in time, or the membership stops.
pub async fn next_event_about(
    subscription: &mut Subscription,
    id: &str,
    within: Duration,
) -> MembershipEvent {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = next_event(subscription, left).await;
        if event.member().id == id {
            return event;
        }
    }
}

/// Waits, on a fresh subscription, until `membership` holds exactly the
/// members `ids` (itself included) alive.
///
/// # Panics
/// If that does not happen within `within`.
pub async fn wait_for_members(membership: &Membership, ids: &[&str], within: Duration) {
    let expected: BTreeSet<String> = ids
        .iter()
        .filter(|id| **id != membership.local().id)
        .map(ToString::to_string)
        .collect();
    let mut subscription = membership.subscribe();
    let mut live = BTreeSet::new();
    let deadline = Instant::now() + within;
    while live != expected {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = match tokio::time::timeout(left, subscription.recv()).await {
            Ok(Some(event)) => event,
            _ => panic!(
                "{} sees {live:?}, not {expected:?}, after {within:?}",
                membership.local().id
            ),
        };
        match event {
            MembershipEvent::Joined(member) => live.insert(member.id),
            MembershipEvent::Updated(_) => continue,
            MembershipEvent::Left(member) | MembershipEvent::Failed(member) => {
                live.remove(&member.id)
            }
        };
    }
}

/// Call first in a test's `main`: when this process was started by
/// [`MemberProcess::start`], it runs the member and exits.
pub fn run_member_if_asked() {
    let Ok(id) = std::env::var(MEMBER_ID_ENV) else {
        return;
    };
    chapter_05::observability::init_tracing(chapter_05::cli::LogFormat::Text);
    let env = |name: &str| std::env::var(name).expect(name);
    let mut config = MembershipConfig::new(
        id,
        env(MEMBER_GOSSIP_ENV).parse().expect("a gossip address"),
        env(MEMBER_RPC_ENV),
    )
    .with_seeds(env(MEMBER_SEEDS_ENV).split(',').filter(|s| !s.is_empty()));
    config.cluster_id = env(MEMBER_CLUSTER_ENV);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let code = runtime.block_on(async move {
        let membership = match Membership::start(config).await {
            Ok(membership) => membership,
            Err(error) => {
                eprintln!("member: {error}");
                return 1;
            }
        };
        println!("started {}", membership.local().generation);
        std::io::stdout().flush().expect("stdout");
        // Any line, or the end of standard input (the parent has gone),
        // makes the member leave gracefully; SIGKILL gives it no chance.
        let _ =
            tokio::task::spawn_blocking(|| std::io::stdin().lock().read_line(&mut String::new()))
                .await;
        match membership.leave().await {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("member: {error}");
                1
            }
        }
    });
    std::process::exit(code);
}

/// A member running as a child process (this test executable, re-run).
/// Killed when dropped.
#[derive(Debug)]
pub struct MemberProcess {
    /// The member's generation, as it printed it.
    pub generation: u64,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl MemberProcess {
    /// Starts a member with `config`'s id, addresses, seeds and cluster (the
    /// timings are the defaults), and waits (up to [`PATIENCE`]) until it
    /// is gossiping.
    pub fn start(config: &MembershipConfig) -> MemberProcess {
        let mut child = Command::new(std::env::current_exe().expect("the test executable"))
            .env(MEMBER_ID_ENV, &config.node_id)
            .env(MEMBER_GOSSIP_ENV, config.gossip_addr.to_string())
            .env(MEMBER_RPC_ENV, &config.rpc_addr)
            .env(MEMBER_SEEDS_ENV, config.seeds.join(","))
            .env(MEMBER_CLUSTER_ENV, &config.cluster_id)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the member process starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("a stdout pipe");
        // Read the first line on a thread, so that a child that never prints
        // cannot hang the test past its deadline.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(PATIENCE)
            .expect("the member process says it started");
        let generation = line
            .strip_prefix("started ")
            .and_then(|generation| generation.trim().parse().ok())
            .unwrap_or_else(|| panic!("the member process did not start: {line:?}"));
        MemberProcess {
            generation,
            child,
            stdin,
        }
    }

    /// Kills the member with SIGKILL: no leave, no goodbye, the socket just
    /// goes quiet. Waits for the process to be gone.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the killed member is reaped");
    }

    /// Asks the member to leave gracefully and waits (up to [`PATIENCE`])
    /// for it to exit; returns whether it exited with status 0.
    pub fn leave(mut self) -> bool {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"leave\n");
        }
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("waiting for the member") {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for MemberProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
