//! Compiles `proto/raft/v1/raft.proto` (the Raft RPCs between servers)
//! with protox and tonic-prost-build, as chapter 2's `build.rs` does for
//! the Log service, and writes its descriptor set for gRPC reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_dir.display());

    let file_descriptors = protox::compile(["raft/v1/raft.proto"], [&proto_dir])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("raft_v1_descriptor.bin"),
        prost::Message::encode_to_vec(&file_descriptors),
    )?;

    tonic_prost_build::configure().compile_fds(file_descriptors)?;
    Ok(())
}
