//! A real server on 127.0.0.1:0 over a real log in a temporary directory,
//! and a client connected to it.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chapter_01::{Config, Log};
use chapter_02::api::v1::log_client::LogClient;
use chapter_02::api::v1::{ConsumeRequest, ProduceRequest, Record};
use chapter_02::{CommitLog, FollowableLog, LogService, ServiceConfig, connect, serve_service};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// The real log, counting how often the service reads it.
#[derive(Debug)]
pub struct CountingLog {
    pub log: Log,
    pub reads: AtomicU64,
}

impl CommitLog for CountingLog {
    fn append_batch(&self, values: &[&[u8]]) -> chapter_02::Result<std::ops::Range<u64>> {
        Ok(self.log.append_batch(values)?)
    }
    fn read(&self, offset: u64) -> chapter_02::Result<Vec<u8>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.log.read(offset)?)
    }
    fn lowest_offset(&self) -> u64 {
        self.log.lowest_offset()
    }
    fn next_offset(&self) -> u64 {
        self.log.next_offset()
    }
    fn sync(&self) -> chapter_02::Result<()> {
        Ok(self.log.sync()?)
    }
    fn max_value_len(&self) -> u64 {
        self.log.max_value_len()
    }
    fn appends_wait_for_disk(&self) -> bool {
        self.log.appends_wait_for_disk()
    }
}

/// A running server and what a test needs to talk to it and stop it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: LogClient<Channel>,
    pub log: Arc<FollowableLog<CountingLog>>,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<chapter_02::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(ServiceConfig::default()).await
    }

    pub async fn start_with(config: ServiceConfig) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), Config::default()).unwrap();
        let log = Arc::new(FollowableLog::new(CountingLog {
            log,
            reads: AtomicU64::new(0),
        }));
        let service = LogService::new(Arc::clone(&log), config).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel();
        let server = tokio::spawn(serve_service(listener, service, async move {
            let _ = stop.await;
        }));
        let client = connect(addr).await.unwrap();
        TestServer {
            addr,
            client,
            log,
            dir,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// How many records the service has read from the log.
    pub fn reads(&self) -> u64 {
        self.log.log().reads.load(Ordering::SeqCst)
    }

    /// Waits until the service stops reading the log (no read for 300 ms:
    /// a stalled client's buffers are full), and returns how many it read.
    pub async fn reads_settled(&self) -> u64 {
        let mut reads = self.reads();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let now = self.reads();
            if now == reads {
                return now;
            }
            reads = now;
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn shut_down(&mut self) -> chapter_02::Result<()> {
        let _ = self.shutdown.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap()
    }
}

pub fn produce_request(value: impl Into<Vec<u8>>) -> ProduceRequest {
    ProduceRequest {
        record: Some(Record {
            value: value.into(),
            ..Record::default()
        }),
        ..ProduceRequest::default()
    }
}

pub fn consume_request(offset: u64) -> ConsumeRequest {
    ConsumeRequest { offset }
}
