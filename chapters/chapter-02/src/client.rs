//! A client for the service: the generated `LogClient` over a channel to
//! `http://ADDR`. (Chapter 3 adds the TLS version.)

use std::net::SocketAddr;

use tonic::transport::{Channel, Endpoint};

use crate::api::v1::log_client::LogClient;
use crate::error::Result;

/// Connects to the service at `addr` over plaintext HTTP/2.
///
/// # Errors
/// [`Error::Transport`](crate::Error::Transport) if the connection fails.
pub async fn connect(addr: SocketAddr) -> Result<LogClient<Channel>> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?;
    Ok(LogClient::new(channel))
}
