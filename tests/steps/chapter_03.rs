//! Steps for `features/chapter-03-mutual-tls.feature`: real handshakes on
//! 127.0.0.1 with the CFSSL certificates, and bad ones made on the spot.

use chapter_02::api::v1::{ProduceRequest, Record};
use chapter_03::client_config;
use chapter_03::test_pki::{ExtendedKeyUsagePurpose, Files, TestCa, date_time_ymd};
use cucumber::{given, then, when};

use crate::world::{ProglogWorld, SecureServer, cert};

pub(crate) fn produce_request(value: &str) -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value: value.as_bytes().to_vec(),
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

#[given("a log server that requires client certificates signed by the development CA")]
async fn tls_server(world: &mut ProglogWorld) {
    // The server trusts the development CA and, so that a scenario can make
    // an expired certificate the server would otherwise accept, a CA made
    // for this scenario (the development CA's key is not kept).
    let scenario_ca = TestCa::new("scenario CA");
    let dev_ca = std::fs::read_to_string(cert("ca.pem")).unwrap();
    let bundle = world.dir.path().join("client-cas.pem");
    std::fs::write(&bundle, format!("{dev_ca}{}", scenario_ca.pem)).unwrap();
    world.secure = Some(SecureServer::start_tls(&world.log_dir(), &bundle).await);
    world.scenario_ca = Some(scenario_ca);
}

#[given(expr = "the {string} client produces {string}")]
#[when(expr = "the {string} client produces {string}")]
async fn client_produces(world: &mut ProglogWorld, name: String, value: String) {
    let server = world.secure();
    let mut client = server.client(&name).await;
    server.offset = Some(
        client
            .produce(produce_request(&value))
            .await
            .unwrap()
            .into_inner()
            .offset,
    );
}

#[then(expr = "it is told offset {int}")]
fn told_offset(world: &mut ProglogWorld, offset: u64) {
    assert_eq!(world.secure().offset, Some(offset));
}

#[then(expr = "the server identified the caller as {string}")]
fn identified_as(world: &mut ProglogWorld, name: String) {
    let seen = world
        .secure()
        .seen
        .as_ref()
        .unwrap()
        .lock()
        .unwrap()
        .clone();
    assert_eq!(seen, [Some(name)]);
}

#[when(expr = "a client presenting {string} tries to produce")]
async fn untrusted_client(world: &mut ProglogWorld, certificate: String) {
    let trusted = world.scenario_ca.as_ref().unwrap();
    let identity = match certificate.as_str() {
        "no certificate" => None,
        "a certificate from another CA" => Some(TestCa::new("a stranger's CA").client("root")),
        "an expired certificate" => Some(trusted.leaf(
            Some("root"),
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            |params| {
                params.not_before = date_time_ymd(2000, 1, 1);
                params.not_after = date_time_ymd(2001, 1, 1);
            },
        )),
        other => panic!("the steps do not know how to present {other:?}"),
    };
    let files = Files::new();
    let paths = identity.map(|(cert_pem, key_pem)| {
        (
            files.write("client.pem", &cert_pem),
            files.write("client-key.pem", &key_pem),
        )
    });
    let config = client_config(
        &cert("ca.pem"),
        paths
            .as_ref()
            .map(|(cert, key)| (cert.as_path(), key.as_path())),
    )
    .unwrap();
    let server = world.secure();
    let outcome =
        match chapter_03::client::connect_with_config(server.addr, config, "localhost").await {
            Ok(mut client) => client
                .produce(produce_request("let me in"))
                .await
                .map(|_| ())
                .map_err(|status| status.to_string()),
            Err(error) => Err(error.to_string()),
        };
    server.refusal = outcome.err();
}

#[then("the client is refused")]
fn refused(world: &mut ProglogWorld) {
    assert!(world.secure().refusal.is_some(), "the client was served");
    assert_eq!(
        world.secure().seen.as_ref().unwrap().lock().unwrap().len(),
        0,
        "no request reached the service"
    );
}

#[then("nothing was written to the log")]
fn nothing_written(world: &mut ProglogWorld) {
    assert_eq!(world.secure().log.highest_offset(), None);
}
