//! Helpers for tests (here and in other packages, e.g. the framework's
//! end-to-end tests): a cluster config with short timings and task
//! builders ([`fast_cluster_config`], [`command_task`], [`executor_task`]),
//! scheduler steps ([`scheduler`]), `mesos-local` as child processes
//! ([`MesosProcess`], [`ProcessCluster`]), and the path of the binary
//! ([`binary`], also for `mesos-local test-executor` as a custom
//! executor), built on demand.
//!
//! `CARGO_BIN_EXE_mesos-local` exists only in this package's own tests, so
//! the binary is looked up next to the running test executable
//! (`<target>/<profile>/deps/test-xxxx` -> `<target>/<profile>/mesos-local`)
//! after `cargo build -p mesos-local --bin mesos-local` for that target
//! directory and profile has made sure it is current. `MESOS_LOCAL_BIN`
//! overrides the lookup.

mod fixtures;
mod process;
pub mod scheduler;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub use fixtures::{
    command_task, executor_task, fast_cluster_config, framework_info, test_executor_info,
    TEST_RESOURCES,
};
pub use process::{MesosProcess, ProcessCluster, ProcessError};

/// Why the binary could not be provided.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BinaryError {
    /// The test executable is not inside a cargo target directory.
    #[error("cannot locate the cargo target directory from {0}")]
    NoTargetDir(String),
    /// `cargo build` failed.
    #[error("building mesos-local failed: {0}")]
    Build(String),
}

/// `(target dir, profile dir name)` of the running executable.
fn target_of(exe: &Path) -> Option<(PathBuf, String)> {
    let mut dir = exe.parent()?;
    if dir.file_name()? == "deps" || dir.file_name()? == "examples" {
        dir = dir.parent()?;
    }
    let profile = dir.file_name()?.to_string_lossy().into_owned();
    Some((dir.parent()?.to_path_buf(), profile))
}

fn build() -> Result<PathBuf, BinaryError> {
    if let Ok(path) = std::env::var("MESOS_LOCAL_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| BinaryError::NoTargetDir(e.to_string()))?;
    let (target, profile_dir) =
        target_of(&exe).ok_or_else(|| BinaryError::NoTargetDir(exe.display().to_string()))?;
    let profile = match profile_dir.as_str() {
        "debug" => "dev".to_string(),
        other => other.to_string(),
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let output = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--bin",
            "mesos-local",
            "--profile",
            &profile,
            "--manifest-path",
        ])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .map_err(|e| BinaryError::Build(e.to_string()))?;
    if !output.status.success() {
        return Err(BinaryError::Build(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    Ok(target.join(profile_dir).join("mesos-local"))
}

/// The cargo target directory the running test executable lives in
/// (for per-checkout caches such as the pymesos install).
pub fn target_dir() -> Result<PathBuf, BinaryError> {
    let exe = std::env::current_exe().map_err(|e| BinaryError::NoTargetDir(e.to_string()))?;
    target_of(&exe)
        .map(|(target, _)| target)
        .ok_or_else(|| BinaryError::NoTargetDir(exe.display().to_string()))
}

/// The path of an up-to-date `mesos-local` binary (built once per process).
pub fn binary() -> Result<PathBuf, BinaryError> {
    static BINARY: OnceLock<Result<PathBuf, BinaryError>> = OnceLock::new();
    BINARY.get_or_init(build).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_dir_is_found_from_a_test_executable() {
        let (target, profile) =
            target_of(Path::new("/t/debug/deps/mesos_agent-abc")).expect("found");
        assert_eq!(target, PathBuf::from("/t"));
        assert_eq!(profile, "debug");
        assert_eq!(
            target_of(Path::new("/t/release/mesos-local")).map(|t| t.1),
            Some("release".into())
        );
    }
}
