//! A real authorized mTLS server on 127.0.0.1:0 over a real log, with the
//! repository's ACL (or one written by the test), and clients for it.

#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chapter_01::{Config, Log};
use chapter_02::api::v1::log_client::LogClient;
use chapter_02::api::v1::{ConsumeRequest, ProduceRequest, Record};
use chapter_03::test_pki::{Files, TestCa};
use chapter_03::{ClientTlsFiles, ServerTlsFiles, client_config, connect_tls, server_config};
use chapter_04::CasbinAuthorizer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The CFSSL certificates (see chapter 3): `$PROGLOG_CERTS_DIR` or `certs/`.
pub fn cert(name: &str) -> PathBuf {
    match std::env::var_os("PROGLOG_CERTS_DIR") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => repo("certs").join(name),
    }
}

pub struct AclServer {
    pub addr: SocketAddr,
    pub log: Arc<Log>,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl AclServer {
    /// A server with the repository's policies, trusting `client_ca`.
    pub async fn start(client_ca: &Path) -> AclServer {
        AclServer::start_with(client_ca, &repo("policies/policy.csv")).await
    }

    pub async fn start_with(client_ca: &Path, policy: &Path) -> AclServer {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Log::open(dir.path(), Config::default()).unwrap());
        let tls = server_config(&ServerTlsFiles {
            cert: cert("server.pem"),
            key: cert("server-key.pem"),
            client_ca: client_ca.to_path_buf(),
        })
        .unwrap();
        let authorizer = Arc::new(
            CasbinAuthorizer::open(repo("policies/model.conf"), policy)
                .await
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let served = Arc::clone(&log);
        tokio::spawn(async move {
            chapter_04::serve(listener, served, tls, authorizer, async move {
                let _ = stop.await;
            })
            .await
            .unwrap();
        });
        AclServer {
            addr,
            log,
            _dir: dir,
            shutdown: Some(shutdown),
        }
    }

    /// A client with one of the CFSSL client certificates ("root", "nobody").
    pub async fn cfssl_client(&self, name: &str) -> LogClient<Channel> {
        let files = ClientTlsFiles {
            ca: cert("ca.pem"),
            identity: Some((
                cert(&format!("{name}-client.pem")),
                cert(&format!("{name}-client-key.pem")),
            )),
        };
        connect_tls(self.addr, &files, "localhost").await.unwrap()
    }

    /// A client with a certificate from `ca` (which the server must trust).
    pub async fn client_from(
        &self,
        files: &Files,
        (cert_pem, key_pem): (String, String),
    ) -> LogClient<Channel> {
        let (cert_path, key_path) = (
            files.write("client.pem", &cert_pem),
            files.write("client-key.pem", &key_pem),
        );
        let config = client_config(&cert("ca.pem"), Some((&cert_path, &key_path))).unwrap();
        chapter_03::client::connect_with_config(self.addr, config, "localhost")
            .await
            .unwrap()
    }
}

impl Drop for AclServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub fn produce_request(value: &str) -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value: value.as_bytes().to_vec(),
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

pub fn consume_request(offset: u64) -> ConsumeRequest {
    ConsumeRequest { offset }
}
