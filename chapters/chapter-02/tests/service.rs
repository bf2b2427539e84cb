//! The service over a real socket on 127.0.0.1:0 and a real log: the Go
//! book's server cases, and what this service promises beyond them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chapter_02::ServiceConfig;
use chapter_02::api::v1::ProduceRequest;
use common::{TestServer, consume_request, produce_request};
use rstest::rstest;
use tokio_stream::StreamExt;
use tonic::Code;

// ANCHOR: produce_consume
// Produce returns an offset; Consume at that offset returns the record.
#[tokio::test]
async fn produce_then_consume_succeeds() {
    let mut server = TestServer::start().await;
    let offset = server
        .client
        .produce(produce_request("hello world"))
        .await
        .unwrap()
        .into_inner()
        .offset;
    assert_eq!(offset, 0);
    let record = server
        .client
        .consume(consume_request(offset))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(
        (record.value.as_slice(), record.offset),
        (&b"hello world"[..], 0)
    );
}
// ANCHOR_END: produce_consume

// Consuming past the end is OUT_OF_RANGE (the Go book sends code 404, which
// clients see as UNKNOWN).
#[tokio::test]
async fn consume_past_the_boundary_is_out_of_range() {
    let mut server = TestServer::start().await;
    server
        .client
        .produce(produce_request("only"))
        .await
        .unwrap();
    let status = server.client.consume(consume_request(1)).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange);
}

// A produce stream answers each record with its offset, in order; a consume
// stream from 0 returns them.
#[tokio::test]
async fn produce_stream_and_consume_stream_succeed() {
    let mut server = TestServer::start().await;
    let requests = tokio_stream::iter(vec![
        produce_request("first message"),
        produce_request("second message"),
    ]);
    let responses = server
        .client
        .produce_stream(requests)
        .await
        .unwrap()
        .into_inner();
    let offsets: Vec<u64> = responses
        .map(|response| response.unwrap().offset)
        .collect()
        .await;
    assert_eq!(offsets, [0, 1]);

    let mut records = server
        .client
        .consume_stream(consume_request(0))
        .await
        .unwrap()
        .into_inner();
    for (offset, value) in [(0, "first message"), (1, "second message")] {
        let record = records.next().await.unwrap().unwrap().record.unwrap();
        assert_eq!(
            (record.offset, record.value.as_slice()),
            (offset, value.as_bytes())
        );
    }
}

// ANCHOR: follower
// A consumer at the end of the log waits without polling: while nothing is
// appended the service does not touch the log; an append wakes it and the
// record arrives.
#[tokio::test]
async fn a_follower_receives_a_later_record_without_polling() {
    let mut server = TestServer::start().await;
    let mut records = server
        .client
        .consume_stream(consume_request(0))
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.reads(),
        0,
        "a waiting follower must not read (poll) the log"
    );

    let mut producer = server.client.clone();
    producer
        .produce(produce_request("appended later"))
        .await
        .unwrap();
    let record = tokio::time::timeout(Duration::from_secs(5), records.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(record.record.unwrap().value, b"appended later");
    assert_eq!(server.reads(), 1, "one append, one read");
}
// ANCHOR_END: follower

