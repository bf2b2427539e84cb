//! How fast is `proglog`, next to what it is built on, in one run?
//!
//! `cargo bench -p chapter-05 --bench server` runs the release `proglog`
//! binary as a server process, and this binary as its client (the same
//! code as `proglog bench produce`), and prints each figure as a ratio to a
//! baseline measured in the same run, interleaved round by round, with the
//! median and the range over the rounds (`PROGLOG_BENCH_ROUNDS`, default 5):
//!
//! 1. **Streaming vs echo**: one client streaming 1,000,000 records of
//!    256 B to `proglog serve --dev --sync os`, against the same client
//!    streaming to a bare echo of the same API over the same mutual TLS
//!    (chapter 2's [`EchoService`], served by this binary re-run as a server
//!    process): what storage, the ACL and the observability layers cost.
//! 2. **Group commit for unary calls**: under `--sync always`, 32 clients
//!    making unary `Produce` calls at once, against one client doing so: how
//!    many appends share each fsync. Beside it, the same 32 unary clients
//!    against the bare echo: how many unary calls per second this machine
//!    can make at all, the ceiling for the first figure.
//! 3. **Durable streaming**: one streaming client under `--sync always`
//!    against the same under `--sync os`.
//! 4. **Memory**: the server's resident memory with 100 `ConsumeStream`s of
//!    1 MiB records that never read, against the same server before they
//!    were opened.
//!
//! The machine is noisy (2 cores shared by client and server): compare the
//! ratios, read the medians, and rerun when a range is wide.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use chapter_02::api::v1::ConsumeRequest;
use chapter_02::api::v1::log_server::LogServer;
use chapter_02::echo::EchoService;
use chapter_05::bench::{Summary, measure, report};
use chapter_05::cli::{BenchProduceArgs, ClientArgs};
use chapter_05::testing::{Binary, ServerProcess, cert, free_addr};
use tokio_stream::StreamExt;

const ECHO: &str = "PROGLOG_BENCH_ECHO";

fn main() {
    if let Ok(addr) = std::env::var(ECHO) {
        return echo_server(addr.parse().unwrap());
    }
    let rounds: usize = std::env::var("PROGLOG_BENCH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run(rounds));
}

fn proglog() -> Binary {
    Binary::at(env!("CARGO_BIN_EXE_proglog-single"))
}

fn args(addr: SocketAddr, records: u64, clients: usize, unary: bool) -> BenchProduceArgs {
    BenchProduceArgs {
        client: ClientArgs {
            addr,
            dev: true,
            insecure: false,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            server_name: "localhost".to_string(),
        },
        records,
        record_size: 256,
        clients,
        unary,
        window: chapter_05::bench::WINDOW,
    }
}

/// Runs `clients` producing `records` against a fresh `proglog serve --dev
/// SERVE_ARGS`.
async fn against_proglog(
    serve_args: &[&str],
    records: u64,
    clients: usize,
    unary: bool,
) -> Summary {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        &proglog(),
        dir.path(),
        &[&["--dev"], serve_args].concat(),
        &[],
    );
    let summary = measure(&args(server.addr, records, clients, unary))
        .await
        .unwrap();
    assert!(server.stop().success());
    summary
}

/// Runs `clients` producing `records` against the echo server.
async fn against_echo(records: u64, clients: usize, unary: bool) -> Summary {
    let addr = free_addr();
    let mut echo = std::process::Command::new(std::env::current_exe().unwrap())
        .env(ECHO, addr.to_string())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(addr).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let summary = measure(&args(addr, records, clients, unary)).await.unwrap();
    echo.kill().unwrap();
    echo.wait().unwrap();
    summary
}

/// The echo server: chapter 2's `EchoService` over chapter 3's mutual TLS,
/// with the development certificates, and nothing else.
fn echo_server(addr: SocketAddr) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let tls = chapter_03::server_config(&chapter_03::ServerTlsFiles {
            cert: cert("server.pem"),
            key: cert("server-key.pem"),
            client_ca: cert("ca.pem"),
        })
        .unwrap();
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        tonic::transport::Server::builder()
            .add_service(LogServer::new(EchoService::default()))
            .serve_with_incoming(chapter_03::tls_incoming(listener, tls))
            .await
            .unwrap();
    });
}

