//! The output chapter 3 of the book shows, made for real and compared with
//! the files in `tests/output/` (see `tests/support/book_output.rs` at the
//! root of the repository): the errors for broken TLS files, and what the
//! server logs when it refuses a handshake.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

#[path = "../../../tests/support/book_output.rs"]
mod book_output;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chapter_03::test_pki::{ExtendedKeyUsagePurpose, date_time_ymd};
use chapter_03::{ServerTlsFiles, client_config, server_config};
use common::{Files, TestCa, TlsServer, cert, produce_request, try_produce};

/// Compares `actual` with `tests/output/NAME.txt`.
fn assert_output(name: &str, actual: &str) {
    book_output::assert_output(env!("CARGO_MANIFEST_DIR"), name, actual);
}

/// An error's message, with the temporary directory shown as `<dir>` and
/// the certificates' directory as `<certs>`.
fn message(error: chapter_03::Error, dir: &Path) -> String {
    error
        .to_string()
        .replace(&dir.display().to_string(), "<dir>")
        .replace(&common::certs_dir().display().to_string(), "<certs>")
}

// Each broken file gives the error the book shows, naming the file: a
// certificate and a CA file that do not exist, a file that is not PEM, a
// certificate cut in half, and a key that belongs to another certificate.
#[test]
fn book_shows_the_errors_for_broken_tls_files() {
    let files = Files::new();
    let dir = files.dir.path();
    let server = |cert_file, key_file| ServerTlsFiles {
        cert: cert_file,
        key: key_file,
        client_ca: cert("ca.pem"),
    };
    let garbage = files.write("garbage.pem", "this is not a certificate\n");
    let pem = std::fs::read_to_string(cert("server.pem")).unwrap();
    let truncated = files.write("truncated.pem", &pem[..pem.len() / 2]);

    let errors = [
        server_config(&server(dir.join("missing.pem"), cert("server-key.pem"))).unwrap_err(),
        client_config(&dir.join("no-ca.pem"), None).unwrap_err(),
        server_config(&server(garbage, cert("server-key.pem"))).unwrap_err(),
        server_config(&server(truncated, cert("server-key.pem"))).unwrap_err(),
        server_config(&server(cert("server.pem"), cert("root-client-key.pem"))).unwrap_err(),
    ];
    let lines: Vec<String> = errors
        .into_iter()
        .map(|error| message(error, dir))
        .collect();
    assert_output("broken_tls_files", &lines.join("\n"));
}

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

impl Captured {
    /// The lines logged so far that say a handshake failed.
    fn refusals(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .filter(|line| line.contains("TLS handshake failed"))
            .map(str::to_string)
            .collect()
    }
}

/// A log line as the book shows it: the client's port, which changes on
/// every run, as `<port>`; the clock and the age of an expired certificate
/// as `<now>` and `<age>`; no padding before the level.
fn stable(line: &str) -> String {
    let line = replace_number_after(line.trim_start(), "peer=127.0.0.1:", "<port>");
    let line = replace_number_after(&line, "verification time ", "<now>");
    replace_number_after(&line, "(", "<age>")
}

/// `text` with the number that follows each `marker` replaced by `placeholder`.
fn replace_number_after(text: &str, marker: &str, placeholder: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        let digits = rest[start..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - start);
        out.push_str(&rest[..start]);
        if digits > 0 {
            out.push_str(placeholder);
        }
        rest = &rest[start + digits..];
    }
    out.push_str(rest);
    out
}

// Five clients the server refuses, one after the other, and the line the
// server logs for each: the reason exists only there.
#[tokio::test] // one thread: the server's tasks log through this test's subscriber
async fn book_shows_the_refused_handshakes_in_the_server_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // The server trusts the development CA for clients, and a CA made here,
    // which can sign the certificates the development CA would not.
    let trusted = TestCa::new("trusted client CA");
    let files = Files::new();
    let dev_ca = std::fs::read_to_string(cert("ca.pem")).unwrap();
    let client_cas = files.write("client-cas.pem", &format!("{dev_ca}{}", trusted.pem));
    let server = TlsServer::start(&ServerTlsFiles {
        cert: cert("server.pem"),
        key: cert("server-key.pem"),
        client_ca: client_cas,
    })
    .await;

    let expired = trusted.leaf(
        Some("root"),
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
        |params| {
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2001, 1, 1);
        },
    );
    let server_auth_only = trusted.leaf(
        Some("root"),
        &[],
        ExtendedKeyUsagePurpose::ServerAuth,
        |_| {},
    );
    let clients = [
        ("no certificate", None),
        (
            "another CA",
            Some(TestCa::new("a stranger's CA").client("mallory")),
        ),
        ("expired", Some(expired)),
        ("server auth only", Some(server_auth_only)),
    ];
    let mut expected = 0;
    for (case, identity) in clients {
        let identity = identity.map(|(cert_pem, key_pem)| {
            (
                files.write("client.pem", &cert_pem),
                files.write("client-key.pem", &key_pem),
            )
        });
        let config = client_config(
            &cert("ca.pem"),
            identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )
        .unwrap();
        let outcome = try_produce(server.addr, config, "localhost").await;
        assert!(outcome.is_err(), "{case}: served");
        expected += 1;
        wait_for_refusals(&captured, expected).await;
    }
    // A client that speaks plaintext HTTP/2 to the TLS port.
    if let Ok(mut client) = chapter_02::connect(server.addr).await {
        assert!(client.produce(produce_request("hi")).await.is_err());
    }
    wait_for_refusals(&captured, expected + 1).await;

    let lines: Vec<String> = captured.refusals().iter().map(|l| stable(l)).collect();
    assert_output("refused_handshakes", &lines.join("\n"));
}

/// Waits until the server has logged `count` refusals (it logs in its own
/// task, which may run just after the client gives up).
async fn wait_for_refusals(captured: &Captured, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while captured.refusals().len() < count {
        assert!(
            Instant::now() < deadline,
            "the server logged {:?}",
            captured.refusals()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
