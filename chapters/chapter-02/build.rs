//! Compiles `proto/log/v1/log.proto` into Rust with protox (a protobuf
//! compiler written in Rust: no `protoc` to install) and tonic-prost-build,
//! and writes the encoded file descriptor set to `OUT_DIR`, where gRPC
//! reflection (chapter 5) finds it.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_dir.display());

    let file_descriptors = protox::compile(["log/v1/log.proto"], [&proto_dir])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("log_v1_descriptor.bin"),
        prost::Message::encode_to_vec(&file_descriptors),
    )?;

    tonic_prost_build::configure().compile_fds(file_descriptors)?;
    Ok(())
}
