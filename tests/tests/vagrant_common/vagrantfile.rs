//! The Vagrantfile evaluated by ruby: a recording stub of `Vagrant.configure`
//! runs the real file and prints every setting as JSON, so the tests check
//! the machines, their networks, providers and provisioning environment
//! (more than `ruby -c`, which only checks the syntax).

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use super::{run, tool, vagrant_dir};

/// Records the Vagrant DSL: attribute writes (`vb.memory = 2048`), namespaces
/// (`config.vm`) and calls (`network`, `provider`, `define` ...), a call's
/// block evaluated against a fresh recorder.
const STUB: &str = r#"
require "json"

class Recorder
  def initialize
    @attrs = {}
    @children = {}
    @calls = []
  end

  def method_missing(name, *args, **opts, &block)
    key = name.to_s
    if key.end_with?("=")
      @attrs[key.chomp("=")] = args.first
    elsif args.empty? && opts.empty? && block.nil?
      @children[key] ||= Recorder.new
    else
      inner = nil
      if block
        inner = Recorder.new
        block.call(inner, Recorder.new)
      end
      @calls << { "method" => key, "args" => args, "options" => opts, "block" => inner }
      nil
    end
  end

  def respond_to_missing?(_name, _private = false)
    true
  end

  def to_json(*a)
    { "attrs" => @attrs, "children" => @children, "calls" => @calls }.to_json(*a)
  end
end

module Vagrant
  def self.require_version(*_versions); end

  def self.configure(version)
    raise "configuration version #{version.inspect}, expected \"2\"" unless version == "2"
    config = Recorder.new
    yield config
    ($vagrant_configs ||= []) << config
  end
end

vagrantfile = ARGV.fetch(0)
Dir.chdir(File.dirname(vagrantfile)) { load File.basename(vagrantfile) }
puts JSON.generate($vagrant_configs || [])
"#;

/// Host variables the Vagrantfile reads; removed so the defaults are checked.
const HOST_SETTINGS: [&str; 12] = [
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
    /// Evaluates `vagrant/Vagrantfile` with the stub (no host settings).
    pub fn load() -> anyhow::Result<Plan> {
        let dir = tempfile::tempdir()?;
        let stub = dir.path().join("vagrant-stub.rb");
        std::fs::write(&stub, STUB)?;
        let mut cmd = Command::new(tool("ruby"));
        cmd.arg(&stub).arg(vagrant_dir().join("Vagrantfile"));
        for name in HOST_SETTINGS {
            cmd.env_remove(name);
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