// Eight producers stream 1,000 records each at once: every offset is handed
// out once, 0..8000 with no gap, and each reads back with its own value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_produce_streams_get_unique_contiguous_offsets() {
    let server = TestServer::start().await;
    // A follower from offset 0 must see all 8,000 records in order, however
    // the concurrent appends interleave their wake-ups.
    let mut follower = server
        .client
        .clone()
        .consume_stream(consume_request(0))
        .await
        .unwrap()
        .into_inner();
    let following = tokio::spawn(async move {
        for expected in 0..8000 {
            let record = follower.next().await.unwrap().unwrap().record.unwrap();
            assert_eq!(record.offset, expected);
        }
    });
    let producers: Vec<_> = (0..8)
        .map(|producer| {
            let mut client = server.client.clone();
            tokio::spawn(async move {
                let requests: Vec<ProduceRequest> = (0..1000)
                    .map(|n| produce_request(format!("producer {producer} record {n}")))
                    .collect();
                let responses = client
                    .produce_stream(tokio_stream::iter(requests))
                    .await
                    .unwrap()
                    .into_inner();
                let offsets: Vec<u64> = responses
                    .map(|response| response.unwrap().offset)
                    .collect()
                    .await;
                (producer, offsets)
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for producer in producers {
        let (producer, offsets) = producer.await.unwrap();
        assert_eq!(offsets.len(), 1000);
        assert!(
            offsets.windows(2).all(|pair| pair[0] < pair[1]),
            "a stream's offsets are in order"
        );
        for (n, offset) in offsets.into_iter().enumerate() {
            assert!(seen.insert(offset), "offset {offset} handed out twice");
            let record = server
                .client
                .clone()
                .consume(consume_request(offset))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(
                record.record.unwrap().value,
                format!("producer {producer} record {n}").into_bytes()
            );
        }
    }
    assert_eq!(seen, (0..8000).collect::<HashSet<u64>>());
    tokio::time::timeout(Duration::from_secs(30), following)
        .await
        .expect("the follower saw every record")
        .unwrap();
}

// A record over the maximum is refused and nothing is written; so is a
// request without a record.
#[tokio::test]
async fn invalid_produce_requests_are_refused_and_write_nothing() {
    let mut server = TestServer::start_with(ServiceConfig {
        max_record_bytes: 100,
        ..ServiceConfig::default()
    })
    .await;
    let status = server
        .client
        .produce(produce_request(vec![0; 101]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = server
        .client
        .produce(ProduceRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(server.log.log().log.next_offset(), 0, "nothing was written");
    assert_eq!(
        server
            .client
            .produce(produce_request(vec![0; 100]))
            .await
            .unwrap()
            .into_inner()
            .offset,
        0
    );
}

// ANCHOR: invalid_in_stream
// In a stream, the requests before an invalid one are appended and answered;
// the invalid one ends the stream with INVALID_ARGUMENT.
#[tokio::test]
async fn an_invalid_request_ends_a_produce_stream_after_the_valid_ones() {
    let mut server = TestServer::start_with(ServiceConfig {
        max_record_bytes: 10,
        ..ServiceConfig::default()
    })
    .await;
    let requests = vec![
        produce_request("ok"),
        produce_request("fine"),
        produce_request("far too long"),
    ];
    let mut responses = server
        .client
        .produce_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(responses.next().await.unwrap().unwrap().offset, 0);
    assert_eq!(responses.next().await.unwrap().unwrap().offset, 1);
    assert_eq!(
        responses.next().await.unwrap().unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(server.log.log().log.next_offset(), 2);
}
// ANCHOR_END: invalid_in_stream

// A consume stream may start at the next offset (it waits), but not past it
// and not below the lowest offset.
#[tokio::test]
async fn consume_stream_start_must_be_in_the_log_or_at_its_end() {
    let mut server = TestServer::start().await;
    server
        .client
        .produce(produce_request("zero"))
        .await
        .unwrap();
    let status = server
        .client
        .consume_stream(consume_request(2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange);
    let mut tail = server
        .client
        .consume_stream(consume_request(1))
        .await
        .unwrap()
        .into_inner();
    server.client.produce(produce_request("one")).await.unwrap();
    assert_eq!(
        tail.next().await.unwrap().unwrap().record.unwrap().offset,
        1
    );
}

// ANCHOR: never_reads
// A consumer that never reads does not make the server read the whole log
// into memory: the bounded channel and HTTP/2 flow control hold the sender
// back after a window's worth of records.
#[tokio::test]
async fn a_consumer_that_never_reads_holds_the_server_back() {
    let mut server = TestServer::start().await;
    let value = vec![7u8; 4096];
    let requests: Vec<ProduceRequest> = (0..5000).map(|_| produce_request(value.clone())).collect();
    let responses = server
        .client
        .produce_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(responses.collect::<Vec<_>>().await.len(), 5000);

    let mut stalled = server
        .client
        .consume_stream(consume_request(0))
        .await
        .unwrap()
        .into_inner();
    let read_while_stalled = server.reads_settled().await;
    assert!(
        (1..2000).contains(&read_while_stalled),
        "the server read {read_while_stalled} of 5000 records for a client that read none"
    );

    // Once the client reads, every record arrives.
    let mut received = 0;
    while received < 5000 {
        stalled.next().await.unwrap().unwrap();
        received += 1;
    }
}
// ANCHOR_END: never_reads

// Shutdown ends an open consume stream and a half-finished produce stream
// with UNAVAILABLE, answers what was sent, and syncs the log.
#[tokio::test]
async fn graceful_shutdown_ends_open_streams_cleanly() {
    let mut server = TestServer::start().await;
    let mut following = server
        .client
        .consume_stream(consume_request(0))
        .await
        .unwrap()
        .into_inner();

    let (requests, outbound) = tokio::sync::mpsc::channel(8);
    let mut producing = server
        .client
        .produce_stream(tokio_stream::wrappers::ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    requests
        .send(produce_request("sent before shutdown"))
        .await
        .unwrap();
    assert_eq!(producing.next().await.unwrap().unwrap().offset, 0);
    assert_eq!(
        following
            .next()
            .await
            .unwrap()
            .unwrap()
            .record
            .unwrap()
            .offset,
        0
    );

    // ANCHOR: shutdown_verdict
    // `requests` stays open: the produce stream is half-finished.
    let serve_result = tokio::time::timeout(Duration::from_secs(10), server.shut_down()).await;
    serve_result
        .expect("shutdown finished")
        .expect("serve returned Ok");
    assert_eq!(
        following.next().await.unwrap().unwrap_err().code(),
        Code::Unavailable
    );
    assert_eq!(
        producing.next().await.unwrap().unwrap_err().code(),
        Code::Unavailable
    );
    drop(requests);
    // ANCHOR_END: shutdown_verdict
}

// Clients that stop reading cannot hold the server up: shutdown drains for
// at most the drain timeout, then syncs and returns.
#[tokio::test]
async fn shutdown_is_not_held_up_by_clients_that_stopped_reading() {
    let config = ServiceConfig {
        drain_timeout: Duration::from_millis(500),
        ..ServiceConfig::default()
    };
    let mut server = TestServer::start_with(config).await;
    let value = vec![1u8; 4096];
    let requests: Vec<ProduceRequest> = (0..3000).map(|_| produce_request(value.clone())).collect();
    let responses = server
        .client
        .produce_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(responses.collect::<Vec<_>>().await.len(), 3000);

    // A follower that never reads, and a producer that never reads its responses.
    let _stalled_follower = server
        .client
        .consume_stream(consume_request(0))
        .await
        .unwrap()
        .into_inner();
    let endless = tokio_stream::iter((0..1_000_000).map(move |_| produce_request(vec![2u8; 4096])));
    let _stalled_producer = server
        .client
        .produce_stream(endless)
        .await
        .unwrap()
        .into_inner();
    // Both are stuck once the server has read all it will for the follower.
    assert!(server.reads_settled().await > 0);

    let shutdown = tokio::time::timeout(Duration::from_secs(20), server.shut_down()).await;
    shutdown
        .expect("serve returned despite the stalled clients")
        .expect("serve returned Ok");
}

// ANCHOR: shutdown_race
// A shutdown that comes while a consume stream waits for a client that is
// not reading (its buffer full) still ends the stream with UNAVAILABLE,
// after every record already buffered: never with OK, which would tell the
// client it had reached the end.
#[tokio::test]
async fn a_shutdown_while_the_client_is_not_reading_ends_with_unavailable() {
    let mut server = TestServer::start().await;
    let value = vec![3u8; 4096];
    let requests: Vec<ProduceRequest> = (0..2000).map(|_| produce_request(value.clone())).collect();
    let responses = server
        .client
        .produce_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(responses.collect::<Vec<_>>().await.len(), 2000);
    let mut stalled = server
        .client
        .consume_stream(consume_request(0))
        .await
        .unwrap()
        .into_inner();
    stalled.next().await.unwrap().unwrap();
    // Wait until the server has filled what it may buffer, then stop it.
    server.reads_settled().await;
    let shutdown = tokio::spawn(async move { server.shut_down().await });
    let mut received = 1;
    let end = loop {
        match stalled.next().await {
            Some(Ok(_)) => received += 1,
            Some(Err(status)) => break status,
            None => panic!("the stream ended with OK after {received} records"),
        }
    };
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    assert!(received < 2000, "it ended early, as the server stopped");
    shutdown.await.unwrap().unwrap();
}
// ANCHOR_END: shutdown_race

// ANCHOR: unusable_configs
// Limits that cannot work are refused when the service is made, each
// naming its setting.
#[rstest]
#[case::no_stream_buffer(ServiceConfig { stream_buffer: 0, ..ServiceConfig::default() }, "stream_buffer must be at least 1")]
#[case::no_records(ServiceConfig { max_record_bytes: 0, ..ServiceConfig::default() }, "max_record_bytes must be at least 1")]
#[case::records_larger_than_segments(ServiceConfig { max_record_bytes: 2 << 30, ..ServiceConfig::default() }, "the log's segments hold values of at most 1073741812 bytes")]
#[case::stream_over_total(ServiceConfig { stream_buffer_bytes: 2 << 20, total_buffer_bytes: 1 << 20, ..ServiceConfig::default() }, "is more than total_buffer_bytes")]
fn unusable_service_configs_are_refused(#[case] config: ServiceConfig, #[case] message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = chapter_01::Log::open(dir.path(), chapter_01::Config::default()).unwrap();
    let error = chapter_02::LogService::new(Arc::new(chapter_02::FollowableLog::new(log)), config)
        .unwrap_err();
    assert!(error.to_string().contains(message), "{error}");
}
// ANCHOR_END: unusable_configs
