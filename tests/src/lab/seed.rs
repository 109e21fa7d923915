//! The seed walk-through's network steps, run with the real `ovn-mesos` CLI
//! inside the lab's hosts (NB at tcp:10.10.1.11:6641 over the underlay, the
//! host's own Open_vSwitch database): tenants coke and pepsi, both with a
//! network on 192.168.1.0/24; coke's gateway router on `mesos-master`
//! (10.10.1.12 over its gateway NIC), pepsi's on `mesos-agent1` (10.10.1.14).
//! The gateways use localnet mode (`--localnet=physnet`, the NIC added to
//! `br-ex`), which is what runs on the userspace datapath.

use std::time::Instant;

use anyhow::Context;
use tracing::info;

use super::plan::{Host, GATEWAY_NIC, OUTSIDE_IP, PHYSNET};
use super::Lab;

/// One `ovn-mesos` invocation of the walk-through and the host it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedStep {
    pub host: Host,
    /// Arguments after `ovn-mesos`.
    pub args: Vec<String>,
}

/// `tenant-init`, `gateway-init`, `network-init` for coke (gateway on
/// mesos-master) then pepsi (gateway on mesos-agent1).
pub fn seed_steps() -> Vec<SeedStep> {
    let mut steps = Vec::new();
    for (tenant, gw_host) in [("coke", Host::Master), ("pepsi", Host::Agent1)] {
        let gw_ip = gw_host.gateway_ip().expect("a gateway host");
        let step = |host: Host, args: Vec<String>| SeedStep { host, args };
        steps.push(step(
            Host::Master,
            vec!["tenant-init".into(), format!("--tenant-name={tenant}")],
        ));
        steps.push(step(
            gw_host,
            vec![
                "gateway-init".into(),
                "--cluster-ip-subnet=192.168.0.0/16".into(),
                format!("--localnet={PHYSNET}"),
                format!("--physical-interface={GATEWAY_NIC}"),
                format!("--physical-ip={gw_ip}/24"),
                format!("--default-gw={OUTSIDE_IP}"),
                format!("--tenant-name={tenant}"),
            ],
        ));
        steps.push(step(
            Host::Master,
            vec![
                "network-init".into(),
                format!("--network-name={tenant}1"),
                "--subnet=192.168.1.0/24".into(),
                format!("--tenant-name={tenant}"),
            ],
        ));
    }
    steps
}

impl Lab {
    /// Runs [`seed_steps`] with the `ovn-mesos` binary (each inside its
    /// host, `OVN_NB_DB=tcp:10.10.1.11:6641`, the host's OVS database), then
    /// `ovn-nbctl --wait=hv sync` so every chassis has the result.
    pub fn network_init_seed(&self) -> anyhow::Result<()> {
        let cli = crate::binaries::ovn_mesos_binary()?.display().to_string();
        for step in seed_steps() {
            let t = Instant::now();
            let mut argv = vec![cli.as_str()];
            argv.extend(step.args.iter().map(String::as_str));
            let out = self
                .exec(step.host, &argv)
                .with_context(|| format!("on {}: ovn-mesos {}", step.host, step.args.join(" ")))?;
            info!(
                host = %step.host,
                command = %step.args.join(" "),
                ms = t.elapsed().as_millis() as u64,
                output = %out,
                "seed step done"
            );
        }
        self.nbctl(&["--wait=hv", "sync"])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_puts_each_gateway_on_its_host() {
        let steps = seed_steps();
        assert_eq!(steps.len(), 6);
        let gws: Vec<&SeedStep> = steps
            .iter()
            .filter(|s| s.args[0] == "gateway-init")
            .collect();
        assert_eq!(gws[0].host, Host::Master);
        assert!(gws[0]
            .args
            .contains(&"--physical-ip=10.10.1.12/24".to_string()));
        assert_eq!(gws[1].host, Host::Agent1);
        assert!(gws[1]
            .args
            .contains(&"--physical-ip=10.10.1.14/24".to_string()));
        assert!(steps
            .iter()
            .all(|s| s.args[0] != "network-init" || s.host == Host::Master));
    }
}
