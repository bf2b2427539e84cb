//! Steps for `features/chapter-06-membership.feature`: members of one
//! cluster on real UDP sockets of 127.0.0.1, in this process or each in a
//! process of its own (this test executable re-run as a member; see
//! `chapter_06::testing`), and the events each in-process member hears.

use chapter_06::MembershipEvent;
use chapter_06::testing::{PATIENCE, wait_for_members};
use cucumber::{given, then, when};

use crate::world::ProglogWorld;

#[given(expr = "member {string} is running alone")]
async fn alone(world: &mut ProglogWorld, id: String) {
    world.membership.start(&id, None).await;
}

#[when(expr = "{string} joins through {string}")]
async fn joins_through(world: &mut ProglogWorld, id: String, through: String) {
    world.membership.start(&id, Some(&through)).await;
}

#[then(expr = "every member sees {string}, {string} and {string} with their gRPC addresses")]
async fn everyone_sees(world: &mut ProglogWorld, a: String, b: String, c: String) {
    let ids = [a.as_str(), b.as_str(), c.as_str()];
    let everyone: Vec<_> = ids
        .iter()
        .map(|id| world.membership.published(id))
        .collect();
    for id in ids {
        let member = world.membership.member(id);
        wait_for_members(member, &ids, PATIENCE).await;
        assert_eq!(member.members(), everyone, "as {id} sees it");
    }
}

#[given(expr = "members {string}, {string} and {string} see each other")]
async fn three_see_each_other(world: &mut ProglogWorld, a: String, b: String, c: String) {
    world.membership.start(&a, None).await;
    world.membership.start(&b, Some(&a)).await;
    world.membership.start(&c, Some(&a)).await;
    let ids = [a.as_str(), b.as_str(), c.as_str()];
    for id in ids {
        wait_for_members(world.membership.member(id), &ids, PATIENCE).await;
    }
}

#[given(
    expr = "members {string} and {string}, and {string} in a process of its own, see each other"
)]
async fn two_and_a_process(world: &mut ProglogWorld, a: String, b: String, c: String) {
    world.membership.start(&a, None).await;
    world.membership.start(&b, Some(&a)).await;
    world.membership.start_process(&c, Some(&a));
    let ids = [a.as_str(), b.as_str(), c.as_str()];
    for id in [&a, &b] {
        wait_for_members(world.membership.member(id), &ids, PATIENCE).await;
    }
}

#[when(expr = "{string} leaves the cluster")]
async fn leaves(world: &mut ProglogWorld, id: String) {
    let membership = world.membership.members.remove(&id).unwrap();
    membership.leave().await.unwrap();
}

#[when(expr = "the process of {string} is killed with SIGKILL")]
fn killed(world: &mut ProglogWorld, id: String) {
    world
        .membership
        .previous_runs
        .insert(id.clone(), world.membership.published(&id));
    world.membership.processes.remove(&id).unwrap().kill();
}

#[when(expr = "{string} is started again in a process of its own, with the same id")]
fn started_again(world: &mut ProglogWorld, id: String) {
    world.membership.start_process(&id, None);
}

/// The first event `watcher` hears about `about` after it heard it join.
async fn after_joined(world: &mut ProglogWorld, watcher: &str, about: &str) -> MembershipEvent {
    let joined = world.membership.next_about(watcher, about).await;
    assert!(
        matches!(joined, MembershipEvent::Joined(_)),
        "{watcher} heard {joined:?}"
    );
    world.membership.next_about(watcher, about).await
}

#[then(expr = "{string} and {string} see {string} leave")]
async fn see_leave(world: &mut ProglogWorld, a: String, b: String, gone: String) {
    for watcher in [&a, &b] {
        let event = after_joined(world, watcher, &gone).await;
        assert!(
            matches!(&event, MembershipEvent::Left(m) if m.id == gone),
            "{watcher} heard {event:?}"
        );
        let ids: Vec<String> = world
            .membership
            .member(watcher)
            .members()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert!(
            !ids.contains(&gone),
            "{watcher} still has {gone} among {ids:?}"
        );
    }
}

#[then(expr = "{string} and {string} see {string} fail")]
async fn see_fail(world: &mut ProglogWorld, a: String, b: String, gone: String) {
    let run = world.membership.previous_runs[&gone].clone();
    for watcher in [&a, &b] {
        let event = after_joined(world, watcher, &gone).await;
        assert_eq!(
            event,
            MembershipEvent::Failed(run.clone()),
            "as {watcher} heard it"
        );
    }
}

#[then(expr = "{string} and {string} see {string} join again, as a new run")]
async fn see_rejoin(world: &mut ProglogWorld, a: String, b: String, back: String) {
    let first = world.membership.previous_runs[&back].clone();
    let second = world.membership.published(&back);
    assert!(second.generation > first.generation);
    for watcher in [&a, &b] {
        let event = after_joined(world, watcher, &back).await;
        assert_eq!(
            event,
            MembershipEvent::Failed(first.clone()),
            "as {watcher} heard it"
        );
        let event = world.membership.next_about(watcher, &back).await;
        assert_eq!(
            event,
            MembershipEvent::Joined(second.clone()),
            "as {watcher} heard it"
        );
    }
}
