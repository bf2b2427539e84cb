//! A chapter 3 or chapter 4 server running inside a scenario: mutual TLS on
//! 127.0.0.1 with the development certificates, over a real log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chapter_01::{Config, Log};
use chapter_02::api::v1::log_client::LogClient;
use chapter_02::{FollowableLog, LogService, ServiceConfig};
use chapter_03::test_pki::SeenIdentities;
use chapter_03::{ClientTlsFiles, ServerTlsFiles, connect_tls, server_config};
use chapter_04::CasbinAuthorizer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// A file of the repository.
pub(crate) fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A CFSSL certificate: `$PROGLOG_CERTS_DIR` (CI's fresh set) or `certs/`.
pub(crate) fn cert(name: &str) -> PathBuf {
    match std::env::var_os("PROGLOG_CERTS_DIR") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => repo("certs").join(name),
    }
}

/// A running mutual-TLS server and what the scenario learned from it.
#[derive(Debug)]
pub(crate) struct SecureServer {
    pub(crate) addr: SocketAddr,
    pub(crate) log: Arc<Log>,
    /// Who the server thought was calling (chapter 3's server only).
    pub(crate) seen: Option<SeenIdentities>,
    /// The offset the last produce returned.
    pub(crate) offset: Option<u64>,
    /// The last refusal.
    pub(crate) refusal: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl SecureServer {
    fn server_files(client_ca: &Path) -> ServerTlsFiles {
        ServerTlsFiles {
            cert: cert("server.pem"),
            key: cert("server-key.pem"),
            client_ca: client_ca.to_path_buf(),
        }
    }

    /// Chapter 3's server: mutual TLS for clients of the CAs in `client_ca`,
    /// recording the identity of each call.
    pub(crate) async fn start_tls(dir: &Path, client_ca: &Path) -> SecureServer {
        let log = Arc::new(Log::open(dir, Config::default()).unwrap());
        let service = LogService::new(
            Arc::new(FollowableLog::new(Arc::clone(&log))),
            ServiceConfig::default(),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = server_config(&Self::server_files(client_ca)).unwrap();
        let (seen, shutdown) = chapter_03::test_pki::serve_recording(listener, service, tls);
        SecureServer {
            addr,
            log,
            seen: Some(seen),
            offset: None,
            refusal: None,
            shutdown: Some(shutdown),
        }
    }

    /// Chapter 4's server: mutual TLS and the ACL from `policy`.
    pub(crate) async fn start_acl(dir: &Path, policy: &Path) -> SecureServer {
        let log = Arc::new(Log::open(dir, Config::default()).unwrap());
        let authorizer = Arc::new(
            CasbinAuthorizer::open(repo("policies/model.conf"), policy)
                .await
                .unwrap(),
        );
        let tls = server_config(&Self::server_files(&cert("ca.pem"))).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(chapter_04::serve(
            listener,
            Arc::clone(&log),
            tls,
            authorizer,
            async move {
                let _ = stop.await;
            },
        ));
        SecureServer {
            addr,
            log,
            seen: None,
            offset: None,
            refusal: None,
            shutdown: Some(shutdown),
        }
    }

    /// A client with the CFSSL certificate of `name` ("root" or "nobody").
    pub(crate) async fn client(&self, name: &str) -> LogClient<Channel> {
        let files = ClientTlsFiles {
            ca: cert("ca.pem"),
            identity: Some((
                cert(&format!("{name}-client.pem")),
                cert(&format!("{name}-client-key.pem")),
            )),
        };
        connect_tls(self.addr, &files, "localhost").await.unwrap()
    }
}

impl Drop for SecureServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
