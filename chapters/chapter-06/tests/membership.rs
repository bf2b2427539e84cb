//! Members in one process, on real UDP sockets of 127.0.0.1: joining,
//! seeing each other's gRPC addresses, subscriptions, tags, leaving,
//! restarting, and what start refuses. Every wait has a generous deadline
//! ([`PATIENCE`]) and no test measures time: the bench does that.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::net::SocketAddr;

use chapter_06::testing::{
    PATIENCE, free_gossip_addr, member_config, next_event, next_event_about, unique_cluster_id,
    wait_for_members,
};
use chapter_06::{Error, Member, Membership, MembershipConfig, MembershipEvent};

/// Starts `ids` in order, each joining the first, and waits until each
/// sees all.
async fn cluster(ids: &[&str]) -> Vec<Membership> {
    let cluster = unique_cluster_id();
    let mut members: Vec<Membership> = Vec::new();
    for id in ids {
        let seeds: Vec<SocketAddr> = members
            .first()
            .map(|m| m.local().gossip_addr)
            .into_iter()
            .collect();
        members.push(
            Membership::start(member_config(id, &cluster, &seeds))
                .await
                .unwrap(),
        );
    }
    for member in &members {
        wait_for_members(member, ids, PATIENCE).await;
    }
    members
}

/// Starts a member on a port that a dropped member may still hold: a drop
/// closes the socket when chitchat's task next runs, not at once.
async fn start_when_the_port_is_free(config: MembershipConfig) -> Membership {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match Membership::start(config.clone()).await {
            Err(Error::Bind { .. }) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            started => return started.unwrap(),
        }
    }
}

// ANCHOR: three_join
// Three members, each joining through a different one, each end up seeing
// the other two, with the gRPC address each published.
#[tokio::test]
async fn three_members_join_and_each_sees_the_other_two_with_their_grpc_addresses() {
    let cluster = unique_cluster_id();
    let a = Membership::start(member_config("a", &cluster, &[]))
        .await
        .unwrap();
    let b = Membership::start(member_config("b", &cluster, &[a.local().gossip_addr]))
        .await
        .unwrap();
    let c = Membership::start(member_config("c", &cluster, &[b.local().gossip_addr]))
        .await
        .unwrap();
    let everyone: Vec<Member> = [&a, &b, &c].iter().map(|m| m.local().clone()).collect();
    for member in [&a, &b, &c] {
        wait_for_members(member, &["a", "b", "c"], PATIENCE).await;
        assert_eq!(
            member.members(),
            everyone,
            "as {} sees it",
            member.local().id
        );
    }
    assert_eq!(a.members()[2].rpc_addr, c.local().rpc_addr);
}
// ANCHOR_END: three_join

// ANCHOR: first_events
// A new subscription first hears a Joined for each member already live (in
// id order), then changes as they happen.
#[tokio::test]
async fn a_new_subscription_hears_a_joined_for_each_live_member_then_changes() {
    let mut members = cluster(&["a", "b", "c"]).await;
    let mut events = members[0].subscribe();
    let b = members[1].local().clone();
    let c = members[2].local().clone();
    assert_eq!(
        next_event(&mut events, PATIENCE).await,
        MembershipEvent::Joined(b)
    );
    assert_eq!(
        next_event(&mut events, PATIENCE).await,
        MembershipEvent::Joined(c.clone())
    );
    members.pop().unwrap().leave().await.unwrap();
    assert_eq!(
        next_event(&mut events, PATIENCE).await,
        MembershipEvent::Left(c)
    );
}
// ANCHOR_END: first_events

// A subscription can also be read as a Stream, with the same events.
#[tokio::test]
async fn a_subscription_is_also_a_stream() {
    use futures_util::StreamExt;
    let members = cluster(&["a", "b"]).await;
    let mut stream = std::pin::pin!(members[0].subscribe().into_stream());
    let first = tokio::time::timeout(PATIENCE, stream.next()).await.unwrap();
    assert_eq!(
        first,
        Some(MembershipEvent::Joined(members[1].local().clone()))
    );
}

