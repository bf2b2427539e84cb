//! A member in a process of its own, killed with SIGKILL: no destructor
//! runs, no goodbye is sent, the socket just goes quiet, exactly as when a
//! machine dies. The others must find out by themselves (the failure
//! detector) and report it `Failed`; started again with the same id, it
//! must be reported `Joined` again. And the same process, asked to leave
//! instead, must be reported `Left`.
//!
//! The member process is this test binary, started again with
//! `chapter_06::testing::MEMBER_ID_ENV` set (`harness = false` in
//! Cargo.toml: this file has its own `main`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chapter_06::testing::{
    MemberProcess, PATIENCE, member_config, next_event_about, run_member_if_asked,
    unique_cluster_id, wait_for_members,
};
use chapter_06::{Membership, MembershipEvent};

fn main() {
    run_member_if_asked();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(kill_9_is_reported_failed_and_a_restart_rejoins());
    println!("process: kill_9_is_reported_failed_and_a_restart_rejoins ... ok");
    runtime.block_on(a_member_process_that_leaves_is_reported_left());
    println!("process: a_member_process_that_leaves_is_reported_left ... ok");
    println!("process: 2 passed, 0 failed");
}

// ANCHOR: kill_9
// ANCHOR: kill_9_setup
// kill -9 of a member process is reported Failed by the others; the same
// id started again is reported Joined, as a new generation.
async fn kill_9_is_reported_failed_and_a_restart_rejoins() {
    let cluster = unique_cluster_id();
    let a = Membership::start(member_config("a", &cluster, &[]))
        .await
        .unwrap();
    let seed = [a.local().gossip_addr];
    let b = Membership::start(member_config("b", &cluster, &seed))
        .await
        .unwrap();
    let c_config = member_config("c", &cluster, &seed);
    let c = MemberProcess::start(&c_config);
    let first_run = c.generation;
    let (mut at_a, mut at_b) = (a.subscribe(), b.subscribe());
    for events in [&mut at_a, &mut at_b] {
        let joined = next_event_about(events, "c", PATIENCE).await;
        assert!(
            matches!(&joined, MembershipEvent::Joined(m) if m.generation == first_run),
            "{joined:?}"
        );
    }
    // ANCHOR_END: kill_9_setup

    // ANCHOR: kill_9_check
    c.kill();
    for events in [&mut at_a, &mut at_b] {
        let failed = next_event_about(events, "c", PATIENCE).await;
        assert!(
            matches!(&failed, MembershipEvent::Failed(m) if m.generation == first_run),
            "{failed:?}"
        );
    }

    let c = MemberProcess::start(&c_config);
    assert!(c.generation > first_run);
    for events in [&mut at_a, &mut at_b] {
        let joined = next_event_about(events, "c", PATIENCE).await;
        let MembershipEvent::Joined(member) = joined else {
            panic!("expected c to rejoin, got {joined:?}");
        };
        assert_eq!(member.generation, c.generation);
        assert_eq!(member.rpc_addr, c_config.rpc_addr);
        assert_eq!(member.gossip_addr, c_config.gossip_addr);
    }
    wait_for_members(&a, &["a", "b", "c"], PATIENCE).await;
}
// ANCHOR_END: kill_9_check
// ANCHOR_END: kill_9

// A member process asked to leave is reported Left, not Failed.
async fn a_member_process_that_leaves_is_reported_left() {
    let cluster = unique_cluster_id();
    let a = Membership::start(member_config("a", &cluster, &[]))
        .await
        .unwrap();
    let c = MemberProcess::start(&member_config("c", &cluster, &[a.local().gossip_addr]));
    let mut events = a.subscribe();
    let joined = next_event_about(&mut events, "c", PATIENCE).await;
    assert!(matches!(joined, MembershipEvent::Joined(_)), "{joined:?}");
    // `leave` blocks this thread until the process exits; the member's
    // own gossip rounds carry the news meanwhile.
    let exited_cleanly = tokio::task::spawn_blocking(move || c.leave())
        .await
        .unwrap();
    assert!(exited_cleanly, "the member process did not leave cleanly");
    let left = next_event_about(&mut events, "c", PATIENCE).await;
    assert!(matches!(left, MembershipEvent::Left(_)), "{left:?}");
}
