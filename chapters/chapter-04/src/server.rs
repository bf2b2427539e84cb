//! Chapter 3's mutual-TLS server with the authorization layer in front.

use std::sync::Arc;

use chapter_02::status::CodecErrorLayer;
use chapter_02::{CommitLog, FollowableLog, LogService, ServiceConfig};
use chapter_03::tls_incoming;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tonic::transport::Server;

use crate::authorizer::Authorizer;
use crate::error::Result;
use crate::layer::AuthorizationLayer;

// ANCHOR: serve
/// Serves `log` on `listener` over mutual TLS, every Log RPC authorized by
/// `authorizer`, until `shutdown` completes; then finishes the calls in
/// flight and syncs the log.
///
/// # Errors
/// A transport error if serving fails, or the log's error if the final sync fails.
pub async fn serve<L: CommitLog, A: Authorizer>(
    listener: TcpListener,
    log: L,
    tls: Arc<ServerConfig>,
    authorizer: Arc<A>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let service = LogService::new(Arc::new(FollowableLog::new(log)), ServiceConfig::default())
        .map_err(chapter_03::Error::from)?;
    let router = Server::builder()
        .max_concurrent_streams(Some(service.config().max_concurrent_streams))
        .layer(AuthorizationLayer::new(authorizer))
        .layer(CodecErrorLayer)
        .add_service(service.clone().into_server());
    let incoming = tls_incoming(listener, tls);
    chapter_02::serve_gracefully(&service, shutdown, |drain| {
        router.serve_with_incoming_shutdown(incoming, drain)
    })
    .await
    .map_err(chapter_03::Error::from)?;
    Ok(())
}
// ANCHOR_END: serve
