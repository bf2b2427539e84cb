//! Every error a client can get carries a standard status code and
//! google.rpc details that decode on the client: snapshots of each.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::fmt::Write;

use chapter_02::ServiceConfig;
use chapter_02::api::v1::{ProduceRequest, ProduceResponse};
use common::{TestServer, consume_request, produce_request};
use tonic::Status;
use tonic_types::StatusExt;

/// A status as a client program sees it: code, message and every detail,
/// decoded, with map keys sorted so the snapshot is stable.
fn describe(status: &Status) -> String {
    let mut out = format!("code: {:?}\nmessage: {}\n", status.code(), status.message());
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
    if let Some(bad_request) = details.bad_request() {
        for violation in &bad_request.field_violations {
            writeln!(
                out,
                "bad_request: {}: {}",
                violation.field, violation.description
            )
            .unwrap();
        }
    }
    out
}

// ANCHOR: out_of_range
// Consume past the end: OUT_OF_RANGE with the offsets a client needs to
// choose another one.
#[tokio::test]
async fn consume_out_of_range_details() {
    let mut server = TestServer::start().await;
    for value in ["a", "b", "c"] {
        server.client.produce(produce_request(value)).await.unwrap();
    }
    let status = server.client.consume(consume_request(7)).await.unwrap_err();
    insta::assert_snapshot!(describe(&status), @r#"
    code: OutOfRange
    message: offset 7 is out of range: the log holds offsets 0..3
    error_info: reason=OFFSET_OUT_OF_RANGE domain=proglog.log.v1 metadata={"lowest_offset": "0", "next_offset": "3", "offset": "7"}
    localized_message: [en-US] offset 7 is out of range: the log holds offsets 0..3
    "#);
}
// ANCHOR_END: out_of_range

// A consume stream that would start past the end: the same details.
#[tokio::test]
async fn consume_stream_out_of_range_details() {
    let mut server = TestServer::start().await;
    let status = server
        .client
        .consume_stream(consume_request(1))
        .await
        .unwrap_err();
    insta::assert_snapshot!(describe(&status), @r#"
    code: OutOfRange
    message: offset 1 is out of range: the log holds offsets 0..0
    error_info: reason=OFFSET_OUT_OF_RANGE domain=proglog.log.v1 metadata={"lowest_offset": "0", "next_offset": "0", "offset": "1"}
    localized_message: [en-US] offset 1 is out of range: the log holds offsets 0..0
    "#);
}

// An oversized record: INVALID_ARGUMENT naming the field.
#[tokio::test]
async fn oversized_record_details() {
    let mut server = TestServer::start_with(ServiceConfig {
        max_record_bytes: 16,
        ..ServiceConfig::default()
    })
    .await;
    let status = server
        .client
        .produce(produce_request(vec![b'x'; 17]))
        .await
        .unwrap_err();
    insta::assert_snapshot!(describe(&status), @r"
    code: InvalidArgument
    message: the record's value is 17 bytes, more than the maximum of 16
    bad_request: record.value: the value is 17 bytes; the maximum is 16
    ");
}

// The default maximum is 1 MiB, and a record just over it gets the same
// clear refusal (not a transport error from the message size limit).
#[tokio::test]
async fn default_maximum_is_one_mebibyte() {
    let mut server = TestServer::start().await;
    let status = server
        .client
        .produce(produce_request(vec![0; (1 << 20) + 1]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("maximum of 1048576"),
        "{}",
        status.message()
    );
    server
        .client
        .produce(produce_request(vec![0; 1 << 20]))
        .await
        .unwrap();
}

// A request without a record: INVALID_ARGUMENT naming the missing field.
#[tokio::test]
async fn missing_record_details() {
    let mut server = TestServer::start().await;
    let status = server
        .client
        .produce(ProduceRequest::default())
        .await
        .unwrap_err();
    insta::assert_snapshot!(describe(&status), @r"
    code: InvalidArgument
    message: the request has no record
    bad_request: record: a record is required
    ");
}

// Corruption found while serving is DATA_LOSS, and the message does not leak
// the server's file paths.
#[tokio::test]
async fn corruption_is_data_loss_without_paths() {
    let mut server = TestServer::start().await;
    server
        .client
        .produce(produce_request("will be damaged"))
        .await
        .unwrap();
    let store = server.dir.path().join("00000000000000000000.store");
    let mut bytes = std::fs::read(&store).unwrap();
    bytes[14] ^= 0xff;
    std::fs::write(&store, bytes).unwrap();
    let status = server.client.consume(consume_request(0)).await.unwrap_err();
    assert!(
        !status
            .message()
            .contains(&server.dir.path().display().to_string()),
        "{}",
        status.message()
    );
    insta::assert_snapshot!(describe(&status), @r"
    code: DataLoss
    message: the stored record failed its integrity check (byte 0 of its segment: checksum mismatch: stored 0x7bfb9b86, computed 0x7b653fb5)
    ");
}

// ANCHOR: oversized_requests
// A request larger than any record could be (5 MiB here) is refused by
// tonic before it is read whole; it still gets INVALID_ARGUMENT naming the
// limit, not the OUT_OF_RANGE tonic reports (our code for offsets), in a
// unary call and in a stream, where it ends the stream after the records
// before it instead of ending it with OK.
#[tokio::test]
async fn an_oversized_request_is_invalid_argument_naming_the_limit() {
    let mut server = TestServer::start().await;
    let huge = vec![0u8; 5 << 20];
    let status = server
        .client
        .produce(produce_request(huge.clone()))
        .await
        .unwrap_err();
    insta::assert_snapshot!(describe(&status), @r"
    code: InvalidArgument
    message: the request is too large: 5242890 bytes, and a request may be at most 1049600
    bad_request: record.value: 5242890 bytes, and a request may be at most 1049600
    ");

    let requests = vec![produce_request("fine"), produce_request(huge)];
    let mut responses = server
        .client
        .produce_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(responses.message().await.unwrap().unwrap().offset, 0);
    let end = responses.message().await.unwrap_err();
    assert_eq!(end.code(), tonic::Code::InvalidArgument, "{end:?}");
    assert_eq!(server.log.log().log.next_offset(), 1);
}
// ANCHOR_END: oversized_requests

/// A message that is not a `ProduceRequest` on the wire: its field 1 is a
/// number where a `Record` (bytes) must be.
#[derive(Clone, PartialEq, prost::Message)]
struct NotAProduceRequest {
    #[prost(uint64, tag = "1")]
    record: u64,
}

// Bytes that do not decode as the request are the client's fault:
// INVALID_ARGUMENT, not the INTERNAL tonic reports.
#[tokio::test]
async fn an_undecodable_request_is_invalid_argument() {
    let server = TestServer::start().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/log.v1.Log/Produce");
    let codec = tonic_prost::ProstCodec::<NotAProduceRequest, ProduceResponse>::default();
    let status = grpc
        .unary(
            tonic::Request::new(NotAProduceRequest { record: 7 }),
            path,
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("the request is not a valid message"),
        "{}",
        status.message()
    );
}

// A storage failure keeps the operating system's words (here EPERM: the
// store is immutable), without the server's paths.
#[tokio::test]
async fn a_storage_failure_keeps_the_os_error_without_paths() {
    let mut server = TestServer::start().await;
    let store = server.dir.path().join("00000000000000000000.store");
    let immutable = std::process::Command::new("chattr")
        .arg("+i")
        .arg(&store)
        .status()
        .unwrap();
    assert!(immutable.success(), "chattr +i needs root (CI has it)");
    let status = server
        .client
        .produce(produce_request("refused"))
        .await
        .unwrap_err();
    std::process::Command::new("chattr")
        .arg("-i")
        .arg(&store)
        .status()
        .unwrap();
    assert_eq!(status.code(), tonic::Code::Internal);
    assert_eq!(
        status.message(),
        "storage failure while writing store: Operation not permitted (os error 1)"
    );
}
