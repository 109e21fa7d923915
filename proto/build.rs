//! Compiles the project's Mesos v1 `.proto` files into Rust with `protox`
//! (a pure-Rust protobuf compiler, so no `protoc` is needed) and
//! `prost-build`, and writes the file descriptor set that
//! `mesos_proto::FILE_DESCRIPTOR_SET` embeds for the JSON mapping.
//!
//! The command-line equivalent would be
//! `protoc -I proto --include_imports --descriptor_set_out=... mesos/v1/...`.

use std::{env, fs, path::PathBuf};

use prost::Message;

/// Include root of the `.proto` files, relative to the crate.
const PROTO_ROOT: &str = "proto";

/// The files compiled, relative to [`PROTO_ROOT`].
const PROTO_FILES: [&str; 3] = [
    "mesos/v1/mesos.proto",
    "mesos/v1/scheduler/scheduler.proto",
    "mesos/v1/executor/executor.proto",
];

/// Identifier messages: plain strings, ordered so they can be `BTreeMap`
/// keys (prost already derives `Eq` and `Hash` for them).
const ID_MESSAGES: [&str; 7] = [
    ".mesos.v1.FrameworkID",
    ".mesos.v1.OfferID",
    ".mesos.v1.AgentID",
    ".mesos.v1.TaskID",
    ".mesos.v1.ExecutorID",
    ".mesos.v1.ResourceProviderID",
    ".mesos.v1.OperationID",
];

/// `ContainerID` nests itself (`parent`), so prost derives neither `Eq` nor
/// `Hash` for it: derive all four here.
const CONTAINER_ID: &str = ".mesos.v1.ContainerID";

/// Name of the descriptor set written into `OUT_DIR`.
const DESCRIPTOR_SET_FILE: &str = "mesos_v1_descriptor_set.bin";

fn main() {
    if let Err(error) = run() {
        // A build script reports failure through its exit status; the
        // message names the .proto problem (file, line, reason).
        eprintln!("error: compiling the Mesos .proto files failed: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={PROTO_ROOT}/{file}");
    }

    let descriptor_set = protox::compile(PROTO_FILES, [PROTO_ROOT])?;

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join(DESCRIPTOR_SET_FILE),
        descriptor_set.encode_to_vec(),
    )?;

    let mut config = prost_build::Config::new();
    for id in ID_MESSAGES {
        config.type_attribute(id, "#[derive(PartialOrd, Ord)]");
    }
    config.type_attribute(CONTAINER_ID, "#[derive(Eq, Hash, PartialOrd, Ord)]");
    config
        // `impl prost::Name` for every message, so the JSON mapping can find
        // a message's descriptor from its Rust type.
        .enable_type_names()
        // Deterministic map order: identical messages encode identically.
        .btree_map(["."])
        .compile_fds(descriptor_set)?;
    Ok(())
}