/// The server's resident memory with `streams` never-reading streams of
/// 1 MiB records open, and before they were opened.
async fn memory_with_stalled_streams(streams: usize) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&proglog(), dir.path(), &["--dev"], &[]);
    let mut client = server.client("root").await;
    let value = vec![7u8; (1 << 20) - 64];
    let requests: Vec<_> = (0..100)
        .map(|_| chapter_02::api::v1::ProduceRequest {
            record: Some(chapter_02::api::v1::Record {
                value: value.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let produced = client
        .produce_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(produced.len(), 100);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.resident_bytes();
    let mut open = Vec::new();
    for _ in 0..streams {
        let stream = client
            .consume_stream(ConsumeRequest { offset: 0 })
            .await
            .unwrap()
            .into_inner();
        open.push(stream);
    }
    let mut highest = server.resident_bytes();
    let mut steady = 0;
    while steady < 10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = server.resident_bytes();
        if now > highest + (1 << 20) {
            (highest, steady) = (now, 0);
        } else {
            steady += 1;
        }
    }
    drop(open);
    assert!(server.stop().success());
    (before, highest)
}

async fn run(rounds: usize) {
    let (mut streaming, mut echo) = (Vec::new(), Vec::new());
    let (mut unary_32, mut unary_1, mut unary_echo) = (Vec::new(), Vec::new(), Vec::new());
    let (mut durable, mut os) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let ours = against_proglog(&["--sync", "os"], 1_000_000, 1, false).await;
        let bare = against_echo(1_000_000, 1, false).await;
        println!(
            "round {round}: streaming {:.0} vs echo {:.0} records/s (p99 {:?} vs {:?})",
            ours.records_per_second(),
            bare.records_per_second(),
            ours.p99(),
            bare.p99()
        );
        streaming.push(ours.records_per_second());
        echo.push(bare.records_per_second());

        let many = against_proglog(&["--sync", "always"], 32_000, 32, true).await;
        let one = against_proglog(&["--sync", "always"], 2_000, 1, true).await;
        let ceiling = against_echo(32_000, 32, true).await;
        println!(
            "round {round}: --sync always unary, 32 clients {:.0} vs 1 client {:.0} records/s \
             (32 unary clients of the bare echo: {:.0} calls/s)",
            many.records_per_second(),
            one.records_per_second(),
            ceiling.records_per_second()
        );
        unary_32.push(many.records_per_second());
        unary_1.push(one.records_per_second());
        unary_echo.push(ceiling.records_per_second());

        let always = against_proglog(&["--sync", "always"], 1_000_000, 1, false).await;
        println!(
            "round {round}: streaming --sync always {:.0} records/s (p99 {:?})",
            always.records_per_second(),
            always.p99()
        );
        durable.push(always.records_per_second());
        os.push(streaming[streaming.len() - 1]);
    }
    let (before, with_streams) = memory_with_stalled_streams(100).await;

    println!("\n== proglog, 256 B records, {rounds} rounds: median [range] ==");
    report(
        "streaming, --sync os ÷ bare mTLS echo",
        &mut streaming,
        &mut echo,
        "records/s",
    );
    report(
        "--sync always unary, 32 clients ÷ 1",
        &mut unary_32,
        &mut unary_1,
        "records/s",
    );
    report(
        "--sync always unary, 32 clients ÷ the bare echo's 32 (the machine's ceiling for unary calls)",
        &mut unary_32,
        &mut unary_echo,
        "calls/s",
    );
    report(
        "streaming, --sync always ÷ --sync os",
        &mut durable,
        &mut os,
        "records/s",
    );
    println!(
        "memory: 100 never-reading ConsumeStreams of 1 MiB records: {} MiB resident (the same server before them: {} MiB)",
        with_streams >> 20,
        before >> 20
    );
}
