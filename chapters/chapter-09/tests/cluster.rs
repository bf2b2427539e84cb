//! The `proglog` binary as a user runs it: clusters of real processes on
//! 127.0.0.1, formed from the command line, and what faults do to them.
//!
//! - a cluster forms from the command line, both ways (`--bootstrap` then
//!   `--join`; `--bootstrap-expect`), and `cluster status` shows it;
//! - a server with no cluster flags is chapter 5's server;
//! - a bad combination of settings exits with one clear line;
//! - kill -9 of the leader, again and again, under producers and a
//!   consumer: no acknowledged record lost, none duplicated, every node
//!   the same, and the consumer never saw a record the cluster lost;
//! - the leader cut off by a network partition (a private network
//!   namespace, nftables): the others elect a leader and take writes,
//!   `cluster status` names it, and after the partition heals the old
//!   leader holds exactly what the others hold; nothing lost.
//!
//! The fault loops run a few rounds here (CI); a long run is
//! `PROGLOG_KILL_ROUNDS=50 PROGLOG_PARTITION_ROUNDS=20 cargo test -p chapter-09 --test cluster`.
//!
//! `harness = false` (Cargo.toml): the tests run one after another (each
//! starts three servers on a machine of two cores), inside a private
//! network namespace when this runs as root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chapter_05::testing::{Binary, ServerProcess, stderr, stdout};
use chapter_07::process_tests;
use chapter_07::testing::run_tests;
use chapter_09::testing::{
    Forming, Load, Partition, ProglogCluster, assert_private_network, check_consumer,
    enter_private_network, own_group, rounds,
};

// ANCHOR: main
fn main() {
    enter_private_network();
    run_tests(process_tests![
        a_cluster_forms_from_the_command_line,
        the_first_server_bootstraps_and_the_others_join,
        no_cluster_flags_is_chapter_5s_server,
        dev_works_from_a_copied_binary,
        bad_combinations_exit_with_one_line,
        a_taken_node_id_is_refused,
        servers_join_restart_and_leave_from_the_command_line,
        kill_9_of_the_leader_loses_no_acknowledged_record,
        a_partitioned_leader_loses_nothing_and_rejoins,
    ]);
}
// ANCHOR_END: main

/// The `proglog` binary cargo built for these tests.
fn proglog() -> Binary {
    Binary::at(env!("CARGO_BIN_EXE_proglog"))
}

// ANCHOR: forms
async fn a_cluster_forms_from_the_command_line() {
    let cluster = ProglogCluster::start(3, Forming::AllExpect, |_| proglog()).await;
    let produced = cluster.nodes[2].cli(&["produce", "hello", "world"]);
    assert!(produced.status.success(), "{}", stderr(&produced));
    assert_eq!(stdout(&produced), "0\n1\n");

    let consumed = cluster.nodes[1].cli(&["consume", "--from", "0", "--count", "2"]);
    assert!(consumed.status.success(), "{}", stderr(&consumed));
    assert_eq!(stdout(&consumed), "0\thello\n1\tworld\n");

    let status = cluster.nodes[0].cli(&["cluster", "status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let table = stdout(&status);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert_eq!(
        rows.iter().filter(|row| row.contains(" leader ")).count(),
        1,
        "{table}"
    );
    for node in &cluster.nodes {
        let row = rows
            .iter()
            .find(|row| row.starts_with(&format!("{} ", node.id)));
        let row = row.unwrap_or_else(|| panic!("no row for node {}:\n{table}", node.id));
        assert!(row.contains(&node.rpc_addr.to_string()), "{table}");
        assert!(row.contains(&node.gossip_addr.to_string()), "{table}");
    }
}
// ANCHOR_END: forms

async fn the_first_server_bootstraps_and_the_others_join() {
    let cluster = ProglogCluster::start(3, Forming::FirstBootstraps, |_| proglog()).await;
    let produced = cluster.nodes[0].cli(&["produce", "joined"]);
    assert!(produced.status.success(), "{}", stderr(&produced));
    let records = cluster.converged_records().await;
    assert!(
        records.iter().all(|log| log == &[b"joined".to_vec()]),
        "{records:?}"
    );
}

// ANCHOR: alone
async fn no_cluster_flags_is_chapter_5s_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&proglog(), dir.path(), &["--dev"], &[]);
    let produced = server.cli(&["produce", "alone"]);
    assert!(produced.status.success(), "{}", stderr(&produced));
    assert_eq!(stdout(&produced), "0\n");
    let consumed = server.cli(&["consume", "--from", "0", "--count", "1"]);
    assert_eq!(stdout(&consumed), "0\talone\n");

    let addr = format!("--addr={}", server.addr);
    let status = proglog().run(&["cluster", "status", "--dev", &addr], None);
    assert!(status.status.success(), "{}", stderr(&status));
    let table = stdout(&status);
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with("1 "), "{table}");
    assert!(table.contains(" leader "), "{table}");
    assert!(server.stop().success());
}
// ANCHOR_END: alone

