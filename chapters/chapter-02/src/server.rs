//! Running the service: [`serve`] takes a bound listener, a log and a
//! shutdown future, in the style of mini-redis: `main` passes `ctrl_c()`,
//! tests pass a oneshot receiver.
//!
//! Shutdown has an order. First the open streams are told to end (a
//! following `ConsumeStream` would otherwise keep the server up forever);
//! then tonic stops accepting connections and waits for the calls in flight,
//! for at most the configured drain timeout (a client that stopped reading
//! must not keep the server up either); last, the log is synced, so
//! everything acknowledged is on disk. Later chapters serve over TLS and add
//! layers, and keep this order by calling [`serve_gracefully`].

use std::pin::Pin;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::commit_log::{CommitLog, FollowableLog};
use crate::error::Result;
use crate::service::{LogService, ServiceConfig};
use crate::status::CodecErrorLayer;

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
    let service = LogService::new(Arc::new(FollowableLog::new(log)), ServiceConfig::default())?;
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
    let router = Server::builder()
        .max_concurrent_streams(Some(service.config().max_concurrent_streams))
        .layer(CodecErrorLayer)
        .add_service(service.clone().into_server());
    serve_gracefully(&service, shutdown, |drain| {
        router.serve_with_incoming_shutdown(incoming, drain)
    })
    .await
}
// ANCHOR_END: serve

// ANCHOR: drain_signal
/// The future tonic waits on before it stops accepting and drains.
pub type DrainSignal = Pin<Box<dyn Future<Output = ()> + Send>>;
// ANCHOR_END: drain_signal

// ANCHOR: serve_gracefully
/// Runs the tonic server that `serve` builds (passing it the [`DrainSignal`]
/// to give to `serve_with_incoming_shutdown`) until `shutdown` completes;
/// then ends the service's streams, lets tonic drain the calls in flight for
/// at most the service's drain timeout, and syncs the log.
///
/// # Errors
/// The server's transport error, or the log's error if the final sync fails.
pub async fn serve_gracefully<L, F>(
    service: &LogService<L>,
    shutdown: impl Future<Output = ()>,
    serve: impl FnOnce(DrainSignal) -> F,
) -> Result<()>
where
    L: CommitLog,
    F: Future<Output = Result<(), tonic::transport::Error>>,
{
    let (start_draining, drain) = oneshot::channel::<()>();
    let server = serve(Box::pin(async move {
        // An error means `serve_gracefully` is gone: drain as well.
        let _ = drain.await;
    }));
    tokio::pin!(server);
    tokio::select! {
        stopped = &mut server => stopped?, // the server failed on its own
        () = shutdown => {
            service.stop_streams();
            let _ = start_draining.send(());
            let drain_timeout = service.config().drain_timeout;
            match tokio::time::timeout(drain_timeout, &mut server).await {
                Ok(drained) => drained?,
                Err(_) => tracing::warn!(?drain_timeout, "calls still in flight after the drain timeout; dropping them"),
            }
        }
    }
    service.sync_log().await
}
// ANCHOR_END: serve_gracefully
