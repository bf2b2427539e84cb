//! Steps for `features/chapter-05-server.feature`: `proglog` as a real
//! process on 127.0.0.1 (this test executable re-run as proglog; see
//! `chapter_05::testing`), driven through its command line and over gRPC.

use std::io::{Read, Write};

use std::time::Duration;

use chapter_02::api::v1::{ProduceRequest, Record};
use chapter_05::testing::{
    Binary, ServerProcess, assert_acknowledged_read_back, cert, free_addr, produce_flat_out,
    stderr, stdout, wait_for_acknowledged,
};
use cucumber::{given, then, when};

use crate::world::ProglogWorld;

fn split(args: &str) -> Vec<&str> {
    args.split_whitespace().collect()
}

fn start(world: &mut ProglogWorld, args: &[&str]) {
    let server = ServerProcess::start(&Binary::this_process(), world.dir.path(), args, &[]);
    world.proglog.server_args = args.iter().map(|arg| arg.to_string()).collect();
    world.proglog.server = Some(server);
}

#[given(expr = "proglog serve is running with {string}")]
fn serve(world: &mut ProglogWorld, args: String) {
    start(world, &split(&args));
}

#[given(expr = "proglog serve is running with {string} and metrics")]
fn serve_with_metrics(world: &mut ProglogWorld, args: String) {
    let metrics = free_addr();
    world.proglog.metrics = Some(metrics);
    let metrics = metrics.to_string();
    start(
        world,
        &[split(&args), vec!["--metrics-addr", &metrics]].concat(),
    );
}

#[when("proglog serve is started again on the same data")]
fn restart(world: &mut ProglogWorld) {
    let args = world.proglog.server_args.clone();
    start(world, &args.iter().map(String::as_str).collect::<Vec<_>>());
}

#[when(expr = "I run proglog produce {string} {string}")]
fn produce_two(world: &mut ProglogWorld, first: String, second: String) {
    let output = world.proglog.server().cli(&["produce", &first, &second]);
    world.proglog.output = Some(output);
}