// ANCHOR: leave
// A member that leaves is reported Left by the others, not Failed, and is
// no longer among their members.
#[tokio::test]
async fn leave_is_reported_as_left_not_failed() {
    let mut members = cluster(&["a", "b", "c"]).await;
    let mut at_a = members[0].subscribe();
    let mut at_b = members[1].subscribe();
    let c = members.pop().unwrap();
    let leaving = c.local().clone();
    c.leave().await.unwrap();
    for events in [&mut at_a, &mut at_b] {
        // The Joined each subscription starts with, then the departure.
        assert_eq!(
            next_event_about(events, "c", PATIENCE).await,
            MembershipEvent::Joined(leaving.clone())
        );
        assert_eq!(
            next_event_about(events, "c", PATIENCE).await,
            MembershipEvent::Left(leaving.clone())
        );
    }
    let ids: Vec<String> = members[0].members().into_iter().map(|m| m.id).collect();
    assert_eq!(ids, ["a", "b"]);
}
// ANCHOR_END: leave

// ANCHOR: drop
// Dropping a membership without leave is an abrupt stop: the others find
// it dead by silence, and report it Failed.
#[tokio::test]
async fn a_member_dropped_without_leaving_is_reported_failed() {
    let mut members = cluster(&["a", "b"]).await;
    let mut events = members[0].subscribe();
    let b = members.pop().unwrap();
    let gone = b.local().clone();
    drop(b);
    assert_eq!(
        next_event(&mut events, PATIENCE).await,
        MembershipEvent::Joined(gone.clone())
    );
    assert_eq!(
        next_event(&mut events, PATIENCE).await,
        MembershipEvent::Failed(gone)
    );
}
// ANCHOR_END: drop

// ANCHOR: restart
// A member started again with the same id (and so a new generation) is
// reported Joined again; the run before it is reported gone first.
#[tokio::test]
async fn a_member_restarted_with_the_same_id_rejoins() {
    let cluster = unique_cluster_id();
    let a = Membership::start(member_config("a", &cluster, &[]))
        .await
        .unwrap();
    let config = member_config("b", &cluster, &[a.local().gossip_addr]);
    let b = Membership::start(config.clone()).await.unwrap();
    wait_for_members(&a, &["a", "b"], PATIENCE).await;
    let mut events = a.subscribe();
    let first_run = b.local().clone();
    assert_eq!(
        next_event(&mut events, PATIENCE).await,
        MembershipEvent::Joined(first_run.clone())
    );
    drop(b);
    let b = start_when_the_port_is_free(config).await;
    let second_run = b.local().clone();
    assert!(second_run.generation > first_run.generation);
    assert_eq!(
        next_event(&mut events, PATIENCE).await,
        MembershipEvent::Failed(first_run)
    );
    assert_eq!(
        next_event(&mut events, PATIENCE).await,
        MembershipEvent::Joined(second_run)
    );
}
// ANCHOR_END: restart

// ANCHOR: set_tag
// A tag set at runtime reaches the others as Updated, and in their members().
#[tokio::test]
async fn a_tag_set_at_runtime_reaches_the_others_as_updated() {
    let mut members = cluster(&["a", "b"]).await;
    let mut events = members[0].subscribe();
    next_event(&mut events, PATIENCE).await; // Joined(b)
    members[1].set_tag("raft_id", "2").await.unwrap();
    let updated = members[1].local().clone();
    assert_eq!(
        updated.tags,
        BTreeMap::from([("raft_id".to_string(), "2".to_string())])
    );
    assert_eq!(
        next_event(&mut events, PATIENCE).await,
        MembershipEvent::Updated(updated.clone())
    );
    assert_eq!(members[0].members()[1], updated);
    let error = members[1].set_tag("raft id", "2").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "membership setting tags[\"raft id\"]: \"raft id\" contains a space or a control character"
    );
}
// ANCHOR_END: set_tag

