//! Operating the server: health, reflection and metrics; retention; policy
//! reload with SIGHUP; shutdown with open streams; a crash under load; and a
//! load test. All against the real binary on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chapter_02::api::v1::{ConsumeRequest, ProduceRequest, Record};
use chapter_05::testing::{assert_acknowledged_read_back, produce_flat_out, wait_for_acknowledged};
use common::{ServerProcess, free_addr, repo, scrape, stdout};
use tokio_stream::StreamExt;
use tonic::Code;

/// The most records each load-test producer sends.
const RECORDS_PER_PRODUCER: u64 = 20_000;

fn produce_request(value: impl Into<Vec<u8>>) -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value: value.into(),
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

// Health reports SERVING; reflection lists the Log service (what grpcurl
// uses); the metrics endpoint counts the records appended.
#[tokio::test]
async fn health_reflection_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_addr = free_addr();
    let server = ServerProcess::start(
        dir.path(),
        &["--dev", "--metrics-addr", &metrics_addr.to_string()],
    );

    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    for service in ["", "log.v1.Log"] {
        let request = tonic_health::pb::HealthCheckRequest {
            service: service.to_string(),
        };
        let status = health.check(request).await.unwrap().into_inner().status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("not a list of services");
    };
    let names: HashSet<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    assert!(
        names.contains("log.v1.Log") && names.contains("grpc.health.v1.Health"),
        "{names:?}"
    );

    let mut client = server.client("root").await;
    for n in 0..7 {
        client
            .produce(produce_request(format!("record {n}")))
            .await
            .unwrap();
    }
    let metrics = scrape(metrics_addr);
    assert!(
        metrics.contains("proglog_records_appended_total 7"),
        "{metrics}"
    );
    assert!(
        metrics.contains("proglog_rpcs_total{method=\"Produce\",code=\"OK\"} 7"),
        "{metrics}"
    );
    assert!(server.stop().success());
}

// Retention deletes the oldest sealed segments once the log is over its
// size limit; a consumer below the new lowest offset gets OUT_OF_RANGE.
#[tokio::test]
async fn retention_deletes_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--dev",
        "--segment-bytes",
        "4KiB",
        "--max-record-bytes",
        "1KiB",
        "--retention-bytes",
        "16KiB",
        "--retention-interval",
        "100ms",
    ];
    let server = ServerProcess::start(dir.path(), &args);
    let mut client = server.client("root").await;
    let requests: Vec<ProduceRequest> = (0..400)
        .map(|n| produce_request(format!("{n:0>100}")))
        .collect();
    let responses = client
        .produce_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(responses.collect::<Vec<_>>().await.len(), 400);

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match client.consume(ConsumeRequest { offset: 0 }).await {
            Err(status) => break status,
            Ok(_) => assert!(
                Instant::now() < deadline,
                "retention deleted nothing:\n{}",
                server.log()
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Code::OutOfRange);
    let stores: u64 = std::fs::read_dir(&server.data_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "store")
        })
        .map(|path| std::fs::metadata(path).unwrap().len())
        .sum();
    assert!(
        stores <= 16 * 1024 + 4096,
        "{stores} bytes of stores remain"
    );
    // The newest records are still there.
    assert_eq!(
        client
            .consume(ConsumeRequest { offset: 399 })
            .await
            .unwrap()
            .into_inner()
            .record
            .unwrap()
            .value,
        format!("{:0>100}", 399).into_bytes()
    );
    assert!(server.log().contains("retention deleted old segments"));
    // `consume` without --from starts at the new lowest offset.
    let lowest = server.cli(&["consume", "--count", "1"]);
    assert!(lowest.status.success(), "{}", common::stderr(&lowest));
    let first_line = stdout(&lowest);
    let first: u64 = first_line.split('\t').next().unwrap().parse().unwrap();
    assert!(first > 0, "{first_line}");
}

