//! Where the lab finds what it runs: the `ovn-mesos` CLI (built on demand
//! into the running executable's target directory, like
//! `mesos_local::testing::binary` and the executor's `executor_binary`) and
//! the shared chassis script `vagrant/provisioning/ovn-chassis.sh`.
//!
//! Overrides: `OVN_MESOS_BIN` (the CLI), `OVN_MESOS_CHASSIS_SCRIPT`; the other
//! binaries have theirs (`MESOS_LOCAL_BIN`, `OVN_MESOS_EXECUTOR_BIN`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context};
use tracing::warn;

/// Overrides the `ovn-mesos` binary.
pub const OVN_MESOS_BIN_ENV: &str = "OVN_MESOS_BIN";
/// Overrides the chassis script.
pub const CHASSIS_SCRIPT_ENV: &str = "OVN_MESOS_CHASSIS_SCRIPT";

/// `vagrant/provisioning/ovn-chassis.sh` of this checkout.
pub fn chassis_script() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os(CHASSIS_SCRIPT_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../vagrant/provisioning/ovn-chassis.sh")
        });
    if !path.exists() {
        bail!(
            "the chassis script {} is missing (set {CHASSIS_SCRIPT_ENV})",
            path.display()
        );
    }
    Ok(path)
}

/// The path of an up-to-date `ovn-mesos` binary (built once per process).
pub fn ovn_mesos_binary() -> anyhow::Result<PathBuf> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(|| build("ovn-mesos", "../framework/Cargo.toml").map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// `(target dir, profile dir name)` of an executable in a cargo target dir
/// (`<target>/<profile>/deps/x` or `<target>/<profile>/x`).
fn target_of(exe: &Path) -> Option<(PathBuf, String)> {
    let mut dir = exe.parent()?;
    if dir.file_name()? == "deps" {
        dir = dir.parent()?;
    }
    let profile = dir.file_name()?.to_string_lossy().into_owned();
    Some((dir.parent()?.to_path_buf(), profile))
}

/// `cargo build --bin <bin>` of the package at `manifest` (relative to this
/// package) into the running executable's target dir and profile.
fn build(bin: &str, manifest: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os(OVN_MESOS_BIN_ENV) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let (target, profile_dir) = target_of(&exe)
        .with_context(|| format!("{} is not in a cargo target directory", exe.display()))?;
    let profile = if profile_dir == "debug" {
        "dev"
    } else {
        profile_dir.as_str()
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest);
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "--bin",
            bin,
            "--profile",
            profile,
            "--manifest-path",
        ])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .with_context(|| format!("cannot run cargo to build {bin}; set {OVN_MESOS_BIN_ENV}"))?;
    let path = target.join(&profile_dir).join(bin);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The checkout may be mid-edit by someone else: an earlier build
        // still serves the lab.
        if path.exists() {
            warn!(binary = %path.display(), error = %stderr.trim(), "build failed, using the existing binary");
            return Ok(path);
        }
        bail!("building {bin} failed: {}", stderr.trim());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_dir_is_found_from_tests_and_binaries() {
        assert_eq!(
            target_of(Path::new("/t/debug/deps/e2e_lab-abc")),
            Some((PathBuf::from("/t"), "debug".into()))
        );
        assert_eq!(
            target_of(Path::new("/t/release/ovn-mesos-lab")),
            Some((PathBuf::from("/t"), "release".into()))
        );
    }

    #[test]
    fn the_chassis_script_of_this_checkout_exists() {
        assert!(chassis_script().unwrap().ends_with("ovn-chassis.sh"));
    }
}
