//! The peer port's security: Raft's methods are on the same port as the
//! Log's, so they must be closed to everyone but the servers themselves.
//!
//! - `root` and `nobody`, with certificates of our CA, call no Raft method
//!   (PERMISSION_DENIED); `peer` can.
//! - A server whose certificates are not from our CA can gossip its way
//!   into the member list, but never becomes a voter: the leader checks it
//!   over mutual TLS first. (A server with good certificates, started at
//!   the same time, does: the check is what tells them apart.)
//!
//! `harness = false` (Cargo.toml): [`run_tests`] is the `main`, so that the
//! executable can also run as a node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chapter_03::test_pki::{ExtendedKeyUsagePurpose, Files, TestCa};
use chapter_07::api::v1::raft_client::RaftClient;
use chapter_07::api::v1::{IdentifyRequest, RaftRequest};
use chapter_07::process_tests;
use chapter_07::testing::{NodeProcess, TestCluster, channel_of, run_tests};
use tonic::Code;

fn main() {
    run_tests(process_tests![
        only_the_peer_identity_calls_raft_methods,
        a_server_with_a_foreign_certificate_never_votes,
    ]);
}

const SETTLE: Duration = Duration::from_secs(30);

// ANCHOR: acl
// ANCHOR: acl_a
async fn only_the_peer_identity_calls_raft_methods() {
    let cluster = TestCluster::start(1, |_| {}).await;
    let node = &cluster.nodes[0];
    for identity in ["root", "nobody"] {
        let mut raft = RaftClient::new(channel_of(node.spec.rpc_addr, identity).await);
        let payload = || RaftRequest {
            payload: vec![0xff; 8],
        };
        let denied = [
            raft.append_entries(payload()).await.unwrap_err(),
            raft.vote(payload()).await.unwrap_err(),
            raft.install_snapshot(payload()).await.unwrap_err(),
            raft.identify(IdentifyRequest {}).await.unwrap_err(),
        ];
        for status in denied {
            assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{identity}: {status:?}"
            );
        }
    }
    // ANCHOR_END: acl_a
    // ANCHOR: acl_b
    let mut raft = RaftClient::new(channel_of(node.spec.rpc_addr, "peer").await);
    let me = raft
        .identify(IdentifyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (me.node_id, me.cluster_id.as_str()),
        (1, cluster.cluster_id.as_str())
    );
    // The peer may call Raft, and gets the Raft service's answer: here,
    // that these bytes are no AppendEntries request.
    let garbage = raft
        .append_entries(RaftRequest {
            payload: vec![0xff; 8],
        })
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), Code::InvalidArgument, "{garbage:?}");
}
// ANCHOR_END: acl_b
// ANCHOR_END: acl

// ANCHOR: foreign
// ANCHOR: foreign_a
async fn a_server_with_a_foreign_certificate_never_votes() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let foreign_ca = TestCa::new("not our CA");
    let files = Files::new();
    let both_ways = |params: &mut chapter_03::test_pki::CertificateParams| {
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
    };
    let (server, server_key) = foreign_ca.leaf(
        Some("server"),
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
        |_| {},
    );
    let (peer, peer_key) = foreign_ca.leaf(
        Some("peer"),
        &["127.0.0.1"],
        ExtendedKeyUsagePurpose::ClientAuth,
        both_ways,
    );
    // ANCHOR_END: foreign_a

    // ANCHOR: foreign_b
    let mut forged = cluster.spec_for_new_node(4);
    forged.server_cert = Some((
        files.write("server.pem", &server),
        files.write("server-key.pem", &server_key),
    ));
    forged.peer_cert = Some((
        files.write("peer.pem", &peer),
        files.write("peer-key.pem", &peer_key),
    ));
    let genuine = cluster.spec_for_new_node(5);
    cluster.nodes.push(NodeProcess::start(forged));
    cluster.nodes.push(NodeProcess::start(genuine));

    let servers = cluster
        .wait_for_servers(SETTLE, |servers| {
            servers.iter().any(|server| server.id == "5")
        })
        .await;
    assert!(servers.iter().all(|server| server.id != "4"), "{servers:?}");
    // Admission looks again every second: give it several more chances.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let servers = cluster
        .wait_for_servers(SETTLE, |servers| servers.len() == 4)
        .await;
    assert!(servers.iter().all(|server| server.id != "4"), "{servers:?}");
}
// ANCHOR_END: foreign_b
// ANCHOR_END: foreign
