//! `ovn-mesos run` and `ovn-mesos teardown`: turn the command line into a
//! scheduler configuration, serve the HTTP API next to the scheduler, stop
//! on SIGTERM or SIGINT; tear a stopped framework down.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mesos_proto::v1::{framework_info, FrameworkInfo};
use mesos_proto::Encoding;
use ovn::ports::{delete_task_port, list_task_ports};
use ovn::services::{delete_service, ServiceKey};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

use crate::api::{self, ApiState, Metrics, Snapshot};
use crate::cli::{GlobalArgs, MasterArgs, RunArgs, TeardownArgs};
use crate::launch::ExecutorSettings;
use crate::mesos::{self, MesosConfig};
use crate::network::connect_nb;
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::state::StateStore;
use ovn::report::Chain;

/// The executor binary's name.
pub const EXECUTOR_NAME: &str = "ovn-mesos-executor";

/// The FrameworkInfo `run` and `teardown` subscribe with: checkpointing,
/// partition-aware (a task on an unreachable agent is not declared lost),
/// and a long failover timeout.
pub fn framework_info(args: &MasterArgs) -> FrameworkInfo {
    let user = args
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into());
    FrameworkInfo {
        user,
        name: args.name.clone(),
        failover_timeout: Some(args.failover_timeout.as_secs_f64()),
        checkpoint: Some(true),
        role: Some(args.role.clone()),
        principal: args.principal.clone(),
        capabilities: vec![framework_info::Capability {
            r#type: Some(framework_info::capability::Type::PartitionAware as i32),
        }],
        ..FrameworkInfo::default()
    }
}

/// The connection settings for `args`.
pub fn mesos_config(args: &MasterArgs) -> MesosConfig {
    MesosConfig {
        master: args.master.to_string(),
        encoding: if args.json {
            Encoding::Json
        } else {
            Encoding::Protobuf
        },
        framework: framework_info(args),
        missed_heartbeats: 5,
        request_timeout: Duration::from_secs(10),
    }
}

/// The executor to run: `--executor`, else the one installed beside this
/// binary, else `/usr/local/bin/ovn-mesos-executor`.
fn executor_command(given: Option<&str>) -> String {
    if let Some(given) = given {
        return given.to_owned();
    }
    std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name(EXECUTOR_NAME))
        .filter(|path| path.is_file())
        .map(|path| path.display().to_string())
        .unwrap_or_else(|| format!("/usr/local/bin/{EXECUTOR_NAME}"))
}

/// The scheduler configuration of `ovn-mesos run`.
pub fn scheduler_config(args: &RunArgs) -> Result<SchedulerConfig> {
    let mut executor = ExecutorSettings::new(executor_command(args.executor.as_deref()));
    executor.args = args.executor_args.clone();
    executor.mtu = args.mtu;
    executor.dns_domain = args.dns_domain.clone();
    executor.dns_servers = args.dns_servers.clone();
    executor
        .check()
        .context("bad --executor, --mtu, --dns-domain or --dns-server")?;
    let mut config = SchedulerConfig::new(
        mesos_config(&args.master),
        args.tasks.clone(),
        args.master.state_dir.clone(),
        executor,
    );
    config.role = args.master.role.clone();
    config.chassis_attribute = args.chassis_attribute.clone();
    config.reconcile_interval = args.reconcile_interval;
    config.vip_interval = args.vip_interval;
    Ok(config)
}

/// `ovn-mesos run`: until SIGTERM/SIGINT.
pub async fn run(global: &GlobalArgs, args: &RunArgs) -> Result<()> {
    if let Some(zk) = &args.master.zk {
        return crate::ha::run(global, args, zk).await;
    }
    let config = scheduler_config(args)?;
    let listener = TcpListener::bind(args.api)
        .await
        .with_context(|| format!("cannot listen on --api {}", args.api))?;
    let nb = connect_nb(global).await?;
    let metrics = Arc::new(Metrics::default());
    let (view_tx, view_rx) = watch::channel(Arc::new(Snapshot::default()));
    let scheduler = match Scheduler::prepare(config, nb.clone(), metrics.clone(), view_tx).await {
        Ok(s) => s,
        Err(e) => {
            nb.close().await;
            return Err(e.into());
        }
    };
    info!(api = %args.api, "HTTP API listening");
    let state = ApiState {
        snapshot: view_rx,
        metrics,
        commands: Some(scheduler.commands()),
        events: Some(scheduler.events()),
        ha: None,
    };
    let reloads = scheduler.commands();
    let hub = scheduler.events();
    tokio::spawn(forward_sighup(reloads));
    let api = ApiTask::spawn(listener, state);
    let result = scheduler.run(shutdown_signal()).await;
    api.stop(&hub).await;
    nb.close().await;
    result.map_err(Into::into)
}

