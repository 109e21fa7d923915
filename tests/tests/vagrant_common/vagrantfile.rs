//! The Vagrantfile evaluated by ruby: `scripts/vagrantfile-plan.rb --json`
//! runs the real file against a recorder of `Vagrant.configure` and prints
//! every setting as JSON, so the tests check the machines, their networks,
//! providers and provisioning environment (more than `ruby -c`, which only
//! checks the syntax).

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use super::{repo, run, tool, vagrant_dir};

/// Host variables the Vagrantfile reads; removed so the defaults are checked.
const HOST_SETTINGS: [&str; 13] = [
    "LAB_BOX",
    "LAB_MEMORY",
    "LAB_CPUS",
    "MESOS_IMPL",
    "MESOS_DEB",
    "MESOS_APT_SOURCE",
    "MESOS_APT_KEY_URL",
    "MESOS_PACKAGE",
    "OVN_MESOS_BUILD",
    "OVN_MESOS_AUTOSTART",
    "OVN_MESOS_API",
    "DATAPATH_TYPE",
    "LAB_HA",
];

/// One recorded call: `node.vm.network "private_network", ip: ...`.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub args: Vec<Value>,
    pub options: serde_json::Map<String, Value>,
    pub block: Option<Value>,
}

/// The whole configuration: `config.vm` attributes and calls.
#[derive(Debug)]
pub struct Plan {
    pub vm_attrs: serde_json::Map<String, Value>,
    pub vm_calls: Vec<Call>,
}

/// One `config.vm.define NAME do |node| ... end`.
#[derive(Debug)]
pub struct Machine {
    pub name: String,
    pub vm_attrs: serde_json::Map<String, Value>,
    pub vm_calls: Vec<Call>,
}

impl Plan {
    /// Evaluates `vagrant/Vagrantfile` with the recorder of
    /// `scripts/vagrantfile-plan.rb` (no host settings).
    pub fn load() -> anyhow::Result<Plan> {
        Plan::load_with(&[])
    }

    /// Evaluates `vagrant/Vagrantfile` with only the given host settings
    /// (`("LAB_HA", "1")`), as `LAB_HA=1 vagrant up` would.
    pub fn load_with(settings: &[(&str, &str)]) -> anyhow::Result<Plan> {
        let mut cmd = Command::new(tool("ruby"));
        cmd.arg(repo().join("scripts/vagrantfile-plan.rb"))
            .arg("--json")
            .arg(vagrant_dir().join("Vagrantfile"));
        for name in HOST_SETTINGS {
            cmd.env_remove(name);
        }
        for (name, value) in settings {
            if !HOST_SETTINGS.contains(name) {
                bail!("{name} is no host setting the Vagrantfile reads");
            }
            cmd.env(name, value);
        }
        let json: Value = serde_json::from_str(&run(&mut cmd)?)
            .context("the Vagrantfile stub printed no JSON")?;
        let configs = json
            .as_array()
            .context("expected a list of configurations")?;
        if configs.len() != 1 {
            bail!(
                "expected one Vagrant.configure block, found {}",
                configs.len()
            );
        }
        let vm = &configs[0]["children"]["vm"];
        Ok(Plan {
            vm_attrs: object(&vm["attrs"])?,
            vm_calls: calls(&vm["calls"])?,
        })
    }

    /// The defined machines, in definition order.
    pub fn machines(&self) -> anyhow::Result<Vec<Machine>> {
        self.vm_calls
            .iter()
            .filter(|c| c.method == "define")
            .map(|c| {
                let name = c
                    .args
                    .first()
                    .and_then(Value::as_str)
                    .context("define without name")?;
                let block = c
                    .block
                    .as_ref()
                    .with_context(|| format!("define {name} without block"))?;
                let vm = &block["children"]["vm"];
                Ok(Machine {
                    name: name.to_string(),
                    vm_attrs: object(&vm["attrs"])?,
                    vm_calls: calls(&vm["calls"])?,
                })
            })
            .collect()
    }
}

impl Machine {
    /// The recorded calls of one method (`network`, `provider`, `provision`).
    pub fn calls(&self, method: &str) -> Vec<&Call> {
        self.vm_calls
            .iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// The attributes set in `node.vm.provider NAME do |p| ... end`.
    pub fn provider(
        &self,
        name: &str,
    ) -> anyhow::Result<(serde_json::Map<String, Value>, Vec<Call>)> {
        let call = self
            .calls("provider")
            .into_iter()
            .find(|c| c.args.first().and_then(Value::as_str) == Some(name))
            .ok_or_else(|| anyhow!("{}: no {name} provider block", self.name))?;
        let block = call.block.as_ref().context("provider without block")?;
        Ok((object(&block["attrs"])?, calls(&block["calls"])?))
    }

    /// The environment of the one shell provisioner, and its script path.
    pub fn provision(&self) -> anyhow::Result<(String, BTreeMap<String, String>)> {
        let shells = self.calls("provision");
        let [call] = shells.as_slice() else {
            bail!(
                "{}: expected one provisioner, found {}",
                self.name,
                shells.len()
            );
        };
        if call.args.first().and_then(Value::as_str) != Some("shell") {
            bail!(
                "{}: the provisioner is not a shell provisioner: {:?}",
                self.name,
                call.args
            );
        }
        let path = call
            .options
            .get("path")
            .and_then(Value::as_str)
            .context("provisioner without path")?;
        let env = object(call.options.get("env").context("provisioner without env")?)?
            .into_iter()
            .map(|(k, v)| Ok((k, v.as_str().context("env value is no string")?.to_string())))
            .collect::<anyhow::Result<_>>()?;
        Ok((path.to_string(), env))
    }
}

fn object(value: &Value) -> anyhow::Result<serde_json::Map<String, Value>> {
    value
        .as_object()
        .cloned()
        .ok_or_else(|| anyhow!("expected an object, got {value}"))
}

fn calls(value: &Value) -> anyhow::Result<Vec<Call>> {
    value
        .as_array()
        .ok_or_else(|| anyhow!("expected a list of calls, got {value}"))?
        .iter()
        .map(|c| {
            Ok(Call {
                method: c["method"]
                    .as_str()
                    .context("call without method")?
                    .to_string(),
                args: c["args"].as_array().cloned().unwrap_or_default(),
                options: object(&c["options"])?,
                block: Some(c["block"].clone()).filter(|b| !b.is_null()),
            })
        })
        .collect()
}
