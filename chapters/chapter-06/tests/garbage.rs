//! A stranger at the gossip port. Gossip is UDP with no authentication, so
//! anyone who can reach the port can send anything. This test plays the
//! stranger: it sends random bytes, and real gossip packets damaged at
//! random, and checks that the members log and drop what they cannot read,
//! never panic, report nothing, and go on serving. It also shows the other
//! side of "no authentication": a stranger who sends one well-formed packet
//! is answered with the whole membership, gRPC addresses included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chapter_06::testing::{
    PATIENCE, member_config, next_event, unique_cluster_id, wait_for_members,
};
use chapter_06::{Membership, MembershipEvent};
use tokio::net::UdpSocket;

/// How many datagrams of each kind the stranger sends.
const DATAGRAMS: usize = 200;

/// What the members log, kept to be read by the test.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// How many logged lines contain `text`.
    fn count(&self, text: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|line| line.contains(text))
            .count()
    }
}

// ANCHOR: garbage_setup
// Garbage and damaged packets from a stranger are logged and dropped: no
// panic, no event, no change to the members, and the members go on serving.
// (`current_thread`: every task runs on this thread, where the logs are
// captured.)
#[tokio::test(flavor = "current_thread")]
async fn garbage_from_a_stranger_is_logged_and_dropped_and_changes_nothing() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _capture = tracing::subscriber::set_default(subscriber);
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("random seed: {seed}");
    let mut random = xorshift(seed);

    let cluster = unique_cluster_id();
    let a = Membership::start(member_config("a", &cluster, &[]))
        .await
        .unwrap();
    let target = a.local().gossip_addr;
    let b = Membership::start(member_config("b", &cluster, &[target]))
        .await
        .unwrap();
    wait_for_members(&a, &["a", "b"], PATIENCE).await;
    let mut events = a.subscribe();
    assert!(matches!(
        next_event(&mut events, PATIENCE).await,
        MembershipEvent::Joined(_)
    ));
    let members_before = a.members();

    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let real = real_gossip_packet(&stranger, &cluster).await;
    let magic = [real[0], real[1]];
    // ANCHOR_END: garbage_setup

    // ANCHOR: garbage_answer
    // A real packet, undamaged, is answered with the members' published
    // state: gRPC addresses included (the delta is compressed, so look for
    // the key, and for whichever address the compressor left whole).
    // Gossip hides nothing from anyone who asks.
    stranger.send_to(&real, target).await.unwrap();
    let answer = receive(&stranger, target).await;
    let contains = |text: &str| {
        answer
            .windows(text.len())
            .any(|window| window == text.as_bytes())
    };
    assert!(contains("rpc_addr"));
    assert!(contains(&a.local().rpc_addr) || contains(&b.local().rpc_addr));
    // ANCHOR_END: garbage_answer

    // ANCHOR: garbage_send
    // Random bytes that cannot be gossip (they do not start with chitchat's
    // magic number), then real packets with random bytes changed or cut off.
    let before = logs.count("invalid-chitchat-payload");
    for i in 0..DATAGRAMS {
        let len = (random() % 512) as usize;
        let mut garbage: Vec<u8> = (0..len).map(|_| random() as u8).collect();
        if garbage.len() >= 2 && garbage[..2] == magic {
            garbage[0] ^= 0xff;
        }
        stranger.send_to(&garbage, target).await.unwrap();
        pace(i).await;
    }
    for i in 0..DATAGRAMS {
        let mut damaged = real.clone();
        for _ in 0..1 + random() % 4 {
            let at = 2 + (random() as usize) % (damaged.len() - 2);
            damaged[at] = random() as u8;
        }
        if random().is_multiple_of(3) {
            damaged.truncate(2 + (random() as usize) % (damaged.len() - 2));
        }
        stranger.send_to(&damaged, target).await.unwrap();
        pace(i).await;
    }
    // ANCHOR_END: garbage_send

    // ANCHOR: garbage_check
    // Every datagram that cannot be gossip was logged as such.
    let deadline = Instant::now() + PATIENCE;
    while logs.count("invalid-chitchat-payload") < before + DATAGRAMS {
        assert!(
            Instant::now() < deadline,
            "not every garbage datagram was logged"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Still serving: a new member joins through a, and it is the next and
    // only thing a's subscriber hears about.
    let c = Membership::start(member_config("c", &cluster, &[target]))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut events, PATIENCE).await,
        MembershipEvent::Joined(c.local().clone())
    );
    wait_for_members(&b, &["a", "b", "c"], PATIENCE).await;
    let mut members_now = a.members();
    members_now.retain(|member| member.id != "c");
    assert_eq!(members_now, members_before);
    assert_eq!(logs.count("panicked"), 0);
}
// ANCHOR_END: garbage_check

/// A real gossip packet of `cluster`: a member whose only seed is the
/// stranger's socket sends it one (a SYN, with its digest) every round.
async fn real_gossip_packet(stranger: &UdpSocket, cluster: &str) -> Vec<u8> {
    let addr = stranger.local_addr().unwrap();
    let talker = Membership::start(member_config("talker", cluster, &[addr]))
        .await
        .unwrap();
    let packet = receive(stranger, talker.local().gossip_addr).await;
    drop(talker);
    packet
}

/// The next datagram at `socket` from `from`, within [`PATIENCE`].
async fn receive(socket: &UdpSocket, from: SocketAddr) -> Vec<u8> {
    let mut buf = vec![0u8; 65_536];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (len, sender) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .expect("a datagram in time")
            .unwrap();
        if sender == from {
            buf.truncate(len);
            return buf;
        }
    }
}

/// Lets the member read what was sent every few datagrams, so that the
/// socket's receive buffer never overflows (the test counts every one).
async fn pace(i: usize) {
    if i % 8 == 7 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A small deterministic pseudo-random generator, seeded (and the seed printed).
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
