//! Every error a client can get carries a standard status code and
//! google.rpc details that decode on the client: snapshots of each.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::fmt::Write;

use chapter_02::ServiceConfig;
use chapter_02::api::v1::ProduceRequest;
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
        .produce(ProduceRequest { record: None })
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
    server.log.log().log.flush().unwrap();
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
