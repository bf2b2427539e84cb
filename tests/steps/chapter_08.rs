//! Steps for `features/chapter-08-client.feature`: chapter 8's `Client`
//! against a cluster of node processes (chapter 7's steps start it), with
//! each server's own metrics to tell where the calls went.

use std::time::Duration;

use chapter_05::testing::{free_addr, metric, scrape};
use chapter_07::testing::{TestCluster, client_tls, stream_records};
use chapter_08::{Client, ClientConfig};
use cucumber::{given, then, when};
use futures_util::StreamExt;

use crate::world::ProglogWorld;

const SETTLE: Duration = Duration::from_secs(30);

fn cluster(world: &ProglogWorld) -> &TestCluster {
    world
        .cluster
        .cluster
        .as_ref()
        .expect("the scenario started a cluster")
}

fn client(world: &ProglogWorld) -> &Client {
    world
        .cluster
        .client
        .as_ref()
        .expect("the scenario connected a client")
}

async fn connect(world: &mut ProglogWorld, seeds: Vec<String>) {
    let client = Client::connect(ClientConfig::new(seeds, client_tls("root")))
        .await
        .unwrap();
    world.cluster.client = Some(client);
}

/// `series` on node `index`'s metrics endpoint.
fn metric_of(world: &ProglogWorld, index: usize, series: &str) -> f64 {
    let node = &cluster(world).nodes[index];
    metric(&scrape(node.spec.metrics_addr.expect("metrics")), series)
}

#[given("a client of the cluster")]
async fn a_client(world: &mut ProglogWorld) {
    let seeds = cluster(world).seeds();
    connect(world, seeds).await;
}

#[when("a client connects with the address of one follower only")]
async fn connect_to_one_follower(world: &mut ProglogWorld) {
    let cluster = cluster(world);
    let follower = (cluster.leader(SETTLE).await + 1) % cluster.nodes.len();
    let seed = cluster.nodes[follower].spec.rpc_addr.to_string();
    connect(world, vec![seed]).await;
}

#[when("a client connects with a dead address first, then the address of a server")]
async fn connect_past_a_dead_seed(world: &mut ProglogWorld) {
    let seeds = vec![free_addr().to_string(), cluster(world).seeds()[0].clone()];
    connect(world, seeds).await;
}

#[then(expr = "the client knows all {int} servers and which one leads")]
async fn knows_the_servers(world: &mut ProglogWorld, count: usize) {
    let cluster = cluster(world);
    let leader = cluster.nodes[cluster.leader(SETTLE).await]
        .spec
        .rpc_addr
        .to_string();
    let mut servers = client(world).servers();
    servers.sort_by(|a, b| a.rpc_addr.cmp(&b.rpc_addr));
    let mut expected = cluster.seeds();
    expected.sort();
    let addrs: Vec<String> = servers
        .iter()
        .map(|server| server.rpc_addr.clone())
        .collect();
    assert_eq!(addrs, expected);
    assert_eq!(servers.len(), count);
    let leaders: Vec<&str> = servers
        .iter()
        .filter(|s| s.is_leader)
        .map(|s| s.rpc_addr.as_str())
        .collect();
    assert_eq!(leaders, vec![leader.as_str()]);
}

#[when(expr = "the client produces {int} records and reads each of them twice")]
async fn produce_and_read(world: &mut ProglogWorld, count: u64) {
    let client = client(world);
    for i in 0..count {
        assert_eq!(client.produce(format!("record-{i}")).await.unwrap(), i);
    }
    for _ in 0..2 {
        for i in 0..count {
            assert_eq!(
                client.consume(i).await.unwrap().value,
                format!("record-{i}").into_bytes()
            );
        }
    }
}

#[then(expr = "the leader served all {int} produces and none of the reads")]
async fn the_leader_served(world: &mut ProglogWorld, count: u64) {
    let leader = cluster(world).leader(SETTLE).await;
    let produces = metric_of(
        world,
        leader,
        r#"proglog_rpcs_total{method="Produce",code="OK"}"#,
    );
    let reads = metric_of(
        world,
        leader,
        r#"proglog_rpcs_total{method="Consume",code="OK"}"#,
    );
    assert_eq!((produces, reads), (count as f64, 0.0));
}

#[then(expr = "each follower served {int} reads")]
async fn each_follower_served(world: &mut ProglogWorld, count: u64) {
    let leader = cluster(world).leader(SETTLE).await;
    for index in (0..cluster(world).nodes.len()).filter(|index| *index != leader) {
        let reads = metric_of(
            world,
            index,
            r#"proglog_rpcs_total{method="Consume",code="OK"}"#,
        );
        assert_eq!(reads, count as f64, "node {}", index + 1);
    }
}

#[when(expr = "the client streams {int} records and the leader is killed with SIGKILL after {int}")]
async fn stream_through_a_kill(world: &mut ProglogWorld, count: usize, kill_after: usize) {
    let leader = cluster(world).leader(SETTLE).await;
    let values = futures_util::stream::iter(0..count).then(|i| async move {
        if i % 250 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await; // so that the kill lands mid-stream
        }
        format!("record-{i}").into_bytes()
    });
    let mut offsets = Box::pin(client(world).produce_stream(values));
    let mut received = Vec::new();
    while let Some(offset) = offsets.next().await {
        received.push(offset.unwrap());
        if received.len() == kill_after {
            world.cluster.cluster().nodes[leader].kill();
        }
    }
    world.cluster.offsets = received;
}

#[then(expr = "the client got {int} offsets, from {int} to {int}, in order")]
async fn got_offsets(world: &mut ProglogWorld, count: usize, first: u64, last: u64) {
    assert_eq!(world.cluster.offsets.len(), count);
    assert_eq!(world.cluster.offsets, (first..=last).collect::<Vec<_>>());
}

#[then(
    expr = "every running server holds the {int} records once each, in the order they were sent"
)]
async fn every_server_once(world: &mut ProglogWorld, count: usize) {
    for node in cluster(world).running() {
        let records = stream_records(node, count, SETTLE).await;
        for (i, record) in records.iter().enumerate() {
            assert_eq!(
                record,
                format!("record-{i}").as_bytes(),
                "server {}",
                node.spec.id
            );
        }
    }
}

#[then(expr = "the client's first produce gets offset {int}")]
async fn first_produce(world: &mut ProglogWorld, offset: u64) {
    assert_eq!(client(world).produce("the first").await.unwrap(), offset);
}
