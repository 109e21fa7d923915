//! Finding an up-to-date `ovn-mesos-executor` binary from another package's
//! tests: `$OVN_MESOS_EXECUTOR_BIN` if set, else `cargo build --bin
//! ovn-mesos-executor` (once per process; a no-op when current) for the
//! target directory and profile of the running test executable
//! (`<target>/<profile>/deps/test-xxxx`), and the binary it produced. Benches
//! and tests of this package use `CARGO_BIN_EXE_ovn-mesos-executor` instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Environment variable naming the executor binary to use.
pub const EXECUTOR_BIN_ENV: &str = "OVN_MESOS_EXECUTOR_BIN";

/// The executor binary (see the module docs); the error says why none could be had.
pub fn executor_binary() -> Result<PathBuf, String> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY.get_or_init(build).clone()
}

/// `(target dir, profile dir name)` of an executable in a cargo target directory.
fn target_of(exe: &Path) -> Option<(PathBuf, String)> {
    let mut dir = exe.parent()?;
    if dir.file_name()? == "deps" {
        dir = dir.parent()?;
    }
    let profile = dir.file_name()?.to_string_lossy().into_owned();
    Some((dir.parent()?.to_path_buf(), profile))
}

fn build() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(EXECUTOR_BIN_ENV) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (target, profile_dir) = target_of(&exe)
        .ok_or_else(|| format!("{} is not in a cargo target directory", exe.display()))?;
    let profile = if profile_dir == "debug" {
        "dev"
    } else {
        profile_dir.as_str()
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "--bin",
            "ovn-mesos-executor",
            "--profile",
            profile,
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}; set {EXECUTOR_BIN_ENV}"))?;
    if !output.status.success() {
        return Err(format!(
            "building ovn-mesos-executor failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(target.join(profile_dir).join("ovn-mesos-executor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_dir_and_profile_come_from_the_test_executable() {
        assert_eq!(
            target_of(Path::new("/t/debug/deps/executor_tcp-abc")),
            Some((PathBuf::from("/t"), "debug".into()))
        );
        assert_eq!(
            target_of(Path::new("/t/release/launch_to_running")),
            Some((PathBuf::from("/t"), "release".into()))
        );
    }
}
