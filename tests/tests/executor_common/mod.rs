//! Shared setup of the executor tests: OVN central, one chassis in its own
//! namespace, a logical switch `ls1` (192.168.1.0/24), the test agent and
//! executors started as the agent would, with their veth host ends in the
//! chassis namespace. Task attachments are written exactly as the contract in
//! `ovn::attachment` says the framework writes them.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use mesos_proto::v1::network_info::IpAddress;
use mesos_proto::v1::{
    CommandInfo, ContainerInfo, ExecutorId, Label, Labels, NetworkInfo, TaskId, TaskInfo,
};
use ovn::attachment;
use ovn_mesos_executor::test_agent::{ExecutorProcess, ExecutorSpec, TestAgent};
use ovn_mesos_tests::binaries::executor_binary;
use ovn_mesos_tests::{wait_for, Chassis, OvnCentral};

pub const FRAMEWORK: &str = "ovn-mesos-test-framework";

/// Central, chassis, agent and a place for sandboxes.
pub struct Lab {
    pub agent: TestAgent,
    pub chassis: Chassis,
    pub central: OvnCentral,
    pub binary: PathBuf,
    pub sandboxes: tempfile::TempDir,
}

/// One task's logical port.
#[derive(Debug, Clone)]
pub struct Port {
    pub lsp: String,
    pub mac: String,
    pub ip: String,
}

impl Port {
    /// Port number `n` (2..254) of ls1.
    pub fn nth(n: u8) -> Port {
        Port {
            lsp: format!("ls1-task-{n}"),
            mac: format!("0a:58:c0:a8:01:{n:02x}"),
            ip: format!("192.168.1.{n}"),
        }
    }
}

impl Lab {
    pub async fn start() -> Lab {
        let central = OvnCentral::start().expect("OVN central");
        let chassis = Chassis::start(&central, "chassis-1").expect("chassis");
        central
            .nbctl(&[
                "ls-add",
                "ls1",
                "--",
                "set",
                "Logical_Switch",
                "ls1",
                "other_config:subnet=192.168.1.0/24",
            ])
            .expect("ls-add");
        Lab {
            agent: TestAgent::start(FRAMEWORK).await.expect("test agent"),
            chassis,
            central,
            binary: executor_binary().expect("executor binary"),
            sandboxes: tempfile::tempdir().expect("sandbox dir"),
        }
    }

    /// `ovn-nbctl lsp-add ls1 <lsp> -- lsp-set-addresses <lsp> "<mac> <ip>"`
    /// (what the framework does before launching).
    pub fn add_lsp(&self, p: &Port) {
        let addr = format!("{} {}", p.mac, p.ip);
        self.central
            .nbctl(&[
                "lsp-add",
                "ls1",
                &p.lsp,
                "--",
                "lsp-set-addresses",
                &p.lsp,
                &addr,
                "--",
                "lsp-set-port-security",
                &p.lsp,
                &addr,
            ])
            .expect("lsp-add");
    }

    /// An executor spec with the test defaults (no checkpointing, 3 s grace).
    pub fn spec(&self, executor: &str) -> ExecutorSpec {
        ExecutorSpec {
            binary: self.binary.clone(),
            agent_endpoint: self.agent.endpoint(),
            framework_id: FRAMEWORK.into(),
            executor_id: executor.into(),
            sandbox: self.sandboxes.path().join(executor),
            checkpoint: false,
            grace: Duration::from_secs(3),
            recovery_timeout: Duration::from_secs(15),
            env: vec![
                ("OVN_MESOS_OVS_DB".into(), self.chassis.ovs_remote()),
                ("OVN_MESOS_HOST_NETNS".into(), self.chassis.netns().into()),
                ("OVN_MESOS_INSTALL_TIMEOUT".into(), "10secs".into()),
                ("OVN_MESOS_LOG".into(), "debug".into()),
            ],
        }
    }

    /// Starts an executor and waits for its subscription.
    pub async fn executor(&self, spec: &ExecutorSpec) -> ExecutorProcess {
        let mut p = ExecutorProcess::spawn(spec).expect("spawn executor");
        if let Err(e) = self
            .agent
            .wait_subscribed(
                &ExecutorId::from(spec.executor_id.as_str()),
                Duration::from_secs(20),
            )
            .await
        {
            panic!("{e}; executor exit: {:?}; log:\n{}", p.try_exit(), p.log());
        }
        p
    }

    /// The OVS ports of br-int (`ovs-vsctl list-ports br-int`).
    pub fn ports(&self) -> Vec<String> {
        self.chassis
            .vsctl(&["list-ports", "br-int"])
            .expect("list-ports")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Task veths left in the chassis namespace.
    pub fn task_links(&self) -> Vec<String> {
        self.chassis
            .links()
            .expect("links")
            .into_iter()
            .filter(|l| l.starts_with("ovnm"))
            .collect()
    }

    /// Panics unless no port, veth or namespace of `netns` is left.
    pub fn assert_nothing_left(&self, netns: &str) {
        let ports = self.ports();
        let links = self.task_links();
        let ns_file = PathBuf::from("/var/run/netns").join(netns);
        assert!(ports.is_empty(), "OVS ports left: {ports:?}");
        assert!(links.is_empty(), "task veths left: {links:?}");
        assert!(!ns_file.exists(), "namespace {netns} left");
    }
}

/// The namespace name the executor uses for `task` (see `TaskNames`).
pub fn netns_of(task: &str) -> String {
    attachment::TaskNames::new(FRAMEWORK, task).netns
}

/// A task with the attachment labels of `port` and a shell `command`.
pub fn task(id: &str, port: &Port, command: &str) -> TaskInfo {
    task_with(id, Some(&port.ip), &attachment_labels(port), command)
}

/// The contract's labels for `port` (gateway 192.168.1.1, prefix 24).
pub fn attachment_labels(port: &Port) -> Vec<(String, String)> {
    vec![
        (attachment::LOGICAL_PORT.into(), port.lsp.clone()),
        (attachment::MAC.into(), port.mac.clone()),
        (attachment::PREFIX_LEN.into(), "24".into()),
        (attachment::GATEWAY.into(), "192.168.1.1".into()),
        (attachment::MTU.into(), "1400".into()),
        (attachment::LOGICAL_SWITCH.into(), "ls1".into()),
    ]
}

/// A task with explicit IP and labels.
pub fn task_with(
    id: &str,
    ip: Option<&str>,
    labels: &[(String, String)],
    command: &str,
) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId::from(id),
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }),
        container: Some(ContainerInfo {
            network_infos: vec![NetworkInfo {
                name: Some("ovn".into()),
                ip_addresses: ip
                    .map(|ip| IpAddress {
                        ip_address: Some(ip.into()),
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
                labels: Some(Labels {
                    labels: labels
                        .iter()
                        .map(|(k, v)| Label {
                            key: k.clone(),
                            value: Some(v.clone()),
                        })
                        .collect(),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `ip netns exec <ns> <args>`: stdout, or Err with stderr.
pub fn in_netns(ns: &str, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Polls `curl` from namespace `ns` until `url` answers.
pub fn curl_until_answered(ns: &str, url: &str) -> String {
    wait_for(
        &format!("{url} to answer from {ns}"),
        Duration::from_secs(15),
        || Ok(in_netns(ns, &["curl", "-sS", "-m", "2", url]).ok()),
    )
    .expect("TCP between tasks")
}
