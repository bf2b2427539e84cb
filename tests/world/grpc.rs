//! A chapter 2 server running inside a scenario: a real log, a real socket
//! on 127.0.0.1, and a client connected to it.

use std::net::SocketAddr;
use std::sync::Arc;

use chapter_01::{Config, Log};
use chapter_02::api::v1::ConsumeResponse;
use chapter_02::api::v1::log_client::LogClient;
use chapter_02::{FollowableLog, LogService, ServiceConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Streaming;
use tonic::transport::Channel;

/// A running server, its client, and what the scenario has received.
#[derive(Debug)]
pub(crate) struct GrpcServer {
    pub(crate) addr: SocketAddr,
    pub(crate) client: LogClient<Channel>,
    pub(crate) log: Arc<FollowableLog<Log>>,
    /// A stream following the log, once a step subscribed.
    pub(crate) follower: Option<Streaming<ConsumeResponse>>,
    /// The offsets the last produce call or stream returned.
    pub(crate) offsets: Vec<u64>,
    /// The status the last failing call returned.
    pub(crate) failure: Option<tonic::Status>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<chapter_02::Result<()>>>,
}

impl GrpcServer {
    /// Starts a server over a new log in `dir`.
    pub(crate) async fn start(dir: &std::path::Path) -> GrpcServer {
        let log = Arc::new(FollowableLog::new(
            Log::open(dir, Config::default()).unwrap(),
        ));
        let service = LogService::new(Arc::clone(&log), ServiceConfig::default()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(chapter_02::serve_service(listener, service, async move {
            let _ = stop.await;
        }));
        let client = chapter_02::connect(addr).await.unwrap();
        GrpcServer {
            addr,
            client,
            log,
            follower: None,
            offsets: Vec::new(),
            failure: None,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
