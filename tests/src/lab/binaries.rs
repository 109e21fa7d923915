//! Where the lab finds the shared chassis script
//! `vagrant/provisioning/ovn-chassis.sh` (override
//! `OVN_MESOS_CHASSIS_SCRIPT`). The binaries it runs come from
//! [`crate::binaries`].

use std::path::{Path, PathBuf};

use anyhow::bail;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chassis_script_of_this_checkout_exists() {
        assert!(chassis_script().unwrap().ends_with("ovn-chassis.sh"));
    }
}