#[when(expr = "I run proglog produce {string} {string} {string}")]
fn produce_three(world: &mut ProglogWorld, first: String, second: String, third: String) {
    let output = world
        .proglog
        .server()
        .cli(&["produce", &first, &second, &third]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[then(expr = "it prints the offsets {int} and {int}")]
fn prints_offsets(world: &mut ProglogWorld, first: u64, second: u64) {
    let output = world.proglog.output.take().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{first}\n{second}\n"));
}

#[when(expr = "I run proglog consume from offset {int}")]
fn consume_from(world: &mut ProglogWorld, offset: u64) {
    let output = world
        .proglog
        .server()
        .cli(&["consume", "--from", &offset.to_string()]);
    world.proglog.output = Some(output);
}

#[then(expr = "it prints {string} and {string}")]
fn prints_lines(world: &mut ProglogWorld, first: String, second: String) {
    let output = world.proglog.output.take().unwrap();
    assert_eq!(stdout(&output), format!("{first}\n{second}\n"));
}

#[given(expr = "{int} records were produced through the command line")]
fn produced_many(world: &mut ProglogWorld, count: u64) {
    let server = world.proglog.server();
    let input: String = (0..count).map(|n| format!("record {n}\n")).collect();
    let addr = server.addr.to_string();
    let output = Binary::this_process().run(&["produce", "--dev", "--addr", &addr], Some(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count() as u64, count);
}

#[when("the server is sent SIGTERM")]
fn sigterm(world: &mut ProglogWorld) {
    let server = world.proglog.server.take().unwrap();
    world.proglog.exit = Some(server.stop());
}

#[then(expr = "it exits with status {int}")]
fn exit_status(world: &mut ProglogWorld, code: i32) {
    assert_eq!(world.proglog.exit.unwrap().code(), Some(code));
}

#[then(expr = "consuming from offset 0 prints all {int} records")]
fn prints_all(world: &mut ProglogWorld, count: u64) {
    let output = world.proglog.server().cli(&["consume", "--from", "0"]);
    let expected: String = (0..count).map(|n| format!("{n}\trecord {n}\n")).collect();
    assert_eq!(stdout(&output), expected);
}

#[given(expr = "{int} clients are producing records as fast as they can")]
async fn producing(world: &mut ProglogWorld, clients: u64) {
    let acknowledged = produce_flat_out(world.proglog.server(), clients).await;
    wait_for_acknowledged(&acknowledged, 500).await;
    world.proglog.acknowledged = Some(acknowledged);
}

#[when("the server is sent SIGKILL")]
async fn sigkill(world: &mut ProglogWorld) {
    let mut server = world.proglog.server.take().unwrap();
    server.signal("KILL");
    server.wait(Duration::from_secs(10));
}

#[then("every offset the clients were given reads back identical")]
async fn acknowledged_survive(world: &mut ProglogWorld) {
    let acknowledged = world.proglog.acknowledged.take().unwrap();
    assert_acknowledged_read_back(world.proglog.server(), &acknowledged).await;
}

#[when(expr = "nobody runs proglog produce {string}")]
fn nobody_produces(world: &mut ProglogWorld, value: String) {
    let addr = world.proglog.server().addr.to_string();
    let (ca, client_cert, key) = (
        cert("ca.pem"),
        cert("nobody-client.pem"),
        cert("nobody-client-key.pem"),
    );
    let args = [
        "produce",
        "--addr",
        &addr,
        "--tls-ca",
        ca.to_str().unwrap(),
        "--tls-cert",
        client_cert.to_str().unwrap(),
    ];
    let output = Binary::this_process().run(
        &[&args[..], &["--tls-key", key.to_str().unwrap(), &value]].concat(),
        None,
    );
    world.proglog.output = Some(output);
}

#[when(expr = "I run proglog serve with {string}")]
fn serve_fails(world: &mut ProglogWorld, args: String) {
    let data = world.dir.path().join("data").display().to_string();
    let addr = free_addr().to_string();
    let args = [
        vec!["serve", "--addr", &addr, "--data-dir", &data],
        split(&args),
    ]
    .concat();
    world.proglog.output = Some(Binary::this_process().run(&args, None));
}

#[then(expr = "the command fails with {string}")]
fn command_fails(world: &mut ProglogWorld, message: String) {
    let output = world.proglog.output.take().unwrap();
    assert!(
        !output.status.success(),
        "it succeeded: {}",
        stdout(&output)
    );
    let errors: Vec<String> = stderr(&output)
        .lines()
        .filter(|line| line.starts_with("proglog: "))
        .map(String::from)
        .collect();
    assert_eq!(errors.len(), 1, "one line of error: {}", stderr(&output));
    assert!(
        errors[0].starts_with(&format!("proglog: {message}")),
        "{}",
        errors[0]
    );
    assert!(!stderr(&output).contains("panicked"));
}

#[when("a client without a certificate tries to produce")]
async fn no_certificate(world: &mut ProglogWorld) {
    let config = chapter_03::client_config(&cert("ca.pem"), None).unwrap();
    let addr = world.proglog.server().addr;
    let outcome = match chapter_03::client::connect_with_config(addr, config, "localhost").await {
        Ok(mut client) => {
            let request = ProduceRequest {
                record: Some(Record {
                    value: b"anonymous".to_vec(),
                    ..Record::default()
                }),
                ..ProduceRequest::default()
            };
            client
                .produce(request)
                .await
                .map(|_| ())
                .map_err(|status| format!("{status:?}"))
        }
        Err(error) => Err(error.to_string()),
    };
    world.proglog.refusal = Some(outcome.expect_err("a client without a certificate was served"));
}

#[then("the client is refused at the handshake")]
fn refused_at_handshake(world: &mut ProglogWorld) {
    // The client may see the server's alert or only a closed connection
    // (whichever its runtime reads first); the server's log has the reason.
    assert!(world.proglog.refusal.take().is_some());
    let log = world.proglog.server().log();
    let logged = log.lines().any(|line| {
        line.contains("TLS handshake failed") && line.contains("peer sent no certificates")
    });
    assert!(logged, "the server logs why:\n{log}");
}

#[then(expr = "gRPC health reports SERVING for {string}")]
async fn health_serving(world: &mut ProglogWorld, service: String) {
    let channel = world.proglog.server().channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let response = health
        .check(tonic_health::pb::HealthCheckRequest { service })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        response.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[then(expr = "the metrics say {int} records were appended")]
fn metrics_count(world: &mut ProglogWorld, count: u64) {
    let mut stream = std::net::TcpStream::connect(world.proglog.metrics.unwrap()).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.contains(&format!("proglog_records_appended_total {count}\n")),
        "{response}"
    );
}
