//! Bad TLS configuration is a clear error naming the file, before any
//! connection is attempted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;

use chapter_03::{ServerTlsFiles, client_config, server_config};
use common::{Files, cert};

/// The error's message with the temporary directory replaced, for snapshots.
fn message(error: chapter_03::Error, dir: &Path) -> String {
    error
        .to_string()
        .replace(&dir.display().to_string(), "<dir>")
}

// ANCHOR: missing_file
// A file that does not exist is named, with what it should have held.
#[test]
fn a_missing_file_is_named() {
    let files = Files::new();
    let server = ServerTlsFiles {
        cert: files.dir.path().join("missing.pem"),
        key: cert("server-key.pem"),
        client_ca: cert("ca.pem"),
    };
    insta::assert_snapshot!(message(server_config(&server).unwrap_err(), files.dir.path()), @"certificate file <dir>/missing.pem: not found");
    let error = client_config(&files.dir.path().join("no-ca.pem"), None).unwrap_err();
    insta::assert_snapshot!(message(error, files.dir.path()), @"CA certificate file <dir>/no-ca.pem: not found");
}
// ANCHOR_END: missing_file

// A file that is not PEM (or holds the wrong kind of PEM) is named.
#[test]
fn garbage_pem_is_named() {
    let files = Files::new();
    let garbage = files.write("garbage.pem", "this is not a certificate\n");
    let server = ServerTlsFiles {
        cert: garbage.clone(),
        key: cert("server-key.pem"),
        client_ca: cert("ca.pem"),
    };
    insta::assert_snapshot!(message(server_config(&server).unwrap_err(), files.dir.path()), @r#"certificate file <dir>/garbage.pem: not a PEM certificate: no "BEGIN CERTIFICATE" block"#);

    // A certificate where the key should be.
    let server = ServerTlsFiles {
        cert: cert("server.pem"),
        key: cert("server.pem"),
        client_ca: cert("ca.pem"),
    };
    let error = server_config(&server).unwrap_err().to_string();
    assert!(
        error.starts_with("private key file ")
            && error.ends_with(
                r#"server.pem: not a PEM private key: no "BEGIN ... PRIVATE KEY" block"#
            ),
        "{error}"
    );

    // A truncated certificate.
    let pem = std::fs::read_to_string(cert("server.pem")).unwrap();
    let truncated = files.write("truncated.pem", &pem[..pem.len() / 2]);
    let server = ServerTlsFiles {
        cert: truncated,
        key: cert("server-key.pem"),
        client_ca: cert("ca.pem"),
    };
    insta::assert_snapshot!(message(server_config(&server).unwrap_err(), files.dir.path()), @r#"certificate file <dir>/truncated.pem: not a PEM certificate: the "-----END CERTIFICATE-----" line is missing (is the file cut short?)"#);
}

// A key that belongs to another certificate is caught when the
// configuration is built, naming both files.
#[test]
fn a_key_that_does_not_match_is_named() {
    let server = ServerTlsFiles {
        cert: cert("server.pem"),
        key: cert("root-client-key.pem"),
        client_ca: cert("ca.pem"),
    };
    let error = server_config(&server).unwrap_err();
    assert!(
        matches!(error, chapter_03::Error::KeyMismatch { .. }),
        "{error}"
    );
    let certs = common::certs_dir().display().to_string();
    insta::assert_snapshot!(error.to_string().replace(&certs, "<certs>"), @"private key file <certs>/root-client-key.pem does not match the certificate in <certs>/server.pem");

    let error = client_config(
        &cert("ca.pem"),
        Some((&cert("root-client.pem"), &cert("nobody-client-key.pem"))),
    )
    .unwrap_err();
    assert!(
        matches!(error, chapter_03::Error::KeyMismatch { .. }),
        "{error}"
    );
}

// The committed CFSSL files build both configurations.
#[test]
fn the_cfssl_certificates_load() {
    server_config(&common::cfssl_server_files()).unwrap();
    client_config(
        &cert("ca.pem"),
        Some((&cert("root-client.pem"), &cert("root-client-key.pem"))),
    )
    .unwrap();
}
