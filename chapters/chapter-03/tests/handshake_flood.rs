//! Idle connections cannot crowd out good clients: handshakes in progress
//! are limited per address and in total, and the server never stops
//! accepting.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use chapter_03::ClientTlsFiles;
use common::{TlsServer, cert, cfssl_server_files, produce_request};
use tokio::net::TcpSocket;

// ANCHOR: flood
// 2,000 connections from one address (127.0.0.2) that never send a
// ClientHello, held open, and a good client from another address (127.0.0.1)
// still connects and is served at once. (Before the per-address limit, the
// server stopped accepting at 1,024 handshakes in progress, and the good
// client waited for idle ones to time out, ten seconds later.)
#[tokio::test]
async fn a_good_client_connects_while_2000_idle_sockets_are_held_from_one_address() {
    let server = TlsServer::start(&cfssl_server_files()).await;
    let mut idle = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        idle.push(socket.connect(server.addr).await.unwrap());
    }
    let files = ClientTlsFiles {
        ca: cert("ca.pem"),
        identity: Some((cert("root-client.pem"), cert("root-client-key.pem"))),
    };
    let started = Instant::now();
    // Bounded well below the handshake timeout (5 s): only a server that
    // kept accepting can pass.
    let served = tokio::time::timeout(Duration::from_secs(2), async {
        let mut client = chapter_03::connect_tls(server.addr, &files, "localhost")
            .await
            .unwrap();
        client.produce(produce_request("let me in")).await.unwrap()
    })
    .await;
    assert!(
        served.is_ok(),
        "the good client waited behind {} idle sockets",
        idle.len()
    );
    println!(
        "served in {:?} beside {} idle sockets",
        started.elapsed(),
        idle.len()
    );
}
// ANCHOR_END: flood
