//! Steps for `features/chapter-07-consensus.feature`: a cluster of node
//! processes on 127.0.0.1 (see `chapter_07::testing`), produced to and
//! read from over mutual TLS as `root`.

use std::time::Duration;

use chapter_02::api::v1::{ProduceRequest, Record};
use chapter_07::status::{NOT_LEADER, leader_in, reason_of};
use chapter_07::testing::{TestCluster, records_of, wait_for_records};
use cucumber::{given, then, when};
use tonic::Code;

use crate::world::ProglogWorld;

const SETTLE: Duration = Duration::from_secs(30);

fn produce(value: Vec<u8>) -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value,
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

/// Produces `count` new records to the leader, one call each, and keeps
/// what it acknowledged.
async fn produce_to_leader(world: &mut ProglogWorld, count: usize) {
    let scenario = &mut world.cluster;
    let cluster = scenario
        .cluster
        .as_ref()
        .expect("the scenario started a cluster");
    let leader = &cluster.nodes[cluster.leader(SETTLE).await];
    let mut client = leader.client().await;
    let first = scenario.acknowledged.len();
    for i in first..first + count {
        let value = format!("record-{i}").into_bytes();
        let offset = client
            .produce(produce(value.clone()))
            .await
            .unwrap()
            .into_inner()
            .offset;
        scenario.acknowledged.push((offset, value));
    }
}

/// The values acknowledged, in offset order.
fn acknowledged_values(world: &ProglogWorld) -> Vec<Vec<u8>> {
    let mut acknowledged = world.cluster.acknowledged.clone();
    acknowledged.sort();
    acknowledged.into_iter().map(|(_, value)| value).collect()
}

#[given(expr = "a cluster of {int} servers")]
async fn a_cluster(world: &mut ProglogWorld, size: u64) {
    world.cluster.cluster = Some(TestCluster::start(size, |_| {}).await);
}

#[given(expr = "{int} records were produced to the leader")]
#[when(expr = "{int} records are produced to the leader")]
async fn records_produced(world: &mut ProglogWorld, count: usize) {
    produce_to_leader(world, count).await;
}

#[then(expr = "the leader acknowledged them at offsets {int} to {int}")]
async fn acknowledged_at(world: &mut ProglogWorld, first: u64, last: u64) {
    let offsets: Vec<u64> = world
        .cluster
        .acknowledged
        .iter()
        .map(|(offset, _)| *offset)
        .collect();
    assert_eq!(offsets, (first..=last).collect::<Vec<_>>());
}

#[then(expr = "every server holds the {int} records at the same offsets")]
#[then(expr = "every running server holds the {int} records at the same offsets")]
async fn every_server_holds(world: &mut ProglogWorld, count: usize) {
    let expected = acknowledged_values(world);
    assert_eq!(expected.len(), count);
    let cluster = world.cluster.cluster();
    for node in cluster.running() {
        let records = wait_for_records(node, count, SETTLE).await;
        assert_eq!(records, expected, "server {}", node.spec.id);
    }
}

#[then(expr = "a follower serves the {int} records")]
async fn a_follower_serves(world: &mut ProglogWorld, count: usize) {
    let expected = acknowledged_values(world);
    let cluster = world.cluster.cluster();
    let leader = cluster.leader(SETTLE).await;
    let follower = (leader + 1) % cluster.nodes.len();
    let records = wait_for_records(&cluster.nodes[follower], count, SETTLE).await;
    assert_eq!(records, expected);
    world.cluster.picked = Some(follower);
}

#[then(
    expr = "a record produced to a follower is refused with NOT_LEADER and the leader's address"
)]
async fn refused_by_a_follower(world: &mut ProglogWorld) {
    let cluster = world.cluster.cluster.as_ref().expect("a cluster");
    let leader = &cluster.nodes[cluster.leader(SETTLE).await];
    let follower = &cluster.nodes[world.cluster.picked.expect("a follower was picked")];
    let refused = follower
        .client()
        .await
        .produce(produce(b"refused".to_vec()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(reason_of(&refused).as_deref(), Some(NOT_LEADER));
    assert_eq!(
        leader_in(&refused),
        Some((leader.spec.id, leader.spec.rpc_addr.to_string()))
    );
}

#[then("the refused record was not appended")]
async fn not_appended(world: &mut ProglogWorld) {
    let before = world.cluster.acknowledged.len() as u64;
    produce_to_leader(world, 1).await;
    let (offset, _) = world.cluster.acknowledged.last().cloned().unwrap();
    assert_eq!(
        offset, before,
        "the next record follows the acknowledged ones directly"
    );
    let cluster = world.cluster.cluster();
    for node in cluster.running() {
        let records = wait_for_records(node, before as usize + 1, SETTLE).await;
        assert!(
            !records.contains(&b"refused".to_vec()),
            "server {}",
            node.spec.id
        );
    }
}

#[when("the leader is killed with SIGKILL")]
async fn kill_the_leader(world: &mut ProglogWorld) {
    let cluster = world.cluster.cluster();
    let leader = cluster.leader(SETTLE).await;
    cluster.nodes[leader].kill();
    world.cluster.picked = Some(leader);
}

#[then("one of the other two servers leads")]
async fn another_leads(world: &mut ProglogWorld) {
    let killed = world.cluster.picked.expect("the leader was killed");
    let leader = world.cluster.cluster().leader(SETTLE).await;
    assert_ne!(leader, killed);
}

#[then(
    expr = "{int} more records produced to the new leader are acknowledged at offsets {int} to {int}"
)]
async fn more_records(world: &mut ProglogWorld, count: usize, first: u64, last: u64) {
    let before = world.cluster.acknowledged.len();
    produce_to_leader(world, count).await;
    let offsets: Vec<u64> = world.cluster.acknowledged[before..]
        .iter()
        .map(|(offset, _)| *offset)
        .collect();
    assert_eq!(offsets, (first..=last).collect::<Vec<_>>());
}

#[when("a follower is killed with SIGKILL")]
async fn kill_a_follower(world: &mut ProglogWorld) {
    let cluster = world.cluster.cluster();
    let follower = (cluster.leader(SETTLE).await + 1) % cluster.nodes.len();
    cluster.nodes[follower].kill();
    world.cluster.picked = Some(follower);
}

#[when("the follower is started again on its data")]
async fn restart_the_follower(world: &mut ProglogWorld) {
    let follower = world.cluster.picked.expect("a follower was killed");
    world.cluster.cluster().nodes[follower].restart();
}

#[then(expr = "the follower holds the {int} records at the same offsets as the leader")]
async fn the_follower_caught_up(world: &mut ProglogWorld, count: usize) {
    let follower = world.cluster.picked.expect("a follower was restarted");
    let cluster = world.cluster.cluster();
    let leader = cluster.leader(SETTLE).await;
    let on_leader = records_of(&cluster.nodes[leader]).await;
    assert_eq!(on_leader.len(), count);
    let records = wait_for_records(&cluster.nodes[follower], count, SETTLE).await;
    assert_eq!(records, on_leader);
}
