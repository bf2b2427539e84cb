//! The output chapter 7 of the book shows, made for real and compared with
//! the files in `tests/output/` (see `tests/support/book_output.rs` at the
//! root of the repository): what a client of a cluster is told when a
//! produce does not simply succeed, and what a client certificate is told
//! at the Raft service, each decoded as a client program decodes it.
//!
//! `harness = false` (Cargo.toml): [`run_tests`] is the `main`, so that the
//! executable can also run as a node.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

#[path = "../../../tests/support/book_output.rs"]
mod book_output;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use chapter_02::api::v1::{ProduceRequest, Record};
use chapter_07::api::v1::RaftRequest;
use chapter_07::api::v1::raft_client::RaftClient;
use chapter_07::process_tests;
use chapter_07::producers::WINDOW;
use chapter_07::testing::{NodeProcess, NodeSpec, TestCluster, channel_of, run_tests};
use tonic::Status;
use tonic_types::StatusExt;

fn main() {
    run_tests(process_tests![
        book_shows_what_a_client_of_a_cluster_is_told
    ]);
}

const SETTLE: Duration = Duration::from_secs(30);

/// Compares `actual` with `tests/output/NAME.txt`.
fn assert_output(name: &str, actual: &str) {
    book_output::assert_output(env!("CARGO_MANIFEST_DIR"), name, actual);
}

fn produce_as(producer_id: u64, sequence: u64, value: &str) -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value: value.as_bytes().to_vec(),
            ..Record::default()
        }),
        producer_id,
        sequence,
    }
}

/// A status as a client program sees it: code, message and every detail,
/// decoded, with map keys sorted so that the output is stable (as chapter
/// 2's book output shows them).
fn describe(case: &str, status: &Status) -> String {
    let mut out = format!(
        "# {case}\ncode: {:?}\nmessage: {}\n",
        status.code(),
        status.message()
    );
    let details = status.get_error_details();
    if let Some(info) = details.error_info() {
        let metadata: BTreeMap<_, _> = info.metadata.iter().collect();
        writeln!(
            out,
            "error_info: reason={} domain={} metadata={metadata:?}",
            info.reason, info.domain
        )
        .unwrap();
    }
    if let Some(message) = details.localized_message() {
        writeln!(
            out,
            "localized_message: [{}] {}",
            message.locale, message.message
        )
        .unwrap();
    }
    out
}

// Each answer a client of a cluster can get instead of an offset, made for
// real: a produce to a follower (NOT_LEADER), a retry older than its
// producer's window (SEQUENCE_TOO_OLD), a produce to a server that knows
// no leader (NO_LEADER), and a produce the leader cannot get committed
// because both followers are dead (FATE_UNKNOWN, after the 5 s write
// timeout). Then `root`, a client certificate of our CA, calling a Raft
// method. The leader's port and id change from run to run: they are shown
// as `<port>` and `<leader>`.
async fn book_shows_what_a_client_of_a_cluster_is_told() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.leader(SETTLE).await;
    let follower = (leader + 1) % cluster.nodes.len();
    let (leader_id, leader_addr) = {
        let spec = &cluster.nodes[leader].spec;
        (spec.id, spec.rpc_addr.to_string())
    };
    let mut cases = Vec::new();

    let status = cluster.nodes[follower]
        .client()
        .await
        .produce(produce_as(0, 0, "to a follower"))
        .await
        .unwrap_err();
    cases.push(describe("Produce to a follower", &status));

    // Sequence 1, a record of nobody's (so that 1 is a run of its own), then
    // sequences 2 to WINDOW + 1: sequence 1 falls out of the window.
    let mut client = cluster.nodes[leader].client().await;
    client.produce(produce_as(7, 1, "a record")).await.unwrap();
    client.produce(produce_as(0, 0, "nobody's")).await.unwrap();
    let window: Vec<ProduceRequest> = (2..=WINDOW + 1)
        .map(|sequence| produce_as(7, sequence, "a record"))
        .collect();
    let mut answers = client
        .produce_stream(tokio_stream::iter(window))
        .await
        .unwrap()
        .into_inner();
    while answers.message().await.unwrap().is_some() {}
    let status = client
        .produce(produce_as(7, 1, "a record"))
        .await
        .unwrap_err();
    cases.push(describe(
        &format!(
            "Produce sequence 1 of producer 7 again, after its sequences 2 to {}",
            WINDOW + 1
        ),
        &status,
    ));

    let mut spec = NodeSpec::new(
        9,
        cluster.dir.path(),
        &chapter_06::testing::unique_cluster_id(),
    );
    spec.bootstrap = false;
    let alone = NodeProcess::start(spec);
    let status = alone
        .client()
        .await
        .produce(produce_as(0, 0, "to a server that knows no leader"))
        .await
        .unwrap_err();
    cases.push(describe(
        "Produce to a server that knows no leader (it never joined a cluster)",
        &status,
    ));

    for (index, node) in cluster.nodes.iter_mut().enumerate() {
        if index != leader {
            node.kill();
        }
    }
    let status = client
        .produce(produce_as(0, 0, "to a leader without followers"))
        .await
        .unwrap_err();
    cases.push(describe(
        "Produce to the leader once both followers are killed",
        &status,
    ));

    let shown = cases
        .join("\n")
        .replace(&leader_addr, "127.0.0.1:<port>")
        .replace(&format!("node {leader_id} at"), "node <leader> at")
        .replace(
            &format!("\"leader_id\": \"{leader_id}\""),
            "\"leader_id\": \"<leader>\"",
        );
    assert_output("client_statuses", &shown);

    let mut raft = RaftClient::new(channel_of(cluster.nodes[leader].spec.rpc_addr, "root").await);
    let status = raft
        .append_entries(RaftRequest {
            payload: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_output(
        "raft_denied",
        &describe("root calls raft.v1.Raft/AppendEntries", &status),
    );
}
