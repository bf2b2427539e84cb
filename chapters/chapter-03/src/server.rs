//! Chapter 2's service over mutual TLS. The service itself does not change
//! at all: only where its connections come from.

use std::sync::Arc;

use chapter_02::status::CodecErrorLayer;
use chapter_02::{CommitLog, FollowableLog, LogService, ServiceConfig};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tonic::transport::Server;

use crate::acceptor::tls_incoming;
use crate::error::Result;

// ANCHOR: serve_tls
/// Serves `log` on `listener` over mutual TLS until `shutdown` completes,
/// then finishes the calls in flight and syncs the log.
///
/// # Errors
/// A transport error if serving fails, or the log's error if the final sync fails.
pub async fn serve_tls<L: CommitLog>(
    listener: TcpListener,
    log: L,
    tls: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let service = LogService::new(Arc::new(FollowableLog::new(log)), ServiceConfig::default())?;
    serve_tls_service(listener, service, tls, shutdown).await
}

/// [`serve_tls`] with a service you configured yourself.
///
/// # Errors
/// As [`serve_tls`].
pub async fn serve_tls_service<L: CommitLog>(
    listener: TcpListener,
    service: LogService<L>,
    tls: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let router = Server::builder()
        .max_concurrent_streams(Some(service.config().max_concurrent_streams))
        .layer(CodecErrorLayer)
        .add_service(service.clone().into_server());
    let incoming = tls_incoming(listener, tls);
    chapter_02::serve_gracefully(&service, shutdown, |drain| {
        router.serve_with_incoming_shutdown(incoming, drain)
    })
    .await?;
    Ok(())
}
// ANCHOR_END: serve_tls