// SIGHUP reloads the policy atomically under load: root is never refused
// (no moment where everything is denied), nobody is refused until the new
// policy is in force and never after (no moment of everything allowed, and
// no flapping back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_policy_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.csv");
    std::fs::copy(repo("policies/policy.csv"), &policy).unwrap();
    let server = ServerProcess::start(
        dir.path(),
        &["--dev", "--acl-policy", policy.to_str().unwrap()],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let root_failures = Arc::new(AtomicU64::new(0));
    let root_calls = Arc::new(AtomicU64::new(0));
    let mut root = server.client("root").await;
    let root_task = {
        let (stop, failures, calls) = (
            Arc::clone(&stop),
            Arc::clone(&root_failures),
            Arc::clone(&root_calls),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if root.produce(produce_request("root")).await.is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                calls.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut nobody = server.client("nobody").await;
    assert_eq!(
        nobody
            .produce(produce_request("nobody"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    std::fs::write(
        &policy,
        "p, root, *, produce\np, root, *, consume\np, nobody, *, produce\n",
    )
    .unwrap();
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while nobody.produce(produce_request("nobody")).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the reload never took effect:\n{}",
            server.log()
        );
    }
    for _ in 0..50 {
        nobody
            .produce(produce_request("nobody, after"))
            .await
            .expect("once reloaded, the new policy stays");
    }
    stop.store(true, Ordering::Relaxed);
    root_task.await.unwrap();
    assert!(
        root_calls.load(Ordering::Relaxed) > 10,
        "root kept calling throughout"
    );
    assert_eq!(
        root_failures.load(Ordering::Relaxed),
        0,
        "root was refused during the reload"
    );
    assert!(
        server.log().contains("SIGHUP: ACL reloaded"),
        "{}",
        server.log()
    );

    // A broken policy is not loaded: the one in force stays.
    std::fs::write(&policy, "p, nobody\n").unwrap();
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("ACL not reloaded") {
        assert!(Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nobody
        .produce(produce_request("still allowed"))
        .await
        .unwrap();
}

// SIGTERM with an open follower and a half-finished producer: both streams
// end with UNAVAILABLE, the process exits 0, and every acknowledged record
// is there after a restart.
#[tokio::test]
async fn sigterm_with_open_streams_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    let mut client = server.client("root").await;
    let mut follower = client
        .consume_stream(ConsumeRequest { offset: 0 })
        .await
        .unwrap()
        .into_inner();
    let (requests, outbound) = tokio::sync::mpsc::channel(16);
    let mut producer = client
        .produce_stream(tokio_stream::wrappers::ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    for n in 0..10 {
        requests
            .send(produce_request(format!("acknowledged {n}")))
            .await
            .unwrap();
        assert_eq!(producer.next().await.unwrap().unwrap().offset, n);
    }
    for n in 0..10 {
        assert_eq!(
            follower
                .next()
                .await
                .unwrap()
                .unwrap()
                .record
                .unwrap()
                .offset,
            n
        );
    }

    assert!(server.stop().success(), "SIGTERM exits 0");
    assert_eq!(
        follower.next().await.unwrap().unwrap_err().code(),
        Code::Unavailable
    );
    assert_eq!(
        producer.next().await.unwrap().unwrap_err().code(),
        Code::Unavailable
    );
    drop(requests);

    let server = ServerProcess::start(dir.path(), &["--dev"]);
    let consumed = server.cli(&["consume"]);
    let expected: String = (0..10)
        .map(|n| format!("{n}\tacknowledged {n}\n"))
        .collect();
    assert_eq!(stdout(&consumed), expected);
}

// ANCHOR: sigkill
// SIGKILL under load with --sync always: every offset a client was given
// reads back identical after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev", "--sync", "always"]);
    let acknowledged = produce_flat_out(&server, 4).await;
    wait_for_acknowledged(&acknowledged, 500).await;
    server.signal("KILL");
    drop(server);

    let server = ServerProcess::start(dir.path(), &["--dev"]);
    assert_acknowledged_read_back(&server, &acknowledged).await;
}
// ANCHOR_END: sigkill

// Load: 8 producers and 4 followers over mutual TLS for a few seconds.
// Nothing is lost, nothing duplicated, and every follower sees every record
// in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_producers_and_four_followers() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    let seen_counts: Vec<Arc<AtomicU64>> = (0..4).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let mut followers = Vec::new();
    for count in &seen_counts {
        let mut client = server.client("root").await;
        let mut stream = client
            .consume_stream(ConsumeRequest { offset: 0 })
            .await
            .unwrap()
            .into_inner();
        let count = Arc::clone(count);
        followers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(Ok(response)) = stream.next().await {
                let record = response.record.unwrap();
                seen.push((record.offset, record.value));
                count.store(seen.len() as u64, Ordering::Relaxed);
            }
            seen
        }));
    }
    // Producers stream for up to 3 s, or RECORDS_PER_PRODUCER records each.
    let until = Instant::now() + Duration::from_secs(3);
    let mut producers = Vec::new();
    for producer in 0..8 {
        let mut client = server.client("root").await;
        producers.push(tokio::spawn(async move {
            let values =
                (0..RECORDS_PER_PRODUCER).map(move |n| produce_request(format!("p{producer}-{n}")));
            let requests = tokio_stream::iter(values).take_while(move |_| Instant::now() < until);
            let responses = client.produce_stream(requests).await.unwrap().into_inner();
            let offsets: Vec<u64> = responses
                .map(|response| response.unwrap().offset)
                .collect()
                .await;
            (producer, offsets)
        }));
    }
    let mut written = std::collections::BTreeMap::new();
    for producer in producers {
        let (producer, offsets) = producer.await.unwrap();
        for (n, offset) in offsets.into_iter().enumerate() {
            assert!(
                written
                    .insert(offset, format!("p{producer}-{n}").into_bytes())
                    .is_none(),
                "offset {offset} twice"
            );
        }
    }
    let total = written.len() as u64;
    assert!(total > 1000, "only {total} records in 3 s");
    assert_eq!(
        written.keys().copied().collect::<Vec<_>>(),
        (0..total).collect::<Vec<_>>(),
        "no gaps"
    );
    // Let the followers catch up (bounded), then stop: their streams end.
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen_counts
        .iter()
        .any(|count| count.load(Ordering::Relaxed) < total)
    {
        let counts: Vec<u64> = seen_counts
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .collect();
        assert!(
            Instant::now() < deadline,
            "followers stalled at {counts:?} of {total}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.stop().success());
    for follower in followers {
        let seen = follower.await.unwrap();
        assert_eq!(seen.len() as u64, total, "a follower missed records");
        for (expected, (offset, value)) in seen.into_iter().enumerate() {
            assert_eq!(offset, expected as u64, "in order");
            assert_eq!(written.get(&offset), Some(&value), "offset {offset}");
        }
    }
}

/// Calls `path` on `channel` with an empty request: the status it ends with.
async fn call_path(channel: tonic::transport::Channel, path: String) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec =
        tonic_prost::ProstCodec::<ConsumeRequest, chapter_02::api::v1::ConsumeResponse>::default();
    let path = http::uri::PathAndQuery::try_from(path).unwrap();
    grpc.unary(
        tonic::Request::new(ConsumeRequest { offset: 0 }),
        path,
        codec,
    )
    .await
    .unwrap_err()
}

// ANCHOR: metric_labels
// A path a client makes up does not become a metric label: every unknown
// path is counted as `unknown`, so no client can create series at will.
#[tokio::test]
async fn unknown_paths_share_one_metric_label() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_addr = free_addr();
    let server = ServerProcess::start(
        dir.path(),
        &["--dev", "--metrics-addr", &metrics_addr.to_string()],
    );
    for n in 0..5 {
        let status = call_path(
            server.channel().await,
            format!("/made.up.Service{n}/Method{n}"),
        )
        .await;
        assert_eq!(status.code(), Code::PermissionDenied);
        let status = call_path(server.channel().await, format!("/log.v1.Log/Nope{n}")).await;
        assert_eq!(status.code(), Code::Unimplemented);
    }
    let metrics = scrape(metrics_addr);
    assert!(
        metrics.contains("proglog_rpcs_total{method=\"unknown\",code=\"PERMISSION_DENIED\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("proglog_rpcs_total{method=\"unknown\",code=\"UNIMPLEMENTED\"} 5"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("Nope") && !metrics.contains("Method"),
        "{metrics}"
    );
    assert!(server.stop().success());
}
// ANCHOR_END: metric_labels

// ANCHOR: endless_streams
// ANCHOR: endless_setup
// At SIGTERM, health watchers hear NOT_SERVING while the server still
// serves (the grace period), then health's Watch and reflection's stream,
// which never end by themselves, end with UNAVAILABLE and the server exits:
// long before the 10-second drain timeout they used to hold it for.
#[tokio::test]
async fn endless_streams_end_at_shutdown() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &["--dev", "--shutdown-grace", "300ms"]);
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let request = tonic_health::pb::HealthCheckRequest {
        service: "log.v1.Log".to_string(),
    };
    let mut watch = health.watch(request).await.unwrap().into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let (requests, outbound) = tokio::sync::mpsc::channel(1);
    requests
        .send(ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        })
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(server.channel().await)
        .server_reflection_info(tokio_stream::wrappers::ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    reflection.next().await.unwrap().unwrap();
    // ANCHOR_END: endless_setup

    // ANCHOR: endless_check
    let stopping = Instant::now();
    server.signal("TERM");
    let not_serving = watch.next().await.unwrap().unwrap();
    assert_eq!(not_serving.status, ServingStatus::NotServing as i32);
    let watch_end = watch.next().await.unwrap().unwrap_err();
    assert_eq!(watch_end.code(), Code::Unavailable, "{watch_end:?}");
    let reflection_end = reflection.next().await.unwrap().unwrap_err();
    assert_eq!(
        reflection_end.code(),
        Code::Unavailable,
        "{reflection_end:?}"
    );
    let exited = server.wait(Duration::from_secs(20));
    assert!(exited.success());
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the shutdown took {took:?}: the streams held it to the drain timeout"
    );
    drop(requests);
}
// ANCHOR_END: endless_check
// ANCHOR_END: endless_streams

