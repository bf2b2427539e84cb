//! Calling the other servers: openraft's messages over gRPC, over mutual
//! TLS with the peer certificate.
//!
//! openraft does not send anything itself: it asks a `RaftNetworkFactory`
//! for a client per peer, and the client for three calls (append entries,
//! vote, install a snapshot chunk). Ours encodes openraft's request as
//! bytes, sends it in the `Raft` gRPC service (`proto/raft/v1/raft.proto`)
//! on the peer's one port, and decodes the reply, which is openraft's whole
//! result: a peer's Raft error comes back as data, not as a gRPC status.
//!
//! How a failure is reported decides what openraft does next:
//!
//! ```text
//!   the peer cannot be reached (down, refusing)  ─▶ Unreachable: back off, try later
//!   the call failed otherwise (bad reply, ...)   ─▶ Network:     retry at the next beat
//!   the peer answered with a Raft error          ─▶ RemoteError: openraft handles it
//!   the request is too big for one message       ─▶ PayloadTooLarge: send fewer entries
//! ```

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;

use crate::api::v1::RaftRequest;
use crate::api::v1::raft_client::RaftClient;
use crate::codec::{decode, encode};
use crate::types::{Node, NodeId, RaftError, RpcError, TypeConfig};

// ANCHOR: limits
/// The largest message a Raft RPC carries (both ways): a batch of entries
/// over it is split (openraft sends fewer entries and tries again).
pub const MAX_RAFT_MESSAGE: usize = 64 << 20;

/// How long connecting to a peer may take before the call fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
// ANCHOR_END: limits

// ANCHOR: factory
/// Makes a client for each peer openraft talks to.
#[derive(Debug, Clone)]
pub struct Network {
    /// The TLS client configuration with the peer certificate (`None`:
    /// plaintext, for a server run without TLS).
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Network {
    /// Calls peers with `tls` (which presents the peer certificate).
    pub fn new(tls: Option<Arc<rustls::ClientConfig>>) -> Network {
        Network { tls }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    /// A client for `target` at `node.rpc_addr`. It does not connect yet
    /// (openraft asks for clients eagerly); it connects on first use, and
    /// again whenever the connection breaks.
    async fn new_client(&mut self, target: NodeId, node: &Node) -> PeerClient {
        let client = peer_channel(&node.rpc_addr, self.tls.clone())
            .map(|channel| {
                RaftClient::new(channel)
                    .max_decoding_message_size(MAX_RAFT_MESSAGE)
                    .max_encoding_message_size(MAX_RAFT_MESSAGE)
            })
            .map_err(|error| error.to_string());
        PeerClient {
            target,
            rpc_addr: node.rpc_addr.clone(),
            client,
        }
    }
}
// ANCHOR_END: factory

// ANCHOR: peer_channel
/// A mutual-TLS channel to a peer at `rpc_addr` (`host:port`), checking
/// that its certificate names `host` (plaintext if `tls` is `None`).
///
/// # Errors
/// When `rpc_addr` is not `host:port` or `host` is not a valid server name.
pub fn peer_channel(
    rpc_addr: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> crate::Result<Channel> {
    let host = host_of(rpc_addr)
        .ok_or_else(|| crate::Error::InvalidConfig(format!("{rpc_addr:?} is not host:port")))?;
    let Some(tls) = tls else {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{rpc_addr}"))
            .map_err(|error| crate::Error::InvalidConfig(format!("{rpc_addr:?}: {error}")))?;
        return Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).connect_lazy());
    };
    Ok(chapter_03::client::lazy_tls_channel(
        rpc_addr,
        tls,
        host,
        CONNECT_TIMEOUT,
    )?)
}

/// The host of `host:port` (`[::1]:8400` → `::1`).
pub fn host_of(rpc_addr: &str) -> Option<&str> {
    let (host, port) = rpc_addr.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some(host)
}

/// openraft's client for one peer.
#[derive(Debug)]
pub struct PeerClient {
    target: NodeId,
    rpc_addr: String,
    client: Result<RaftClient<Channel>, String>,
}
// ANCHOR_END: peer_channel

// ANCHOR: call
impl PeerClient {
    /// Sends `request` with `method` and decodes openraft's result.
    async fn call<Req, Resp, E, F, Fut>(
        &mut self,
        request: &Req,
        entries: usize,
        method: F,
    ) -> Result<Resp, RpcError<E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
        F: FnOnce(RaftClient<Channel>, RaftRequest) -> Fut,
        Fut: Future<Output = Result<tonic::Response<crate::api::v1::RaftReply>, tonic::Status>>,
    {
        let client = match &self.client {
            Ok(client) => client.clone(),
            Err(reason) => return Err(unreachable(&self.rpc_addr, reason)),
        };
        let payload = encode(request).map_err(|error| RpcError::Network(network(&error)))?;
        if payload.len() > MAX_RAFT_MESSAGE && entries > 1 {
            return Err(RpcError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint((entries / 2) as u64),
            ));
        }
        let reply = match method(client, RaftRequest { payload }).await {
            Ok(reply) => reply.into_inner(),
            // A refused connection, a peer that is gone: not worth retrying at once.
            Err(status) if status.code() == tonic::Code::Unavailable => {
                return Err(unreachable(&self.rpc_addr, status.message()));
            }
            Err(status) => return Err(RpcError::Network(network(&status))),
        };
        let result: Result<Resp, RaftError<E>> =
            decode(&reply.payload).map_err(|error| RpcError::Network(network(&error)))?;
        result.map_err(|error| RpcError::RemoteError(RemoteError::new(self.target, error)))
    }
}
// ANCHOR_END: call

fn unreachable<E: std::error::Error>(rpc_addr: &str, reason: &str) -> RpcError<E> {
    let error = std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        format!("peer at {rpc_addr}: {reason}"),
    );
    RpcError::Unreachable(Unreachable::new(&error))
}

fn network(error: &(impl std::error::Error + 'static)) -> NetworkError {
    NetworkError::new(error)
}

// ANCHOR: raft_network
// ANCHOR: raft_calls
impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        let entries = request.entries.len();
        self.call(&request, entries, |mut client, request| async move {
            client.append_entries(request).await
        })
        .await
    }

    async fn vote(
        &mut self,
        request: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcError> {
        self.call(&request, 1, |mut client, request| async move {
            client.vote(request).await
        })
        .await
    }

    async fn install_snapshot(
        &mut self,
        request: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        self.call(&request, 1, |mut client, request| async move {
            client.install_snapshot(request).await
        })
        .await
    }
    // ANCHOR_END: raft_calls

    // ANCHOR: backoff
    /// After an `Unreachable`, wait this long before calling the peer again
    /// (openraft's default is 500 ms; a restarted peer is back sooner).
    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}
// ANCHOR_END: backoff
// ANCHOR_END: raft_network

#[cfg(test)]
mod tests {
    use super::*;

    // ANCHOR: test
    // The host of an address, for the certificate check.
    #[test]
    fn finds_the_host() {
        assert_eq!(host_of("localhost:8400"), Some("localhost"));
        assert_eq!(host_of("127.0.0.1:8400"), Some("127.0.0.1"));
        assert_eq!(host_of("[::1]:8400"), Some("::1"));
        assert_eq!(
            host_of("proglog-0.proglog.default.svc:8400"),
            Some("proglog-0.proglog.default.svc")
        );
        assert_eq!(host_of("no-port"), None);
        assert_eq!(host_of(":8400"), None);
        assert_eq!(host_of("host:port"), None);
    }
    // ANCHOR_END: test
}
