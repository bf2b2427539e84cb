//! A TLS test bench: the committed CFSSL certificates (or a freshly made set,
//! via `PROGLOG_CERTS_DIR`), throwaway certificate authorities made with
//! rcgen for every bad certificate, and a real mTLS server on 127.0.0.1:0
//! that records the identity of every request it serves.

#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chapter_01::{Config, Log};
use chapter_02::api::v1::{ProduceRequest, Record};
use chapter_02::{FollowableLog, LogService, ServiceConfig};
use chapter_03::{Identity, ServerTlsFiles, server_config, tls_incoming};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Where the CFSSL-made certificates are: `$PROGLOG_CERTS_DIR` (CI points it
/// at a freshly generated set), else the committed `certs/`.
pub fn certs_dir() -> PathBuf {
    match std::env::var_os("PROGLOG_CERTS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs"),
    }
}

pub fn cert(name: &str) -> PathBuf {
    certs_dir().join(name)
}

/// The committed server files, trusting the committed CA for clients.
pub fn cfssl_server_files() -> ServerTlsFiles {
    ServerTlsFiles {
        cert: cert("server.pem"),
        key: cert("server-key.pem"),
        client_ca: cert("ca.pem"),
    }
}

pub use chapter_03::test_pki::{Files, TestCa};

/// A running mTLS server over a real log, recording who called.
pub struct TlsServer {
    pub addr: SocketAddr,
    pub log: Arc<FollowableLog<Log>>,
    /// The identity of every request served, in order (`None`: no CN).
    pub identities: Arc<Mutex<Vec<Option<String>>>>,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TlsServer {
    pub async fn start(files: &ServerTlsFiles) -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(FollowableLog::new(
            Log::open(dir.path(), Config::default()).unwrap(),
        ));
        let service = LogService::new(Arc::clone(&log), ServiceConfig::default()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = server_config(files).unwrap();
        let (identities, shutdown) = chapter_03::test_pki::serve_recording(listener, service, tls);
        TlsServer {
            addr,
            log,
            identities,
            _dir: dir,
            shutdown: Some(shutdown),
        }
    }

    pub fn identities(&self) -> Vec<Option<String>> {
        self.identities.lock().unwrap().clone()
    }
}

impl Drop for TlsServer {
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

/// Connects with `config` and produces one record: the offset, or why it failed.
pub async fn try_produce(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> Result<u64, String> {
    let mut client = chapter_03::client::connect_with_config(addr, config, server_name)
        .await
        .map_err(|error| error.to_string())?;
    let response = client
        .produce(produce_request("hello over mTLS"))
        .await
        .map_err(|status| status.to_string())?;
    Ok(response.into_inner().offset)
}
