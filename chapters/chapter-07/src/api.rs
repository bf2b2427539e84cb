//! The generated code for the `raft.v1` protobuf package: the Raft RPCs
//! between the servers of a cluster. Generated at build time by `build.rs`
//! from `proto/raft/v1/raft.proto`.

/// The `raft.v1` package.
pub mod v1 {
    #![allow(
        missing_docs,
        unreachable_pub,
        clippy::all,
        clippy::unwrap_used,
        clippy::expect_used
    )]
    tonic::include_proto!("raft.v1");

    /// The encoded `FileDescriptorSet` of `raft.proto`, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/raft_v1_descriptor.bin"));
}
