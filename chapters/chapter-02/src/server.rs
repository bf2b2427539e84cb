//! Running the service: [`serve`] takes a bound listener, a log and a
//! shutdown future, in the style of mini-redis: `main` passes `ctrl_c()`,
//! tests pass a oneshot receiver.
//!
//! Shutdown has an order. First the open streams are told to end (a
//! following `ConsumeStream` would otherwise keep the server up forever);
//! then tonic stops accepting connections and waits for the calls in flight;
//! last, the log is synced, so everything acknowledged is on disk.

use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::commit_log::{CommitLog, FollowableLog};
use crate::error::Result;
use crate::service::{LogService, ServiceConfig};

// ANCHOR: serve
/// Serves `log` on `listener` (plaintext) until `shutdown` completes, then
/// finishes the calls in flight and syncs the log.
///
/// # Errors
/// [`Error::Transport`](crate::Error::Transport) if serving fails, or the
/// log's error if the final sync fails.
pub async fn serve<L: CommitLog>(
    listener: TcpListener,
    log: L,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let service = LogService::new(Arc::new(FollowableLog::new(log)), ServiceConfig::default());
    serve_service(listener, service, shutdown).await
}

/// [`serve`] with a service you configured yourself.
///
/// # Errors
/// As [`serve`].
pub async fn serve_service<L: CommitLog>(
    listener: TcpListener,
    service: LogService<L>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    // Nagle's algorithm would hold small responses back waiting for more.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .add_service(service.clone().into_server())
        .serve_with_incoming_shutdown(incoming, service.stop_streams_when(shutdown))
        .await?;
    service.sync_log().await
}
// ANCHOR_END: serve
