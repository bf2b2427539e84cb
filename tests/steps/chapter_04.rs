//! Steps for `features/chapter-04-authorization.feature`: the real ACL from
//! `policies/`, behind real mutual TLS.

use chapter_02::api::v1::ConsumeRequest;
use cucumber::{given, then, when};

use super::chapter_03::produce_request;
use crate::world::{ProglogWorld, SecureServer, repo};

#[given("an authorizing log server with the repository's ACL")]
async fn acl_server(world: &mut ProglogWorld) {
    world.secure =
        Some(SecureServer::start_acl(&world.log_dir(), &repo("policies/policy.csv")).await);
}

#[given(expr = "an authorizing log server whose policy also lets {string} consume")]
async fn acl_server_consume_only(world: &mut ProglogWorld, subject: String) {
    let policy = world.dir.path().join("policy.csv");
    let repository_policy = std::fs::read_to_string(repo("policies/policy.csv")).unwrap();
    std::fs::write(
        &policy,
        format!("{repository_policy}p, {subject}, *, consume\n"),
    )
    .unwrap();
    world.secure = Some(SecureServer::start_acl(&world.log_dir(), &policy).await);
}

#[then(expr = "the {string} client reads {string} at offset {int}")]
async fn client_reads(world: &mut ProglogWorld, name: String, value: String, offset: u64) {
    let mut client = world.secure().client(&name).await;
    let record = client
        .consume(ConsumeRequest { offset })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(record.value, value.into_bytes());
}

#[when(expr = "the {string} client tries to produce {string}")]
async fn tries_to_produce(world: &mut ProglogWorld, name: String, value: String) {
    let server = world.secure();
    let status = server
        .client(&name)
        .await
        .produce(produce_request(&value))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    server.refusal = Some(status.message().to_string());
}

#[when(expr = "the {string} client tries to consume offset {int}")]
async fn tries_to_consume(world: &mut ProglogWorld, name: String, offset: u64) {
    let server = world.secure();
    let status = server
        .client(&name)
        .await
        .consume(ConsumeRequest { offset })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    server.refusal = Some(status.message().to_string());
}

#[then(expr = "the call is denied with {string}")]
fn denied_with(world: &mut ProglogWorld, message: String) {
    assert_eq!(world.secure().refusal.as_deref(), Some(message.as_str()));
}

#[then(expr = "the log holds {int} record(s)")]
fn holds_records(world: &mut ProglogWorld, count: u64) {
    let log = &world.secure().log;
    assert_eq!(log.next_offset() - log.lowest_offset(), count);
}
