//! Real TLS handshakes on 127.0.0.1:0: who gets in, who does not, and who
//! the server thinks is calling.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use chapter_02::api::v1::ConsumeRequest;
use chapter_03::test_pki::{ExtendedKeyUsagePurpose, date_time_ymd};
use chapter_03::{ClientTlsFiles, ServerTlsFiles, client_config, connect_tls};
use common::{Files, TestCa, TlsServer, cert, cfssl_server_files, produce_request, try_produce};
use rstest::rstest;

fn cfssl_client(name: &str) -> ClientTlsFiles {
    ClientTlsFiles {
        ca: cert("ca.pem"),
        identity: Some((
            cert(&format!("{name}-client.pem")),
            cert(&format!("{name}-client-key.pem")),
        )),
    }
}

// ANCHOR: root_identified
// The root client (CFSSL certificate) produces and consumes, and the server
// sees its identity as `root`.
#[tokio::test]
async fn root_client_produces_consumes_and_is_identified() {
    let server = TlsServer::start(&cfssl_server_files()).await;
    let mut client = connect_tls(server.addr, &cfssl_client("root"), "localhost")
        .await
        .unwrap();
    let offset = client
        .produce(produce_request("over mutual TLS"))
        .await
        .unwrap()
        .into_inner()
        .offset;
    let record = client
        .consume(ConsumeRequest { offset })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(record.value, b"over mutual TLS");
    assert_eq!(
        server.identities(),
        [Some("root".to_string()), Some("root".to_string())]
    );
}
// ANCHOR_END: root_identified

// The server's certificate names localhost and 127.0.0.1: both verify.
#[rstest]
#[case::dns("localhost")]
#[case::ip("127.0.0.1")]
#[tokio::test]
async fn the_server_certificate_covers_its_names(#[case] name: &str) {
    let server = TlsServer::start(&cfssl_server_files()).await;
    let mut client = connect_tls(server.addr, &cfssl_client("nobody"), name)
        .await
        .unwrap();
    client.produce(produce_request("hi")).await.unwrap();
    assert_eq!(server.identities(), [Some("nobody".to_string())]);
}

// ANCHOR: matrix_cases
/// The refusal matrix: a server that trusts a throwaway client CA, and
/// client certificates that are each wrong in exactly one way. A control
/// case (a good certificate from the same CA) shows the bench itself works.
#[derive(Debug, Clone, Copy)]
enum ClientCert {
    Good,
    None,
    Plaintext,
    FromAnotherCa,
    Expired,
    NotYetValid,
    ServerAuthOnly,
    RootButFromAnotherCa,
}

