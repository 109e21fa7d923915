//! Helpers for tests (here and in other packages, e.g. the framework's
//! end-to-end tests): a cluster config with short timings and task
//! builders ([`fast_cluster_config`], [`command_task`], [`executor_task`]),
//! scheduler steps ([`scheduler`]), `mesos-local` as child processes
//! ([`MesosProcess`], [`ProcessCluster`]), a group of masters seen from
//! outside ([`agreed_leader`], [`master_state`], [`get_unfollowed`]), and
//! the binaries tests run
//! ([`workspace_binary`]: `mesos-local` itself through [`binary`], also for
//! `mesos-local test-executor` as a custom executor; the tests package gets
//! `ovn-mesos` and `ovn-mesos-executor` through it too), built on demand.
//!
//! `CARGO_BIN_EXE_<bin>` exists only in the tests of the binary's own
//! package, so [`workspace_binary`] looks the binary up next to the running
//! test executable (`<target>/<profile>/deps/test-xxxx` ->
//! `<target>/<profile>/<bin>`) after `cargo build -p <package> --bin <bin>`
//! for that target directory and profile (what `make test` runs before the
//! tests, so usually a no-op) has made sure it is current. Each binary's
//! environment variable (`MESOS_LOCAL_BIN` ...) overrides the lookup.

mod fixtures;
mod group;
mod process;
pub mod scheduler;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

pub use fixtures::{
    command_task, executor_task, fast_cluster_config, framework_info, test_executor_info,
    TEST_RESOURCES,
};
pub use group::{agreed_leader, get_unfollowed, master_state, post_subscribe_unfollowed};
pub use process::{MesosProcess, ProcessCluster, ProcessError};

/// A binary of this workspace that tests run as a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceBinary {
    /// The package that builds it (`cargo build -p`).
    pub package: &'static str,
    /// The binary's name (`cargo build --bin`).
    pub bin: &'static str,
    /// The environment variable naming a binary to use instead.
    pub env: &'static str,
}

/// `mesos-local` (override: `MESOS_LOCAL_BIN`).
pub const MESOS_LOCAL: WorkspaceBinary = WorkspaceBinary {
    package: "mesos-local",
    bin: "mesos-local",
    env: "MESOS_LOCAL_BIN",
};

/// Why a binary could not be provided.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BinaryError {
    /// The test executable is not inside a cargo target directory.
    #[error("cannot locate the cargo target directory from {0}")]
    NoTargetDir(String),
    /// cargo could not be run.
    #[error("cannot run cargo to build {bin}: {error}; set {env} to a built {bin}")]
    Cargo {
        /// The binary.
        bin: &'static str,
        /// Its override variable.
        env: &'static str,
        /// The OS error.
        error: String,
    },
    /// `cargo build` failed.
    #[error("building {bin} failed: {stderr}")]
    Build {
        /// The binary.
        bin: &'static str,
        /// cargo's error output.
        stderr: String,
    },
}

/// `(target dir, profile dir name)` of an executable in a cargo target
/// directory (`<target>/<profile>/deps/x`, `.../examples/x` or
/// `<target>/<profile>/x`).
fn target_of(exe: &Path) -> Option<(PathBuf, String)> {
    let mut dir = exe.parent()?;
    if dir.file_name()? == "deps" || dir.file_name()? == "examples" {
        dir = dir.parent()?;
    }
    let profile = dir.file_name()?.to_string_lossy().into_owned();
    Some((dir.parent()?.to_path_buf(), profile))
}

fn build(which: WorkspaceBinary) -> Result<PathBuf, BinaryError> {
    if let Some(path) = std::env::var_os(which.env) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| BinaryError::NoTargetDir(e.to_string()))?;
    let (target, profile_dir) =
        target_of(&exe).ok_or_else(|| BinaryError::NoTargetDir(exe.display().to_string()))?;
    let profile = match profile_dir.as_str() {
        "debug" => "dev".to_string(),
        other => other.to_string(),
    };
    // Any member's manifest finds the workspace; `-p` picks the package, so
    // its features are unified as in `cargo build -p <package>`.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let output = Command::new(cargo)
        .args(["build", "--quiet", "-p", which.package, "--bin", which.bin])
        .args(["--profile", &profile, "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .map_err(|e| BinaryError::Cargo {
            bin: which.bin,
            env: which.env,
            error: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(BinaryError::Build {
            bin: which.bin,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(target.join(profile_dir).join(which.bin))
}

/// The cargo target directory the running test executable lives in
/// (for per-checkout caches such as the pymesos install).
pub fn target_dir() -> Result<PathBuf, BinaryError> {
    let exe = std::env::current_exe().map_err(|e| BinaryError::NoTargetDir(e.to_string()))?;
    target_of(&exe)
        .map(|(target, _)| target)
        .ok_or_else(|| BinaryError::NoTargetDir(exe.display().to_string()))
}

/// The path of an up-to-date `which` (its override, or built once per
/// process into the running executable's target directory and profile).
pub fn workspace_binary(which: WorkspaceBinary) -> Result<PathBuf, BinaryError> {
    static BUILT: Mutex<BTreeMap<&'static str, Result<PathBuf, BinaryError>>> =
        Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    built
        .entry(which.bin)
        .or_insert_with(|| build(which))
        .clone()
}

/// The path of an up-to-date `mesos-local` binary.
pub fn binary() -> Result<PathBuf, BinaryError> {
    workspace_binary(MESOS_LOCAL)
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
