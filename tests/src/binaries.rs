//! The workspace binaries tests run as processes: `ovn-mesos` (override
//! `OVN_MESOS_BIN`), `ovn-mesos-executor` (`OVN_MESOS_EXECUTOR_BIN`) and
//! `mesos-local` (`MESOS_LOCAL_BIN`). Each comes from the one helper that
//! builds them, [`mesos_local::testing::workspace_binary`]: `cargo build -p
//! <package> --bin <bin>` into the running executable's target directory
//! and profile, once per process, unless its variable names a binary.

use std::path::PathBuf;

use mesos_local::testing::{workspace_binary, BinaryError, WorkspaceBinary, MESOS_LOCAL};

/// The framework's CLI.
pub const OVN_MESOS: WorkspaceBinary = WorkspaceBinary {
    package: "ovn-mesos",
    bin: "ovn-mesos",
    env: "OVN_MESOS_BIN",
};

/// The executor.
pub const OVN_MESOS_EXECUTOR: WorkspaceBinary = WorkspaceBinary {
    package: "ovn-mesos-executor",
    bin: "ovn-mesos-executor",
    env: "OVN_MESOS_EXECUTOR_BIN",
};

/// An up-to-date `ovn-mesos`.
pub fn ovn_mesos_binary() -> Result<PathBuf, BinaryError> {
    workspace_binary(OVN_MESOS)
}

/// An up-to-date `ovn-mesos-executor`.
pub fn executor_binary() -> Result<PathBuf, BinaryError> {
    workspace_binary(OVN_MESOS_EXECUTOR)
}

/// An up-to-date `mesos-local`.
pub fn mesos_local_binary() -> Result<PathBuf, BinaryError> {
    workspace_binary(MESOS_LOCAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_binary_is_built_where_this_test_runs_and_is_executable() {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
        for (which, path) in [
            (OVN_MESOS, ovn_mesos_binary()),
            (OVN_MESOS_EXECUTOR, executor_binary()),
            (MESOS_LOCAL, mesos_local_binary()),
        ] {
            if std::env::var_os(which.env).is_some() {
                continue;
            }
            let path = path.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(path, profile_dir.join(which.bin));
            let out = std::process::Command::new(&path)
                .arg("--help")
                .output()
                .unwrap_or_else(|e| panic!("{} runs: {e}", path.display()));
            assert!(out.status.success(), "{} --help: {out:?}", path.display());
        }
    }
}