// The reason is what the server's TLS alert tells the client. (The test
// runtime has one thread, so the client reads the alert before it notices
// the closed connection; with more threads it may see only the closing.)
#[rstest]
#[case::control_good_certificate(ClientCert::Good, None)]
#[case::no_certificate(ClientCert::None, Some("CertificateRequired"))]
#[case::plaintext(ClientCert::Plaintext, Some("transport error"))]
#[case::another_ca(ClientCert::FromAnotherCa, Some("UnknownCA"))]
#[case::expired(ClientCert::Expired, Some("CertificateExpired"))]
#[case::not_yet_valid(ClientCert::NotYetValid, Some("CertificateExpired"))]
#[case::server_auth_usage_only(ClientCert::ServerAuthOnly, Some("UnsupportedCertificate"))]
#[case::root_signed_by_another_ca(ClientCert::RootButFromAnotherCa, Some("UnknownCA"))]
#[tokio::test]
async fn who_gets_in(#[case] client_cert: ClientCert, #[case] refusal: Option<&str>) {
    // ANCHOR_END: matrix_cases
    let trusted = TestCa::new("trusted client CA");
    let other = TestCa::new("some other CA");
    let files = Files::new();
    let server_files = ServerTlsFiles {
        cert: cert("server.pem"),
        key: cert("server-key.pem"),
        client_ca: files.write("client-ca.pem", &trusted.pem),
    };
    let server = TlsServer::start(&server_files).await;

    let (cert_pem, key_pem) = match client_cert {
        ClientCert::Good | ClientCert::None | ClientCert::Plaintext => trusted.client("root"),
        ClientCert::FromAnotherCa => other.client("alice"),
        ClientCert::RootButFromAnotherCa => other.client("root"),
        ClientCert::Expired => trusted.leaf(
            Some("root"),
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            |params| {
                params.not_before = date_time_ymd(2000, 1, 1);
                params.not_after = date_time_ymd(2001, 1, 1);
            },
        ),
        ClientCert::NotYetValid => trusted.leaf(
            Some("root"),
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            |params| {
                params.not_before = date_time_ymd(2090, 1, 1);
                params.not_after = date_time_ymd(2091, 1, 1);
            },
        ),
        ClientCert::ServerAuthOnly => trusted.leaf(
            Some("root"),
            &[],
            ExtendedKeyUsagePurpose::ServerAuth,
            |_| {},
        ),
    };
    let (cert_path, key_path) = (
        files.write("client.pem", &cert_pem),
        files.write("client-key.pem", &key_pem),
    );
    let outcome = match client_cert {
        ClientCert::Plaintext => match chapter_02::connect(server.addr).await {
            Ok(mut client) => client
                .produce(produce_request("hi"))
                .await
                .map(|r| r.into_inner().offset)
                .map_err(|s| s.to_string()),
            Err(error) => Err(error.to_string()),
        },
        ClientCert::None => {
            try_produce(
                server.addr,
                client_config(&cert("ca.pem"), None).unwrap(),
                "localhost",
            )
            .await
        }
        _ => {
            let config = client_config(&cert("ca.pem"), Some((&cert_path, &key_path))).unwrap();
            try_produce(server.addr, config, "localhost").await
        }
    };
    // ANCHOR: matrix_verdict
    match (refusal, &outcome) {
        (None, Ok(_)) => {}
        (Some(reason), Err(error)) => assert!(
            error.contains(reason),
            "{client_cert:?}: refused, but not for {reason}: {error}"
        ),
        _ => panic!("{client_cert:?}: expected {refusal:?}, got {outcome:?}"),
    }
    if refusal.is_some() {
        assert_eq!(
            server.log.log().next_offset(),
            0,
            "a refused client wrote nothing"
        );
        assert!(
            server.identities().is_empty(),
            "a refused client never reached the service"
        );
    }
    // ANCHOR_END: matrix_verdict
}

// The client refuses a server whose certificate is for another name, even
// when the CA is one it trusts.
#[tokio::test]
async fn a_server_certificate_for_another_name_is_refused() {
    let ca = TestCa::new("server CA");
    let files = Files::new();
    let (server_cert, server_key) = ca.leaf(
        Some("other.example"),
        &["other.example"],
        ExtendedKeyUsagePurpose::ServerAuth,
        |_| {},
    );
    let server_files = ServerTlsFiles {
        cert: files.write("server.pem", &server_cert),
        key: files.write("server-key.pem", &server_key),
        client_ca: cert("ca.pem"),
    };
    let server = TlsServer::start(&server_files).await;
    let ca_path = files.write("ca.pem", &ca.pem);
    let identity = (cert("root-client.pem"), cert("root-client-key.pem"));
    let config = client_config(&ca_path, Some((&identity.0, &identity.1))).unwrap();
    let outcome = try_produce(server.addr, config.clone(), "localhost").await;
    assert!(outcome.is_err(), "{outcome:?}");
    let error = outcome.unwrap_err();
    assert!(
        error.contains("certificate not valid for name \"localhost\""),
        "{error}"
    );
    // The same server is fine under the name its certificate carries.
    assert_eq!(
        try_produce(server.addr, config, "other.example").await,
        Ok(0)
    );
}

// ANCHOR: no_common_name
// A trusted certificate with SANs but no Common Name connects, but carries
// no identity (chapter 4 answers UNAUTHENTICATED for that).
#[tokio::test]
async fn a_certificate_without_a_common_name_gives_no_identity() {
    let trusted = TestCa::new("trusted client CA");
    let files = Files::new();
    let server_files = ServerTlsFiles {
        cert: cert("server.pem"),
        key: cert("server-key.pem"),
        client_ca: files.write("client-ca.pem", &trusted.pem),
    };
    let server = TlsServer::start(&server_files).await;
    let (cert_pem, key_pem) = trusted.leaf(
        None,
        &["client.example"],
        ExtendedKeyUsagePurpose::ClientAuth,
        |_| {},
    );
    let (cert_path, key_path) = (
        files.write("client.pem", &cert_pem),
        files.write("client-key.pem", &key_pem),
    );
    let config = client_config(&cert("ca.pem"), Some((&cert_path, &key_path))).unwrap();
    assert_eq!(try_produce(server.addr, config, "localhost").await, Ok(0));
    assert_eq!(server.identities(), [None]);
}
// ANCHOR_END: no_common_name
