//! Creating the lab's pieces and recording each in the state file as it is
//! created: namespaces (`ip netns add`), links to delete before their
//! namespace, `--detach` OVS/OVN daemons ([`Daemon`]) and foreground
//! processes (`ip netns exec <ns> <argv>`, e.g. mesos-local or a test's
//! HTTP server) with their stop rank.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context;
use tracing::info;

use super::plan::Host;
use super::{netns_command, state, Lab};
use crate::daemon::{Daemon, DaemonSpec};

impl Lab {
    /// Starts a `--detach` daemon inside `host`'s namespace with its files
    /// in the host's directory; it is stopped with the lab (first).
    pub fn spawn(&mut self, host: Host, spec: DaemonSpec) -> anyhow::Result<&Daemon> {
        self.start_daemon(host, spec, state::rank::WORKLOAD)?;
        Ok(&self.daemons.last().expect("just pushed").1)
    }

    /// Starts a foreground process `argv` inside `netns` (stdout and stderr
    /// to `<dir>/logs/<name>.{out,log}`); killed with the lab (first).
    /// Returns its pid.
    pub fn spawn_process(&mut self, netns: &str, name: &str, argv: &[&str]) -> anyhow::Result<i32> {
        self.spawn_with(netns, name, argv, &[], state::rank::WORKLOAD)
    }

    /// Starts a process in `netns` with extra environment and a stop rank.
    pub(super) fn spawn_with(
        &mut self,
        netns: &str,
        name: &str,
        argv: &[&str],
        env: &[(String, String)],
        rank: u8,
    ) -> anyhow::Result<i32> {
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let out = std::fs::File::create(logs.join(format!("{name}.out")))?;
        let err = std::fs::File::create(logs.join(format!("{name}.log")))?;
        let mut cmd = netns_command(netns, argv);
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name}: {argv:?} in {netns}"))?;
        let pid = i32::try_from(child.id())?;
        self.children.push(child);
        self.state.add_process(name, pid, rank, None, &[]);
        self.state.save()?;
        info!(process = name, pid, netns, "started");
        Ok(pid)
    }

    /// `<dir>/logs/<name>.out`: stdout of a process of [`Lab::spawn_process`].
    pub fn process_stdout(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.out"))
    }

    /// Starts an OVS-style daemon in `host`'s namespace and records it.
    pub(super) fn start_daemon(
        &mut self,
        host: Host,
        spec: DaemonSpec,
        rank: u8,
    ) -> anyhow::Result<()> {
        let dir = self.host_dir(host);
        std::fs::create_dir_all(&dir)?;
        let daemon = Daemon::start(&dir, spec.in_netns(&self.netns(host)))?;
        let label = format!("{}/{}", host.name(), daemon.name);
        self.state.add_process(
            &label,
            daemon.pid,
            rank,
            Some(daemon.ctl.clone()),
            &daemon.spec().exit_args,
        );
        self.state.save()?;
        info!(daemon = %label, pid = daemon.pid, "started");
        self.daemons.push((host, daemon));
        Ok(())
    }

    /// `ip netns add <name>` (recorded before it exists, so a crash right
    /// after still cleans it up), `lo` up.
    pub(super) fn add_netns(&mut self, name: &str) -> anyhow::Result<()> {
        self.state.netns.push(name.to_string());
        self.state.save()?;
        state::ip(&["netns", "add", name])?;
        state::ip(&["-n", name, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Records a link to delete before its namespace.
    pub(super) fn record_link(&mut self, netns: &str, name: &str) -> anyhow::Result<()> {
        self.state.links.push(state::LinkRecord {
            netns: netns.to_string(),
            name: name.to_string(),
        });
        self.state.save()
    }
}
