//! The types Raft replicates, and openraft's type configuration.
//!
//! openraft is generic over what a cluster agrees on. We tell it, once,
//! with `declare_raft_types!`:
//!
//! - a node is named by a `u64` ([`NodeId`]) and reached at an address
//!   ([`Node`]);
//! - what clients propose is an [`Append`] of records (one Raft entry per
//!   batch a client sends), and applying one gives back an [`Applied`]: the
//!   offset each record got in the log that clients read;
//! - a snapshot travels as a file (`tokio::fs::File`), since it holds the
//!   records themselves.
//!
//! Every type here is serde: openraft's messages carry them between servers,
//! and the Raft log stores entries of them, as postcard bytes ([`codec`](crate::codec)).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A server's Raft id (`--node-id`): unique in the cluster, kept for life.
pub type NodeId = u64;

// ANCHOR: node
/// What the cluster's membership records about a server: where clients and
/// peers reach its gRPC port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `host:port` of its gRPC server (the Log and Raft services).
    pub rpc_addr: String,
}
// ANCHOR_END: node

// ANCHOR: command
// ANCHOR: records
/// Who produced a record, for an idempotent produce: the producer's id and
/// its number for the record (see [`producers`](crate::producers)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Producer {
    /// A number the producer chose when it started.
    pub id: u64,
    /// One more than its previous record's (starting at 1).
    pub sequence: u64,
}

/// A record to append, as it is replicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The value a client sent. `Bytes`, not `Vec<u8>`: a clone shares it
    /// (openraft clones entries for each follower and for the state
    /// machine), and serde writes it as one run of bytes (a `Vec<u8>` goes
    /// one number at a time, which took a third of a server's time).
    pub value: Bytes,
    /// Who sent it, if it is to be appended only once.
    pub producer: Option<Producer>,
}

/// What a client's produce asks the cluster to agree on: append these
/// records, in this order. One Raft entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Append {
    /// The records.
    pub records: Vec<Record>,
}
// ANCHOR_END: records

// ANCHOR: outcomes
/// What happened to one record when its entry was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Appended at this offset.
    Appended(u64),
    /// Its (producer, sequence) was appended before, at this offset: it was
    /// not appended again.
    Duplicate(u64),
    /// Its sequence is older than the ones its producer's window still
    /// remembers: whether and where it was appended is no longer known.
    TooOld {
        /// The oldest sequence still remembered for the producer.
        oldest_remembered: u64,
    },
}

/// What applying one Raft entry gave (openraft wants exactly one per entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// An [`Append`]: one outcome per record, in order.
    Records(Vec<Outcome>),
    /// An entry of Raft's own (a new leader's blank entry, a membership
    /// change): nothing for a client.
    Nothing,
}
// ANCHOR_END: outcomes
// ANCHOR_END: command

// ANCHOR: type_config
openraft::declare_raft_types!(
    /// The cluster's types, as openraft needs them.
    pub TypeConfig:
        D = Append,
        R = Applied,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);
// ANCHOR_END: type_config

/// A Raft instance of this cluster.
pub type Raft = openraft::Raft<TypeConfig>;
/// An entry of the Raft log.
pub type Entry = openraft::Entry<TypeConfig>;
/// Where an entry sits in the Raft log: (term, leader, index).
pub type LogId = openraft::LogId<NodeId>;
/// A vote a server cast, and keeps across restarts.
pub type Vote = openraft::Vote<NodeId>;
/// The cluster's membership as last applied.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
/// A storage failure, as openraft reports it (fatal to the node).
pub type StorageError = openraft::StorageError<NodeId>;
/// An error from a Raft API call.
pub type RaftError<E = openraft::error::Infallible> = openraft::error::RaftError<NodeId, E>;
/// An error from a call to a peer.
pub type RpcError<E = openraft::error::Infallible> =
    openraft::error::RPCError<NodeId, Node, RaftError<E>>;
/// Why a proposal failed.
pub type ClientWriteError = openraft::error::ClientWriteError<NodeId, Node>;
