//! A refused client sees little more than "connection closed"; the reason
//! exists only at the server, which logs it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use chapter_03::client_config;
use common::{Files, TestCa, TlsServer, cert, cfssl_server_files, try_produce};

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ANCHOR: logged
// A client with a certificate from an unknown CA is refused, and the server
// logs the handshake failure with rustls's reason and the peer's address.
#[tokio::test] // one thread: the server's tasks log through this test's subscriber
async fn a_failed_handshake_is_logged_with_its_reason() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = TlsServer::start(&cfssl_server_files()).await;
    let stranger = TestCa::new("a stranger's CA");
    let files = Files::new();
    let (cert_pem, key_pem) = stranger.client("mallory");
    let (cert_path, key_path) = (
        files.write("mallory.pem", &cert_pem),
        files.write("mallory-key.pem", &key_pem),
    );
    let config = client_config(&cert("ca.pem"), Some((&cert_path, &key_path))).unwrap();
    assert!(try_produce(server.addr, config, "localhost").await.is_err());

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log
        .lines()
        .find(|line| line.contains("TLS handshake failed"))
        .unwrap_or_else(|| panic!("no log line in:\n{log}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    assert!(line.contains("UnknownIssuer"), "{line}");
}
// ANCHOR_END: logged
