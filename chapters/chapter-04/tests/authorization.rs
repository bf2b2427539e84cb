//! The ACL in front of the service, over real mutual TLS: who may produce,
//! who may consume, and what a refused client is told.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;

use chapter_03::test_pki::{ExtendedKeyUsagePurpose, Files, TestCa};
use common::{AclServer, cert, consume_request, produce_request};
use rstest::rstest;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

// root may produce and consume, unary and streaming.
#[tokio::test]
async fn root_may_produce_and_consume() {
    let server = AclServer::start(&cert("ca.pem")).await;
    let mut root = server.cfssl_client("root").await;
    assert_eq!(
        root.produce(produce_request("unary"))
            .await
            .unwrap()
            .into_inner()
            .offset,
        0
    );
    let requests = tokio_stream::iter(vec![produce_request("streamed")]);
    let offsets: Vec<u64> = root
        .produce_stream(requests)
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap().offset)
        .collect()
        .await;
    assert_eq!(offsets, [1]);
    assert_eq!(
        root.consume(consume_request(0))
            .await
            .unwrap()
            .into_inner()
            .record
            .unwrap()
            .value,
        b"unary"
    );
    let mut stream = root
        .consume_stream(consume_request(0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stream.next().await.unwrap().unwrap().record.unwrap().value,
        b"unary"
    );
    assert_eq!(
        stream.next().await.unwrap().unwrap().record.unwrap().value,
        b"streamed"
    );
}

// ANCHOR: nobody_denied
// nobody is denied every RPC, unary and streaming, and the log is unchanged.
#[tokio::test]
async fn nobody_is_denied_everything_and_changes_nothing() {
    let server = AclServer::start(&cert("ca.pem")).await;
    server
        .cfssl_client("root")
        .await
        .produce(produce_request("root's record"))
        .await
        .unwrap();
    let mut nobody = server.cfssl_client("nobody").await;

    let status = nobody
        .produce(produce_request("nobody's record"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let requests = tokio_stream::iter(vec![produce_request("streamed by nobody")]);
    let status = nobody.produce_stream(requests).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = nobody.consume(consume_request(0)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = nobody.consume_stream(consume_request(0)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    assert_eq!(
        server.log.next_offset(),
        1,
        "the denied produces wrote nothing"
    );
    assert_eq!(server.log.read(0).unwrap(), b"root's record");
}
// ANCHOR_END: nobody_denied

// A policy that grants only `consume` lets its subject read, not write.
#[tokio::test]
async fn a_consume_only_grant_reads_but_cannot_write() {
    let files = Files::new();
    let policy = files.write(
        "policy.csv",
        "p, root, *, produce\np, root, *, consume\np, nobody, *, consume\n",
    );
    let server = AclServer::start_with(&cert("ca.pem"), &policy).await;
    server
        .cfssl_client("root")
        .await
        .produce(produce_request("for everyone to read"))
        .await
        .unwrap();
    let mut reader = server.cfssl_client("nobody").await;
    assert_eq!(
        reader
            .consume(consume_request(0))
            .await
            .unwrap()
            .into_inner()
            .record
            .unwrap()
            .value,
        b"for everyone to read"
    );
    let status = reader
        .produce(produce_request("not allowed"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(server.log.next_offset(), 1);
}

// ANCHOR: exact_subjects
// Subjects match exactly: no case folding, no trimming, no wildcard.
#[rstest]
#[case::control_root("root", true)]
#[case::root2("root2", false)]
#[case::capital_root("Root", false)]
#[case::trailing_space("root ", false)]
#[case::star("*", false)]
#[tokio::test]
async fn subjects_match_exactly(#[case] name: &str, #[case] allowed: bool) {
    let ca = TestCa::new("test client CA");
    let files = Files::new();
    let server = AclServer::start(&files.write("client-ca.pem", &ca.pem)).await;
    let mut client = server.client_from(&files, ca.client(name)).await;
    let outcome = client.produce(produce_request("hello")).await;
    match allowed {
        true => assert_eq!(outcome.unwrap().into_inner().offset, 0),
        false => assert_eq!(outcome.unwrap_err().code(), Code::PermissionDenied),
    }
}
// ANCHOR_END: exact_subjects

// A trusted certificate without a Common Name has no identity: UNAUTHENTICATED.
#[tokio::test]
async fn no_identity_is_unauthenticated() {
    let ca = TestCa::new("test client CA");
    let files = Files::new();
    let server = AclServer::start(&files.write("client-ca.pem", &ca.pem)).await;
    let no_cn = ca.leaf(
        None,
        &["client.example"],
        ExtendedKeyUsagePurpose::ClientAuth,
        |_| {},
    );
    let mut client = server.client_from(&files, no_cn).await;
    let status = client
        .produce(produce_request("who am I?"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(server.log.next_offset(), 0);
}

// What a denied client receives, decoded: code, message and details.
#[tokio::test]
async fn denial_details_decode_on_the_client() {
    let server = AclServer::start(&cert("ca.pem")).await;
    let status = server
        .cfssl_client("nobody")
        .await
        .produce(produce_request("x"))
        .await
        .unwrap_err();
    let details = status.get_error_details();
    let info = details.error_info().unwrap();
    let metadata: BTreeMap<_, _> = info.metadata.iter().collect();
    let message = details.localized_message().unwrap();
    insta::assert_snapshot!(
        format!(
            "code: {:?}\nmessage: {}\nerror_info: reason={} domain={} metadata={metadata:?}\nlocalized_message: [{}] {}",
            status.code(), status.message(), info.reason, info.domain, message.locale, message.message
        ),
        @r#"
    code: PermissionDenied
    message: nobody is not permitted to produce to *
    error_info: reason=PERMISSION_DENIED domain=proglog.log.v1 metadata={"action": "produce", "object": "*", "subject": "nobody"}
    localized_message: [en-US] nobody is not permitted to produce to *
    "#
    );
}

// ANCHOR: unknown_methods
// ANCHOR: unknown_methods_setup
// A method the Log service does not have is UNIMPLEMENTED for anyone who
// may reach the server (not PERMISSION_DENIED, which would send them to an
// operator to change a policy that cannot help); a service the server does
// not offer is denied. Neither reaches the service.
#[rstest]
#[case::root_unknown_method("root", "/log.v1.Log/Nope", Code::Unimplemented)]
#[case::nobody_unknown_method("nobody", "/log.v1.Log/Nope", Code::Unimplemented)]
#[case::root_unknown_service("root", "/raft.v1.Raft/Vote", Code::PermissionDenied)]
#[tokio::test]
async fn unknown_methods_and_services(
    #[case] name: &str,
    #[case] path: &'static str,
    #[case] code: Code,
) {
    let server = AclServer::start(&cert("ca.pem")).await;
    let config = chapter_03::client_config(
        &cert("ca.pem"),
        Some((
            &cert(&format!("{name}-client.pem")),
            &cert(&format!("{name}-client-key.pem")),
        )),
    )
    .unwrap();
    let channel = chapter_03::client::tls_channel(server.addr, config, "localhost")
        .await
        .unwrap();
    // ANCHOR_END: unknown_methods_setup
    // ANCHOR: unknown_methods_call
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<
        chapter_02::api::v1::ConsumeRequest,
        chapter_02::api::v1::ConsumeResponse,
    >::default();
    let status = grpc
        .unary(
            tonic::Request::new(consume_request(0)),
            http::uri::PathAndQuery::from_static(path),
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
}
// ANCHOR_END: unknown_methods_call
// ANCHOR_END: unknown_methods