/// `--dev` carries its certificates (the peer's too) and policies in the
/// binary: a copy of it, far from the repository, still forms a cluster.
async fn dev_works_from_a_copied_binary() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("proglog");
    std::fs::copy(env!("CARGO_BIN_EXE_proglog"), &copy).unwrap();
    let server = ServerProcess::start(
        &Binary::at(&copy),
        dir.path(),
        &["--dev", "--bootstrap"],
        &[],
    );
    let produced = server.cli(&["produce", "anywhere"]);
    assert!(produced.status.success(), "{}", stderr(&produced));
    assert_eq!(stdout(&produced), "0\n");
    assert!(server.log().contains("development"), "{}", server.log());
}

// ANCHOR: bad_combinations
async fn bad_combinations_exit_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = format!("--data-dir={}", dir.path().display());
    let cases: [(&[&str], &str); 6] = [
        (
            &["--dev", "--bootstrap", "--join=127.0.0.1:1"],
            "--bootstrap and --join cannot both be set",
        ),
        (
            &["--dev", "--bootstrap-expect=3"],
            "--bootstrap-expect needs --join",
        ),
        (
            &[
                "--dev",
                "--bootstrap",
                "--bootstrap-expect=3",
                "--join=127.0.0.1:1",
            ],
            "cannot both be set",
        ),
        (&["--insecure", "--bootstrap"], "needs mutual TLS"),
        (
            &["--dev", "--addr=0.0.0.0:0", "--bootstrap"],
            "give --advertise-addr",
        ),
        (
            &[
                "--dev",
                "--bootstrap",
                "--heartbeat=1s",
                "--election-timeout=500ms",
            ],
            "heartbeat",
        ),
    ];
    // ANCHOR_END: bad_combinations
    // ANCHOR: bad_combinations_b
    for (flags, expected) in cases {
        let args = [&["serve", &data][..], flags].concat();
        let output = proglog().run(&args, None);
        let error = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{flags:?}: {error}");
        assert_eq!(
            error.lines().count(),
            1,
            "{flags:?}: not one line:\n{error}"
        );
        assert!(error.starts_with("proglog: "), "{flags:?}: {error}");
        assert!(error.contains(expected), "{flags:?}: {error}");
    }
}
// ANCHOR_END: bad_combinations_b

async fn a_taken_node_id_is_refused() {
    let cluster = ProglogCluster::start(1, Forming::FirstBootstraps, |_| proglog()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut twin = chapter_09::testing::Node::new(proglog(), 1, dir.path());
    twin.flags = vec![format!("--join={}", cluster.nodes[0].gossip_addr)];
    twin.spawn();
    let status = twin.wait_for_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{}", twin.log());
    let last = twin.log().lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("proglog: ") && last.contains("node id 1 is already taken"),
        "{last}"
    );
}

