//! The bench's private NB: an `ovsdb-server` on a unix socket in its own temp
//! directory (no northd, so nothing else competes for the CPU), owned network
//! switches with `/20` subnets, and fast filling with batched task ports.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::Context;
use ovn::nb::{insert_ops, LogicalSwitch, NB_DB};
use ovn::ovsdb::{Client, ClientConfig, Txn};
use ovn::owner::{Kind, Owner, NETWORK};
use ovn::ports::{create_task_ports_batch, TaskPortSpec};
use ovn_mesos_tests::{Daemon, DaemonSpec, WorkDir};
use uuid::Uuid;

/// The tables a task port client monitors.
pub const TABLES: [&str; 3] = [
    "Logical_Switch",
    "Logical_Switch_Port",
    "Logical_Router_Port",
];

/// A standalone NB database server.
pub struct Nb {
    /// Stopped on drop, before the directory goes.
    _daemon: Daemon,
    pub work: WorkDir,
    pub sock: PathBuf,
    pub remote: String,
    /// Switches created so far (their `/20` is `10.<n>.0.0/20`).
    pub switches: u8,
}

impl Nb {
    pub fn start() -> anyhow::Result<Nb> {
        let work = WorkDir::new()?;
        let sock = work.socket("nb.sock")?;
        let db = work.file("nb.db");
        work.run(
            "ovsdb-tool",
            &[
                "create",
                &db.display().to_string(),
                "/usr/share/ovn/ovn-nb.ovsschema",
            ],
        )?;
        let daemon = Daemon::start(
            work.path(),
            DaemonSpec::new("nb", "ovsdb-server")
                .arg(db.display().to_string())
                .arg(format!("--remote=punix:{}", sock.display())),
        )?;
        let remote = format!("unix:{}", sock.display());
        work.run(
            "ovn-nbctl",
            &[&format!("--db={remote}"), "--no-wait", "init"],
        )?;
        Ok(Nb {
            _daemon: daemon,
            work,
            sock,
            remote,
            switches: 0,
        })
    }

    pub async fn connect(&self) -> anyhow::Result<Client> {
        let config = TABLES
            .iter()
            .fold(ClientConfig::new(&self.remote, NB_DB)?, |c, t| c.monitor(t));
        Client::connect(config)
            .await
            .context("connecting to the bench NB")
    }

    /// Adds an owned network switch `name` with the next free `/20`; returns
    /// its uuid and the subnet's network address.
    pub async fn add_switch(
        &mut self,
        client: &Client,
        name: &str,
    ) -> anyhow::Result<(Uuid, Ipv4Addr)> {
        self.switches += 1;
        let net = Ipv4Addr::new(10, self.switches, 0, 0);
        let mut sw = LogicalSwitch {
            uuid: Uuid::new_v4(),
            name: name.to_owned(),
            ..Default::default()
        };
        sw.other_config.insert("subnet".into(), format!("{net}/20"));
        sw.external_ids = Owner::new(Kind::NetworkSwitch)
            .tenant("bench")
            .with(NETWORK, name)
            .into_map();
        let mut txn = Txn::new(NB_DB);
        insert_ops(&mut txn, &sw);
        client.transact(&txn).await?;
        Ok((sw.uuid, net))
    }

    /// Adds `count` ports in switches of `per_switch` ports (batches of 500).
    pub async fn fill(
        &mut self,
        client: &Client,
        count: usize,
        per_switch: usize,
    ) -> anyhow::Result<()> {
        let mut left = count;
        while left > 0 {
            let n = left.min(per_switch);
            let name = format!("fill{}", self.switches + 1);
            self.add_switch(client, &name).await?;
            let specs: Vec<TaskPortSpec> = (0..n)
                .map(|i| spec(&name, &format!("{name}-{i}")))
                .collect();
            for chunk in specs.chunks(500) {
                create_task_ports_batch(client, chunk).await?;
            }
            left -= n;
        }
        Ok(())
    }
}

/// A task port spec like the framework's.
pub fn spec(switch: &str, task: &str) -> TaskPortSpec {
    TaskPortSpec {
        switch: switch.into(),
        task_id: task.into(),
        framework_id: "bench-framework-0001".into(),
        service: Some("web".into()),
        requested_chassis: Some("agent1".into()),
        ip: None,
        agent: None,
        version: None,
    }
}

/// The i-th host address of a `/20` at `net` (from .2 on, the router's .1 skipped).
pub fn host(net: Ipv4Addr, i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net) + 2 + i as u32)
}