/// The HTTP API, served in a task of its own until [`ApiTask::stop`].
pub(crate) struct ApiTask {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ApiTask {
    pub(crate) fn spawn(listener: TcpListener, state: ApiState) -> ApiTask {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(api::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        ApiTask { stop, task }
    }

    /// Ends `hub`'s event streams (they would hold the server open), stops
    /// the server and waits for it.
    pub(crate) async fn stop(self, hub: &api::EventHub) {
        hub.close();
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %Chain(&e), "HTTP API failed"),
            Err(e) => warn!(error = %Chain(&e), "HTTP API task failed"),
        }
    }
}

/// Asks the scheduler to read its task files again at every SIGHUP.
pub(crate) async fn forward_sighup(commands: api::Commands) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(hup) => hup,
        Err(e) => {
            warn!(error = %Chain(&e), "cannot watch SIGHUP; task files are read at start only");
            return;
        }
    };
    while hup.recv().await.is_some() {
        info!("SIGHUP: reading the task files again");
        if commands.send(api::Command::Reload).await.is_err() {
            return;
        }
    }
}

/// Completes on SIGTERM or SIGINT.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => info!("SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT: stopping"),
        },
        Err(e) => {
            warn!(error = %Chain(&e), "cannot watch SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `ovn-mesos teardown`: TEARDOWN with the saved framework id (Mesos kills
/// the tasks), then the framework's task ports, its services' load
/// balancers and port groups (with their policies), the task records and
/// the framework id are deleted. The
/// scheduler must be stopped (the state dir is locked while it runs).
pub async fn teardown(
    global: &GlobalArgs,
    args: &TeardownArgs,
    out: &mut impl Write,
) -> Result<()> {
    let dir: &PathBuf = &args.master.state_dir;
    let (mut store, zk) = match &args.master.zk {
        None => (StateStore::open(dir)?, None),
        Some(url) => {
            let (store, held) = shared_state(url, args.master.zk_session_timeout).await?;
            (store, Some(held))
        }
    };
    let Some(framework_id) = store.framework_id().cloned() else {
        bail!(
            "no framework id in {}: nothing to tear down",
            match &args.master.zk {
                None => format!("state dir {}", dir.display()),
                Some(_) => store.location(),
            }
        );
    };
    let config = mesos_config(&args.master);
    let sub = mesos::subscribe(&config, Some(&framework_id))
        .await
        .with_context(|| {
            format!(
                "cannot subscribe to the Mesos master {} as framework {framework_id}",
                args.master.master
            )
        })?;
    sub.caller()
        .teardown()
        .await
        .with_context(|| format!("TEARDOWN of framework {framework_id} failed"))?;
    drop(sub);
    writeln!(
        out,
        "framework {framework_id} torn down: Mesos kills its tasks"
    )?;

    let nb = connect_nb(global).await?;
    if zk.is_some() {
        // A former leader frozen past its session writes nothing more.
        ovn::nb::nb_global::bump_epoch(&nb, ovn::nb::nb_global::LEADER_EPOCH)
            .await
            .context("cannot raise the NB leader epoch")?;
    }
    let ports: Vec<_> = nb.read(|cache| {
        list_task_ports(cache)
            .into_iter()
            .filter(|p| p.framework_id == framework_id.as_str())
            .collect()
    });
    let mut services: std::collections::BTreeSet<ServiceKey> = store
        .tasks()
        .map(|r| ServiceKey::new(&r.tenant, &r.service))
        .collect();
    services.extend(
        ports
            .iter()
            .filter_map(|p| Some(ServiceKey::new(&p.tenant, p.service.as_deref()?))),
    );
    let mut deleted_ports = 0;
    for port in &ports {
        if delete_task_port(&nb, &port.name)
            .await
            .with_context(|| format!("cannot delete task port {}", port.name))?
        {
            deleted_ports += 1;
        }
    }
    let mut deleted_lbs = 0;
    let mut deleted_groups = 0;
    for key in services.iter().filter(|k| !k.name.is_empty()) {
        if delete_service(&nb, &key.tenant, &key.name)
            .await
            .with_context(|| format!("cannot delete the load balancer of service {key}"))?
        {
            deleted_lbs += 1;
        }
        if ovn::policy::delete_port_group(&nb, &key.tenant, &key.name)
            .await
            .with_context(|| format!("cannot delete the port group of service {key}"))?
        {
            deleted_groups += 1;
        }
    }
    nb.close().await;
    let ids: Vec<_> = store.tasks().map(|r| r.task_id.clone()).collect();
    for id in &ids {
        store.remove_task(id)?;
    }
    store.clear_framework_id()?;
    store.settle().await;
    if let Some((client, lock, failed)) = zk {
        let failed = failed.borrow().clone();
        drop(store);
        drop(lock);
        // The latch node goes with the session, now.
        crate::ha::close(client).await;
        if let Some(reason) = failed {
            bail!("cannot delete the framework id from ZooKeeper: {reason}");
        }
    }
    writeln!(
        out,
        "deleted {deleted_ports} task port(s), {deleted_lbs} service load balancer(s), {deleted_groups} port group(s), {} task record(s) and the framework id",
        ids.len()
    )?;
    Ok(())
}

/// The session, the latch and the write-failure channel `teardown` holds
/// while it changes the shared state.
type HeldState = (
    zookeeper_client::Client,
    Arc<zookeeper_client::OwnedLockClient>,
    watch::Receiver<Option<String>>,
);

/// The shared state of `--zk` for `teardown`: refused while any instance
/// runs (a leader would go on scheduling, a standby would lead next with
/// the framework gone), else read under the latch.
async fn shared_state(
    url: &crate::mesos::ZooKeeperUrl,
    session_timeout: Duration,
) -> Result<(StateStore, HeldState)> {
    let client = crate::ha::connect(
        url,
        session_timeout,
        session_timeout.max(Duration::from_secs(5)),
    )
    .await
    .context("--zk")?;
    let running = crate::ha::contenders(&client, url)
        .await
        .with_context(|| format!("cannot read the election under {url}"))?;
    if running > 0 {
        bail!("{running} ovn-mesos instance(s) are in the election under {url}: stop them all before teardown");
    }
    let lock = tokio::time::timeout(
        session_timeout,
        crate::ha::campaign(&client, url, "teardown"),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "an ovn-mesos instance took the latch under {url}: stop them all before teardown"
        )
    })??;
    let (failed_tx, failed) = watch::channel(None);
    let store = StateStore::open_zk(lock.clone(), &url.path, failed_tx).await?;
    Ok((store, (client, lock, failed)))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn config(extra: &[&str]) -> Result<SchedulerConfig> {
        let mut line = vec![
            "ovn-mesos",
            "run",
            "--master=m:5050",
            "--tasks=tasks",
            "--executor=/bin/e",
        ];
        line.extend(extra);
        match Cli::try_parse_from(line)?.command {
            Command::Run(args) => scheduler_config(&args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_dns_flags_reach_the_executor_settings() {
        let c = config(&[]).unwrap();
        assert_eq!(c.executor.dns_domain, "ovn-mesos");
        assert!(c.executor.dns_servers.is_empty());
        let c = config(&["--dns-domain=Lab.Example", "--dns-server=10.0.0.2"]).unwrap();
        assert_eq!(c.executor.dns_domain, "lab.example");
        assert_eq!(c.executor.tenant_domain("coke"), "coke.lab.example");
        assert_eq!(c.executor.dns_servers, [Ipv4Addr::new(10, 0, 0, 2)]);
        let err = config(&["--dns-server=127.0.0.53"]).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "bad --executor, --mtu, --dns-domain or --dns-server: DNS server 127.0.0.53 is a \
             loopback or unspecified address: a task's queries to it never leave the task"
        );
    }
}
