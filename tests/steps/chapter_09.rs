//! Steps for `features/chapter-09-cluster.feature`: clusters of `proglog`
//! processes started with the flags a user types, faults (SIGKILL, a
//! network partition), and the history of what producers were told.

use chapter_05::testing::{stderr, stdout};
use chapter_09::testing::{
    Forming, Load, Partition, ProglogCluster, assert_private_network, check_consumer, own_group,
    this_process,
};
use cucumber::{given, then, when};

use crate::world::ProglogWorld;

#[given("three proglog servers started with --bootstrap-expect 3")]
async fn three_servers(world: &mut ProglogWorld) {
    let cluster = ProglogCluster::start(3, Forming::AllExpect, |_| this_process()).await;
    world.production.cluster = Some(cluster);
}

#[given("three proglog servers started with --bootstrap-expect 3, each under its own group id")]
async fn three_servers_in_groups(world: &mut ProglogWorld) {
    assert_private_network();
    let cluster =
        ProglogCluster::start(3, Forming::AllExpect, |id| own_group(this_process(), id)).await;
    world.production.cluster = Some(cluster);
}

#[given("producers and a consumer of the cluster")]
async fn producers_and_a_consumer(world: &mut ProglogWorld) {
    let config = world.production.cluster().client_config();
    let load = Load::start(&config, 3).await;
    load.wait_for_progress(100).await;
    world.production.load = Some(load);
}

#[when(expr = "\"proglog produce\" sends {string} to the third server")]
async fn produce_to_the_third(world: &mut ProglogWorld, value: String) {
    let output = world.production.cluster().nodes[2].cli(&["produce", &value]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[then(expr = "\"proglog consume\" from the second server prints offset {int} with {string}")]
async fn consume_from_the_second(world: &mut ProglogWorld, offset: u64, value: String) {
    let from = offset.to_string();
    let node = &world.production.cluster().nodes[1];
    let output = node.cli(&["consume", "--from", &from, "--count", "1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{offset}\t{value}\n"));
}

#[then(expr = "\"proglog cluster status\" lists the {int} servers, one of them the leader")]
async fn status_lists(world: &mut ProglogWorld, count: usize) {
    let cluster = world.production.cluster();
    let output = cluster.nodes[0].cli(&["cluster", "status"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), count, "{table}");
    let leaders = rows.iter().filter(|row| row.contains(" leader ")).count();
    assert_eq!(leaders, 1, "{table}");
    for node in &cluster.nodes {
        let id = format!("{} ", node.id);
        let row = rows.iter().find(|row| row.starts_with(&id));
        assert!(
            row.is_some_and(|row| row.contains(&node.rpc_addr.to_string())),
            "{table}"
        );
    }
}

#[when("the leading proglog server is killed with SIGKILL")]
async fn kill_the_leader(world: &mut ProglogWorld) {
    let cluster = world.production.cluster();
    let leader = cluster.leader().await;
    cluster.nodes[leader].kill();
    world.production.old_leader = Some(leader);
}

#[when("the leader is cut off from the others by a network partition")]
async fn cut_off_the_leader(world: &mut ProglogWorld) {
    let cluster = world.production.cluster();
    let leader = cluster.leader().await;
    let partition = Partition::isolate(&cluster.nodes[leader]);
    world.production.partition = Some(partition);
    world.production.old_leader = Some(leader);
}

#[then("\"proglog cluster status\" names another server as the leader")]
async fn status_names_another_leader(world: &mut ProglogWorld) {
    let old = world
        .production
        .old_leader
        .expect("a step picked the leader");
    let cluster = world.production.cluster();
    let others: Vec<usize> = (0..cluster.nodes.len()).filter(|i| *i != old).collect();
    let new = cluster.leader_among(&others).await;
    assert_ne!(new, old);
    let output = cluster.nodes[new].cli(&["cluster", "status"]);
    let table = stdout(&output);
    let leader_row = table.lines().find(|row| row.contains(" leader "));
    let new_id = format!("{} ", cluster.nodes[new].id);
    assert!(
        leader_row.is_some_and(|row| row.starts_with(&new_id)),
        "{table}"
    );
}

#[then("the cluster takes writes again")]
async fn takes_writes(world: &mut ProglogWorld) {
    let load = world.production.load.as_ref().expect("a load is running");
    load.wait_for_progress(100).await;
}

#[when("the killed server is started again")]
async fn restart_the_killed(world: &mut ProglogWorld) {
    let old = world
        .production
        .old_leader
        .expect("a step killed the leader");
    world.production.cluster().nodes[old].start();
}

#[when("the partition heals")]
async fn heal(world: &mut ProglogWorld) {
    let partition = world.production.partition.take();
    partition.expect("a step made a partition").heal();
}

#[then(regex = r"^(?:it|the old leader) catches up with the others$")]
async fn catches_up(world: &mut ProglogWorld) {
    let old = world
        .production
        .old_leader
        .expect("a step picked the leader");
    let cluster = world.production.cluster();
    cluster.wait_until_caught_up(old).await;
    cluster.leader().await;
}

#[then("no acknowledged record is lost or stored twice, on any server")]
async fn nothing_lost(world: &mut ProglogWorld) {
    let load = world.production.load.take().expect("a load is running");
    let (history, seen) = load.stop().await;
    let logs = world.production.cluster().converged_records().await;
    let verdict = history.check(&logs);
    assert!(verdict.is_clean(), "{verdict}");
    assert!(verdict.acknowledged > 0, "{verdict}");
    assert_eq!(check_consumer(&seen, &logs[0]), Vec::<String>::new());
}
