//! Answering the other servers: the `Raft` gRPC service, served on the
//! same port as the Log service, over the same mutual TLS, and allowed by
//! the ACL only to the `peer` identity.
//!
//! Each handler decodes openraft's request, hands it to the local Raft, and
//! sends back openraft's whole result, encoded. The fourth method,
//! `Identify`, is ours: it says which node answers at this address, so that
//! a leader can check a member that gossip announced before admitting it
//! (see [`admission`](crate::admission)).

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use crate::api::v1::raft_server::{Raft as RaftRpc, RaftServer};
use crate::api::v1::{IdentifyReply, IdentifyRequest, RaftReply, RaftRequest};
use crate::codec::{decode, encode};
use crate::network::MAX_RAFT_MESSAGE;
use crate::types::{NodeId, Raft, TypeConfig};

// ANCHOR: raft_service
/// The Raft service of one server.
#[derive(Clone)]
pub struct RaftService {
    raft: Raft,
    node_id: NodeId,
    cluster_id: String,
}
// ANCHOR_END: raft_service

impl std::fmt::Debug for RaftService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftService")
            .field("node_id", &self.node_id)
            .field("cluster_id", &self.cluster_id)
            .finish_non_exhaustive()
    }
}

impl RaftService {
    /// The service for `raft`, the node `node_id` of `cluster_id`.
    pub fn new(raft: Raft, node_id: NodeId, cluster_id: impl Into<String>) -> RaftService {
        RaftService {
            raft,
            node_id,
            cluster_id: cluster_id.into(),
        }
    }

    /// The tonic server, accepting messages as large as a peer sends.
    pub fn into_server(self) -> RaftServer<RaftService> {
        RaftServer::new(self)
            .max_decoding_message_size(MAX_RAFT_MESSAGE)
            .max_encoding_message_size(MAX_RAFT_MESSAGE)
    }
}

// ANCHOR: wire
/// The request in `request`, decoded.
fn request_of<T: DeserializeOwned>(request: Request<RaftRequest>) -> Result<T, Status> {
    decode(&request.into_inner().payload)
        .map_err(|error| Status::invalid_argument(format!("not a Raft message: {error}")))
}

/// openraft's `result`, encoded as the reply.
fn reply<T: Serialize>(result: &T) -> Result<Response<RaftReply>, Status> {
    let payload = encode(result)
        .map_err(|error| Status::internal(format!("cannot encode a Raft reply: {error}")))?;
    Ok(Response::new(RaftReply { payload }))
}
// ANCHOR_END: wire

// ANCHOR: handlers
#[tonic::async_trait]
impl RaftRpc for RaftService {
    async fn append_entries(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let request: AppendEntriesRequest<TypeConfig> = request_of(request)?;
        reply(&self.raft.append_entries(request).await)
    }

    async fn vote(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let request: VoteRequest<NodeId> = request_of(request)?;
        reply(&self.raft.vote(request).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let request: InstallSnapshotRequest<TypeConfig> = request_of(request)?;
        reply(&self.raft.install_snapshot(request).await)
    }

    async fn identify(
        &self,
        _request: Request<IdentifyRequest>,
    ) -> Result<Response<IdentifyReply>, Status> {
        Ok(Response::new(IdentifyReply {
            node_id: self.node_id,
            cluster_id: self.cluster_id.clone(),
        }))
    }
}
// ANCHOR_END: handlers