// ANCHOR: memory_bound
// ANCHOR: memory_setup
// One connection with 100 ConsumeStreams of 1 MiB records that never read:
// the server buffers a bounded amount per stream and in all, so its memory
// stays far below the 100 × 64 MiB an unbounded 64-message buffer allowed.
#[tokio::test]
async fn never_reading_streams_keep_memory_bounded() {
    const STREAMS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    let mut client = server.client("root").await;
    let value = vec![7u8; (1 << 20) - 64];
    let requests: Vec<ProduceRequest> = (0..100).map(|_| produce_request(value.clone())).collect();
    let acknowledged = client
        .produce_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(acknowledged.len(), 100);
    let before = server.resident_bytes();
    let mut streams = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        let stream = client
            .consume_stream(ConsumeRequest { offset: 0 })
            .await
            .unwrap()
            .into_inner();
        streams.push(stream);
    }
    // ANCHOR_END: memory_setup
    // ANCHOR: memory_check
    // Wait until the server has read all it will: its memory stops growing.
    let mut highest = server.resident_bytes();
    let mut steady = 0;
    while steady < 10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = server.resident_bytes();
        if now > highest + (1 << 20) {
            highest = now;
            steady = 0;
        } else {
            steady += 1;
        }
    }
    println!(
        "{STREAMS} never-reading streams of 1 MiB records: server RSS {} MiB (before the streams: {} MiB)",
        highest >> 20,
        before >> 20
    );
    assert!(
        highest < 512 << 20,
        "the server holds {} MiB for {STREAMS} streams that read nothing",
        highest >> 20
    );
    drop(streams);
    assert!(server.stop().success());
}
// ANCHOR_END: memory_check
// ANCHOR_END: memory_bound