// ANCHOR: lagging
// A subscriber that falls further behind than the event buffer is caught
// up: what it hears still adds up to the members live now, and every
// member it heard join and that is gone, it hears leave or fail.
#[tokio::test]
async fn a_subscriber_that_falls_behind_is_caught_up_to_the_live_members() {
    let cluster = unique_cluster_id();
    let mut config = member_config("a", &cluster, &[]);
    config.event_buffer = 1;
    let a = Membership::start(config).await.unwrap();
    let seed = [a.local().gossip_addr];
    let mut slow = a.subscribe();
    let mut others = Vec::new();
    for id in ["b", "c", "d", "e"] {
        others.push(
            Membership::start(member_config(id, &cluster, &seed))
                .await
                .unwrap(),
        );
    }
    wait_for_members(&a, &["a", "b", "c", "d", "e"], PATIENCE).await;
    others.pop().unwrap().leave().await.unwrap(); // e leaves
    wait_for_members(&a, &["a", "b", "c", "d"], PATIENCE).await;
    // Only now does the slow subscriber read: it has missed four Joined and
    // a Left, with room for one. What it hears must add up to b, c and d.
    let mut heard: BTreeMap<String, Member> = BTreeMap::new();
    while heard.len() != 3 {
        match next_event(&mut slow, PATIENCE).await {
            MembershipEvent::Joined(m) | MembershipEvent::Updated(m) => {
                heard.insert(m.id.clone(), m)
            }
            MembershipEvent::Left(m) | MembershipEvent::Failed(m) => heard.remove(&m.id),
        };
    }
    let expected: Vec<Member> = others.iter().map(|m| m.local().clone()).collect();
    assert_eq!(heard.into_values().collect::<Vec<_>>(), expected);
}
// ANCHOR_END: lagging

// ANCHOR: seeds
// A seed given by DNS name is resolved and joined; one that does not
// resolve is logged and retried, and the member carries on serving.
#[tokio::test]
async fn seeds_by_name_are_resolved_and_a_name_that_does_not_resolve_is_retried() {
    let cluster = unique_cluster_id();
    let a = Membership::start(member_config("a", &cluster, &[]))
        .await
        .unwrap();
    let mut config = member_config("b", &cluster, &[]);
    config.seeds = vec![
        "no-such-member.invalid:7946".to_string(),
        format!("localhost:{}", a.local().gossip_addr.port()),
    ];
    let b = Membership::start(config).await.unwrap();
    wait_for_members(&a, &["a", "b"], PATIENCE).await;
    wait_for_members(&b, &["a", "b"], PATIENCE).await;
}
// ANCHOR_END: seeds

// A seed nobody answers at does not stop a member from starting, nor from
// being joined later by others.
#[tokio::test]
async fn a_seed_nobody_answers_at_does_not_stop_the_member() {
    let cluster = unique_cluster_id();
    let nobody = free_gossip_addr();
    let a = Membership::start(member_config("a", &cluster, &[nobody]))
        .await
        .unwrap();
    let b = Membership::start(member_config("b", &cluster, &[a.local().gossip_addr]))
        .await
        .unwrap();
    wait_for_members(&a, &["a", "b"], PATIENCE).await;
    wait_for_members(&b, &["a", "b"], PATIENCE).await;
}

// Members of another cluster id never become members.
#[tokio::test]
async fn a_member_of_another_cluster_is_never_seen() {
    let cluster = unique_cluster_id();
    let a = Membership::start(member_config("a", &cluster, &[]))
        .await
        .unwrap();
    let seed = [a.local().gossip_addr];
    let stranger = Membership::start(member_config("stranger", &unique_cluster_id(), &seed))
        .await
        .unwrap();
    // A member of a's cluster joins through a and is seen: by then a has
    // gossiped for rounds with the stranger knocking at its port.
    let b = Membership::start(member_config("b", &cluster, &seed))
        .await
        .unwrap();
    wait_for_members(&a, &["a", "b"], PATIENCE).await;
    wait_for_members(&b, &["a", "b"], PATIENCE).await;
    assert_eq!(stranger.members(), [stranger.local().clone()]);
}

// ANCHOR: port_in_use
// A gossip port already in use is one clear error naming the address.
#[tokio::test]
async fn a_gossip_port_in_use_is_an_error_naming_the_address() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = MembershipConfig::new("a", addr, "127.0.0.1:8400");
    let error = Membership::start(config).await.unwrap_err();
    assert!(
        matches!(error, Error::Bind { addr: at, .. } if at == addr),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("cannot bind the gossip address {addr}/UDP: Address already in use (os error 98)")
    );
}
// ANCHOR_END: port_in_use

// A malformed seed is refused at start, before anything is bound.
#[tokio::test]
async fn a_malformed_seed_is_refused_at_start() {
    let config = member_config("a", &unique_cluster_id(), &[]).with_seeds(["proglog-1"]);
    let error = Membership::start(config).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "membership setting seeds[0]: `proglog-1` has no port (expected host:port)"
    );
}