// ANCHOR: operate
async fn servers_join_restart_and_leave_from_the_command_line() {
    let mut cluster = ProglogCluster::start(3, Forming::AllExpect, |_| proglog()).await;
    let ids = |servers: &[chapter_02::api::v1::Server]| -> Vec<String> {
        let mut ids: Vec<String> = servers.iter().map(|server| server.id.clone()).collect();
        ids.sort();
        ids
    };
    // A fourth server joins: the leader checks it and makes it a voter.
    let fourth = cluster.add_node(proglog());
    cluster.wait_for_voters(4).await;

    // SIGTERM alone is a restart: the server keeps its place.
    assert!(cluster.nodes[1].terminate().success());
    cluster.nodes[1].start();
    cluster.wait_until_caught_up(1).await;
    let servers = cluster.servers(|servers| servers.len() == 4).await;
    assert_eq!(ids(&servers), ["1", "2", "3", "4"]);

    // With --leave-on-shutdown, SIGTERM takes it out of the cluster.
    cluster.nodes[fourth].kill();
    cluster.nodes[fourth]
        .flags
        .push("--leave-on-shutdown".into());
    cluster.nodes[fourth].start();
    cluster.wait_until_caught_up(fourth).await;
    assert!(cluster.nodes[fourth].terminate().success());
    let servers = cluster.servers(|servers| servers.len() == 3).await;
    assert_eq!(ids(&servers), ["1", "2", "3"]);
    let produced = cluster.nodes[0].cli(&["produce", "still three"]);
    assert!(produced.status.success(), "{}", stderr(&produced));
}
// ANCHOR_END: operate

// ANCHOR: kill_loop
async fn kill_9_of_the_leader_loses_no_acknowledged_record() {
    let rounds = rounds("PROGLOG_KILL_ROUNDS", 3);
    let mut cluster = ProglogCluster::start(3, Forming::AllExpect, |_| proglog()).await;
    let load = Load::start(&cluster.client_config(), 4).await;
    for round in 1..=rounds {
        load.wait_for_progress(200).await;
        let leader = cluster.leader().await;
        cluster.nodes[leader].kill();
        let gap = load.wait_for_progress(1).await;
        println!(
            "round {round}: kill -9 of leader node {}; writes again after {gap:?}",
            leader + 1
        );
        load.wait_for_progress(200).await;
        cluster.nodes[leader].start();
        cluster.wait_until_caught_up(leader).await;
    }
    let (history, seen) = load.stop().await;
    let logs = cluster.converged_records().await;
    let verdict = history.check(&logs);
    println!(
        "after {rounds} kills: {verdict}; the consumer saw {}",
        seen.len()
    );
    assert!(verdict.is_clean(), "{verdict}");
    assert!(verdict.acknowledged >= 400 * rounds as usize, "{verdict}");
    assert_eq!(check_consumer(&seen, &logs[0]), Vec::<String>::new());
}
// ANCHOR_END: kill_loop

// ANCHOR: partition_loop
async fn a_partitioned_leader_loses_nothing_and_rejoins() {
    assert_private_network();
    let rounds = rounds("PROGLOG_PARTITION_ROUNDS", 1);
    let cluster = ProglogCluster::start(3, Forming::AllExpect, |id| own_group(proglog(), id)).await;
    let load = Load::start(&cluster.client_config(), 4).await;
    for round in 1..=rounds {
        load.wait_for_progress(200).await;
        let old = cluster.leader().await;
        let others: Vec<usize> = (0..3).filter(|index| *index != old).collect();
        let cut = Partition::isolate(&cluster.nodes[old]);
        let new = cluster.leader_among(&others).await;
        assert_ne!(new, old, "the majority elects a leader of its own");
        let gap = load.wait_for_progress(200).await;
        println!(
            "round {round}: leader node {} cut off; node {} leads, 200 writes in {gap:?}",
            old + 1,
            new + 1
        );

        // ANCHOR_END: partition_loop
        // ANCHOR: partition_loop_b
        let status = cluster.nodes[new].cli(&["cluster", "status"]);
        let table = stdout(&status);
        let leader_row = table.lines().find(|row| row.contains(" leader "));
        let new_id = format!("{} ", new + 1);
        assert!(
            leader_row.is_some_and(|row| row.starts_with(&new_id)),
            "{table}"
        );

        cut.heal();
        cluster.wait_until_caught_up(old).await;
        cluster.leader().await;
    }
    let (history, seen) = load.stop().await;
    let logs = cluster.converged_records().await;
    let verdict = history.check(&logs);
    println!(
        "after {rounds} partitions: {verdict}; the consumer saw {}",
        seen.len()
    );
    assert!(verdict.is_clean(), "{verdict}");
    assert_eq!(check_consumer(&seen, &logs[0]), Vec::<String>::new());
}
// ANCHOR_END: partition_loop_b
