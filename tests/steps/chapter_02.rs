//! Steps for `features/chapter-02-grpc.feature`: a real server on
//! 127.0.0.1 over a real log, and a real gRPC client.

use std::time::Duration;

use chapter_02::api::v1::{ConsumeRequest, ProduceRequest, Record};
use cucumber::{given, then, when};
use tokio_stream::StreamExt;
use tonic_types::StatusExt;

use crate::world::{GrpcServer, ProglogWorld};

fn produce_request(value: impl Into<Vec<u8>>) -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value: value.into(),
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

#[given("a log server listening on 127.0.0.1")]
async fn a_server(world: &mut ProglogWorld) {
    let server = GrpcServer::start(&world.log_dir()).await;
    assert!(server.addr.ip().is_loopback());
    world.grpc = Some(server);
}

#[when(expr = "a client produces {string}")]
async fn produce(world: &mut ProglogWorld, value: String) {
    let server = world.grpc();
    let offset = server
        .client
        .produce(produce_request(value))
        .await
        .unwrap()
        .into_inner()
        .offset;
    server.offsets = vec![offset];
}

#[when("a client produces a record one byte over the 1 MiB maximum")]
async fn produce_oversized(world: &mut ProglogWorld) {
    let server = world.grpc();
    let status = server
        .client
        .produce(produce_request(vec![b'x'; (1 << 20) + 1]))
        .await
        .unwrap_err();
    server.failure = Some(status);
}

#[then(expr = "the client is told offset {int}")]
fn told_offset(world: &mut ProglogWorld, offset: u64) {
    assert_eq!(world.grpc().offsets, [offset]);
}

#[then(expr = "consuming offset {int} returns {string}")]
async fn consume_returns(world: &mut ProglogWorld, offset: u64, value: String) {
    let response = world
        .grpc()
        .client
        .consume(ConsumeRequest { offset })
        .await
        .unwrap()
        .into_inner();
    let record = response.record.unwrap();
    assert_eq!((record.offset, record.value), (offset, value.into_bytes()));
}

#[given(expr = "a client streams the records {string}, {string} and {string}")]
#[when(expr = "a client streams the records {string}, {string} and {string}")]
async fn stream_records(world: &mut ProglogWorld, first: String, second: String, third: String) {
    let server = world.grpc();
    let requests = tokio_stream::iter([first, second, third].map(produce_request));
    let responses = server
        .client
        .produce_stream(requests)
        .await
        .unwrap()
        .into_inner();
    server.offsets = responses
        .map(|response| response.unwrap().offset)
        .collect()
        .await;
}

#[then(expr = "the stream answers with offsets {int}, {int} and {int}")]
fn stream_offsets(world: &mut ProglogWorld, first: u64, second: u64, third: u64) {
    assert_eq!(world.grpc().offsets, [first, second, third]);
}

#[given(expr = "a client follows the log from offset {int}")]
async fn follow(world: &mut ProglogWorld, offset: u64) {
    let server = world.grpc();
    let stream = server
        .client
        .consume_stream(ConsumeRequest { offset })
        .await
        .unwrap()
        .into_inner();
    server.follower = Some(stream);
}

#[then(expr = "the follower receives {string} at offset {int}")]
async fn follower_receives(world: &mut ProglogWorld, value: String, offset: u64) {
    let follower = world.grpc().follower.as_mut().unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), follower.next()).await;
    let record = next
        .expect("a record within 5 s")
        .unwrap()
        .unwrap()
        .record
        .unwrap();
    assert_eq!((record.offset, record.value), (offset, value.into_bytes()));
}

#[when(expr = "a client consumes offset {int}")]
async fn consume_fails(world: &mut ProglogWorld, offset: u64) {
    let server = world.grpc();
    server.failure = Some(
        server
            .client
            .consume(ConsumeRequest { offset })
            .await
            .unwrap_err(),
    );
}

#[then(expr = "the call fails with code {word}")]
fn fails_with(world: &mut ProglogWorld, code: String) {
    let status = world.grpc().failure.as_ref().unwrap();
    let expected = match code.as_str() {
        "OUT_OF_RANGE" => tonic::Code::OutOfRange,
        "INVALID_ARGUMENT" => tonic::Code::InvalidArgument,
        other => panic!("the steps do not know the code {other}"),
    };
    assert_eq!(status.code(), expected, "{status:?}");
}

#[then(
    expr = "the error details say reason {word}, offset {int}, lowest offset {int} and next offset {int}"
)]
fn out_of_range_details(
    world: &mut ProglogWorld,
    reason: String,
    offset: u64,
    lowest: u64,
    next: u64,
) {
    let info = world
        .grpc()
        .failure
        .as_ref()
        .unwrap()
        .get_details_error_info()
        .expect("an ErrorInfo");
    assert_eq!(info.reason, reason);
    assert_eq!(info.metadata["offset"], offset.to_string());
    assert_eq!(info.metadata["lowest_offset"], lowest.to_string());
    assert_eq!(info.metadata["next_offset"], next.to_string());
}

#[then(expr = "the error details name the field {string}")]
fn bad_request_field(world: &mut ProglogWorld, field: String) {
    let bad_request = world
        .grpc()
        .failure
        .as_ref()
        .unwrap()
        .get_details_bad_request()
        .expect("a BadRequest");
    assert!(
        bad_request
            .field_violations
            .iter()
            .any(|violation| violation.field == field),
        "{bad_request:?}"
    );
}

#[then("the log holds no records")]
fn log_empty(world: &mut ProglogWorld) {
    assert_eq!(world.grpc().log.log().highest_offset(), None);
}