// A storage failure reaches the operator's log once, at ERROR, with the
// operating system's words (not only as an INTERNAL answer to a client).
#[tokio::test]
async fn a_storage_failure_is_logged_at_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    let mut client = server.client("root").await;
    client.produce(produce_request("first")).await.unwrap();
    let store = std::fs::read_dir(&server.data_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "store"))
        .expect("a store file");
    let chattr = |flag: &str| {
        let status = std::process::Command::new("chattr")
            .arg(flag)
            .arg(&store)
            .status();
        assert!(
            status.unwrap().success(),
            "chattr {flag} needs root (CI has it)"
        );
    };
    chattr("+i");
    let refused = client.produce(produce_request("refused")).await;
    chattr("-i");
    assert_eq!(refused.unwrap_err().code(), Code::Internal);
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let log = server.log();
        if let Some(line) = log.lines().find(|line| line.contains("storage failure")) {
            break line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no storage failure logged:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains("Operation not permitted (os error 1)"),
        "{line}"
    );
}

// HTTP/2's MAX_CONCURRENT_STREAMS bounds the streams one connection holds
// open (memory is bounded per stream, so this bounds it per connection):
// past the limit, a new call waits for a stream to end.
#[tokio::test]
async fn a_connection_holds_at_most_the_stream_limit() {
    const LIMIT: usize = 128;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    let mut client = server.client("root").await;
    let mut open = Vec::with_capacity(LIMIT);
    for _ in 0..LIMIT {
        // A stream from the end of an empty log stays open, waiting.
        let stream = client
            .consume_stream(ConsumeRequest { offset: 0 })
            .await
            .unwrap();
        open.push(stream.into_inner());
    }
    let mut one_more = client.clone();
    let waiting = tokio::spawn(async move {
        one_more
            .consume_stream(ConsumeRequest { offset: 0 })
            .await
            .map(|_| ())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "stream {} was opened beside {LIMIT} open ones",
        LIMIT + 1
    );
    drop(open.pop());
    let opened = tokio::time::timeout(Duration::from_secs(10), waiting).await;
    assert!(
        opened.is_ok_and(|joined| joined.unwrap().is_ok()),
        "it opens once one ends"
    );
}

// During the shutdown grace period the server says NOT_SERVING to health
// checks but still serves calls (so that load balancers stop sending
// first, and what they already sent succeeds); then it stops. (Two
// worker threads: while the test waits for the exit, the client's
// connections must still run, to close when the server says GOAWAY.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_served_during_the_grace_period() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &["--dev", "--shutdown-grace", "3s"]);
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let mut watch = health
        .watch(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.next().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );
    let mut client = server.client("root").await;
    server.signal("TERM");
    let not_serving = watch.next().await.unwrap().unwrap();
    assert_eq!(not_serving.status, ServingStatus::NotServing as i32);
    // NOT_SERVING, and yet the calls in the grace period succeed.
    let offset = client
        .produce(produce_request("in the grace period"))
        .await
        .unwrap();
    let read = client
        .consume(ConsumeRequest {
            offset: offset.into_inner().offset,
        })
        .await
        .unwrap();
    assert_eq!(
        read.into_inner().record.unwrap().value,
        b"in the grace period"
    );
    let stopping = Instant::now();
    drop((watch, client, health));
    assert!(server.wait(Duration::from_secs(20)).success());
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "{took:?}: held to the drain timeout"
    );
}
