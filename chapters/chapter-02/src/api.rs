//! The generated code for the `log.v1` protobuf package: the messages
//! ([`v1::Record`], [`v1::ProduceRequest`], ...), the client
//! ([`v1::log_client::LogClient`]) and the server trait
//! ([`v1::log_server::Log`]). Generated at build time by `build.rs` from
//! `proto/log/v1/log.proto`; the path `api::v1` follows the Go book's
//! `api/v1`.

/// The `log.v1` package.
pub mod v1 {
    #![allow(
        missing_docs,
        unreachable_pub,
        clippy::all,
        clippy::unwrap_used,
        clippy::expect_used
    )]
    tonic::include_proto!("log.v1");

    /// The encoded `FileDescriptorSet` of `log.proto`, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/log_v1_descriptor.bin"));
}
