//! The output chapter 2 of the book shows, made for real and compared with
//! the files in `tests/output/` (see `tests/support/book_output.rs` at the
//! root of the repository): every error a client can get, decoded as a
//! client program decodes it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

#[path = "../../../tests/support/book_output.rs"]
mod book_output;

use std::collections::BTreeMap;
use std::fmt::Write;

use chapter_02::ServiceConfig;
use chapter_02::api::v1::ProduceRequest;
use common::{TestServer, consume_request, produce_request};
use tonic::Status;
use tonic_types::StatusExt;

/// A status as a client program sees it: code, message and every detail,
/// decoded, with map keys sorted so that the output is stable.
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

// Each error a client can get, made against a running server: consuming
// past the end, starting a stream past the end, a record over the maximum,
// a request without a record, and a record damaged on disk.
#[tokio::test]
async fn book_shows_every_error_as_the_client_decodes_it() {
    let mut cases: Vec<(&str, Status)> = Vec::new();

    let mut server = TestServer::start().await;
    for value in ["a", "b", "c"] {
        server.client.produce(produce_request(value)).await.unwrap();
    }
    let status = server.client.consume(consume_request(7)).await.unwrap_err();
    cases.push(("Consume offset 7 of a log of three records", status));

    let mut server = TestServer::start().await;
    let status = server
        .client
        .consume_stream(consume_request(1))
        .await
        .unwrap_err();
    cases.push(("ConsumeStream from offset 1 of an empty log", status));

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
    cases.push(("Produce 17 bytes to a server whose maximum is 16", status));

    let status = server
        .client
        .produce(ProduceRequest::default())
        .await
        .unwrap_err();
    cases.push(("Produce a request with no record", status));

    let mut server = TestServer::start().await;
    server
        .client
        .produce(produce_request("will be damaged"))
        .await
        .unwrap();
    let store = server.dir.path().join("00000000000000000000.store");
    let mut bytes = std::fs::read(&store).unwrap();
    bytes[14] ^= 0xff; // a byte of the record's value (after 12 bytes of framing)
    std::fs::write(&store, bytes).unwrap();
    let status = server.client.consume(consume_request(0)).await.unwrap_err();
    cases.push(("Consume a record damaged on disk", status));

    let output: Vec<String> = cases
        .iter()
        .map(|(case, status)| format!("# {case}\n{}", describe(status)))
        .collect();
    assert_output("error_statuses", &output.join("\n"));
}

/// Compares `actual` with `tests/output/NAME.txt`.
fn assert_output(name: &str, actual: &str) {
    book_output::assert_output(env!("CARGO_MANIFEST_DIR"), name, actual);
}
