//! Service load balancers reaching a tenant's switches through one load
//! balancer group, against the same load balancers attached to every switch
//! (`cargo bench -p ovn-mesos-tests --bench lb_group`).
//!
//! For 10, 100 and 1,000 services of one tenant with 10 network switches
//! (`tenant-init`, an NB-only `gateway-init`, `network-init` x10), each on a
//! fresh real OVN central (NB, SB, ovn-northd), side by side in one run:
//!
//! * "group": every service written by `ovn::services::ensure_service` with
//!   `cluster_ip: Some(ClusterIp::Allocate)`, one call (one transaction) per
//!   service, as the framework writes them (`reconcile_services` would make
//!   the same calls one by one): each load balancer is a member
//!   of the tenant's `Load_Balancer_Group` `ovn-mesos_bench`, which each
//!   switch refers to once;
//! * "per-switch" (the baseline): the very rows the group run wrote (read
//!   back, same VIPs including the cluster IP VIP, same options), each
//!   inserted in one transaction that also attaches it to the gateway router
//!   and to each of the 10 switches (`ovn::nb::load_balancer`
//!   `add_to_switch_ops`), and no group. The tenant's (empty) DNS row that
//!   the group run's fabric made is copied too, so the two NBs differ only in
//!   how the load balancers reach the switches.
//!
//! Measured for each: (1) the NB references from switches to load balancers,
//! `Logical_Switch.load_balancer` + `Logical_Switch.load_balancer_group` +
//! `Load_Balancer_Group.load_balancer` entries; (2) the NB (and SB) database
//! file after `ovsdb-server/compact`; (3) ovn-northd's time: the services are
//! written with northd paused (`ovn-appctl pause`, so the write time is the
//! NB client's alone), then `resume` and `ovn-nbctl --wait=sb sync` is timed
//! (northd processing all of them at once); then `LB_GROUP_CHANGES` (15)
//! single-service changes, each replacing one service's backends (one
//! `vips` update, the same row change both ways: `ensure_service` for the
//! group, the bare `update` for the baseline) followed by `--wait=sb sync`:
//! the write (committed and in the client's cache) and then the sync
//! (northd's part, the target) are timed apart, medians, with northd's own
//! figure: its longest main-loop iteration (`stopwatch/show
//! ovn-northd-loop`, reset before each change) and how often its `northd`
//! engine node recomputed (`inc-engine/show-stats`). The two centrals of a
//! size stay up together and their change rounds alternate, so a busy
//! moment of the (shared) machine hits both alike;
//! (4) the SB `Logical_Flow` rows (and those of stage `ls_in_lb`),
//! `Logical_DP_Group` rows and `Load_Balancer` rows with how they name
//! their datapaths.
//!
//! Targets, at the largest size (1,000 services): the group needs at most
//! 1/5 of the per-switch references (M + N = 1,010 expected against M x N =
//! 10,000), and northd's median time for the one-service change (the
//! `--wait=sb sync`) with the group is at most 1.5x the per-switch one.
//! PASS/FAIL each, exit 1 on a FAIL. `LB_GROUP_SCALE=0.1` runs a tenth of
//! every size (1, 10, 100; the default without `--bench`, as `cargo test
//! --benches` runs it). The full run takes under a minute on 2 cores.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ovn::nb::dns::add_dns_to_switch_ops;
use ovn::nb::load_balancer::{
    add_to_router_ops, add_to_switch_ops, create_or_update_load_balancer_ops,
};
use ovn::nb::{find_by_name, insert_ops, list, Dns, LoadBalancer, LogicalSwitch, NB_DB};
use ovn::ovsdb::{Cache, Client, ClientConfig, Datum, Txn};
use ovn::services::{
    backends_value, ensure_service, load_balancer_name, monitor_services, ClusterIp, Protocol,
    ServiceSpec,
};
use ovn::topology::{
    find_gateway_routers, gateway_init, monitor_nb, network_init, tenant_init, GatewayMode,
    GatewaySpec, NetworkSpec, TenantSpec,
};
use ovn_mesos_tests::workdir::run_command;
use ovn_mesos_tests::OvnCentral;
use uuid::Uuid;

const TENANT: &str = "bench";
const SWITCHES: u8 = 10;
const GATEWAY_IP: &str = "10.10.1.12";
const SB_DB: &str = "OVN_Southbound";
/// Target: group references at most this share of the per-switch ones.
const MAX_REF_SHARE: f64 = 0.2;
/// Target: the group's one-service change at most this times the per-switch one.
const MAX_CHANGE_RATIO: f64 = 1.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Group,
    PerSwitch,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Group => "group",
            Mode::PerSwitch => "per-switch",
        }
    }
}

/// What the group run wrote, for the per-switch run to write again.
#[derive(Debug, Default)]
struct Template {
    lbs: Vec<LoadBalancer>,
    dns: Vec<Dns>,
}

/// NB references between switches, groups and load balancers.
#[derive(Debug, Default, Clone, Copy)]
struct Refs {
    /// `Logical_Switch.load_balancer` entries.
    ls_lb: usize,
    /// `Logical_Switch.load_balancer_group` entries.
    ls_group: usize,
    /// `Load_Balancer_Group.load_balancer` entries.
    group_lb: usize,
    /// `Logical_Router.load_balancer` entries (the gateway's; info).
    lr_lb: usize,
}

impl Refs {
    fn total(&self) -> usize {
        self.ls_lb + self.ls_group + self.group_lb
    }
}

/// The SB after northd's work.
#[derive(Debug, Default, Clone, Copy)]
struct Sb {
    lflows: usize,
    /// Flows of stage `ls_in_lb` (one per VIP, datapath-grouped).
    lb_lflows: usize,
    dp_groups: usize,
    lbs: usize,
    /// SB load balancers naming their switches through `datapath_group`.
    lbs_with_group: usize,
    /// `Load_Balancer.datapaths` entries (the other way).
    lb_datapaths: usize,
}

/// One run: one mode, one size.
#[derive(Debug)]
struct Measured {
    mode: Mode,
    services: usize,
    refs: Refs,
    nb_bytes: u64,
    sb_bytes: u64,
    /// All services written (northd paused).
    write: Duration,
    /// `resume` -> `--wait=sb sync` returned.
    bulk_sync: Duration,
    /// northd's longest loop iteration over that.
    bulk_loop_ms: f64,
    /// One service's backends replaced (the client's call, committed and
    /// seen in its cache), median.
    change_write: Duration,
    /// Then `--wait=sb sync` returned: northd's part, median.
    change_sync: Duration,
    /// northd's longest loop iteration per change, median.
    change_loop_ms: f64,
    /// Recomputes of northd's `northd` engine node per change, median.
    change_recomputes: u64,
    sb: Sb,
}

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs a blocking harness call without stalling the client's tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn appctl(target: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = Command::new("ovn-appctl");
    cmd.arg("-t").arg(target).args(args);
    run_command(cmd)
}

/// The samples and maximum (ms) of one of northd's stopwatches since the
/// last `stopwatch/reset`.
fn stopwatch(ctl: &Path, name: &str) -> anyhow::Result<(u64, f64)> {
    let out = appctl(ctl, &["stopwatch/show", name])?;
    let field = |key: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    Ok((
        field("Total samples:").unwrap_or(0.0) as u64,
        field("Maximum:").unwrap_or(0.0),
    ))
}

/// northd's longest loop iteration since the last reset, once its
/// stopwatch thread has taken the samples of the run that did the work.
fn loop_max(ctl: &Path) -> anyhow::Result<f64> {
    for _ in 0..50 {
        if stopwatch(ctl, "ovnnb_db_run")?.0 > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(stopwatch(ctl, "ovn-northd-loop")?.1)
}

/// Recomputes of an engine node since the last `inc-engine/clear-stats`.
fn recomputes(ctl: &Path, node: &str) -> anyhow::Result<u64> {
    let out = appctl(ctl, &["inc-engine/show-stats"])?;
    let header = format!("Node: {node}");
    let n = out
        .lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.starts_with("Node:"))
        .find_map(|l| l.trim().strip_prefix("- recompute:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no recompute count of node {node} in:\n{out}"))?;
    Ok(n)
}

/// `ovsdb-server/compact` of `<db>.db`, then its size.
fn compacted_bytes(dir: &Path, db: &str) -> anyhow::Result<u64> {
    appctl(&dir.join(format!("{db}.ctl")), &["ovsdb-server/compact"])?;
    let path: PathBuf = dir.join(format!("{db}.db"));
    // Settle: the size must be the same twice in a row.
    let mut last = std::fs::metadata(&path)?.len();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        let now = std::fs::metadata(&path)?.len();
        if now == last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    v[v.len() / 2]
}

/// Service `i`'s backends in round `round` (0 = as written; each change
/// round gives other addresses): three tasks on three of the switches.
fn backends(i: usize, round: usize) -> Vec<SocketAddrV4> {
    (0..3)
        .map(|k| {
            let switch = 1 + ((i + k) % SWITCHES as usize) as u8;
            let host = 2 + ((i * 3 + round * 3 + k) % 250) as u8;
            SocketAddrV4::new(Ipv4Addr::new(192, 168, switch, host), 8080)
        })
        .collect()
}

fn spec(i: usize, round: usize) -> ServiceSpec {
    ServiceSpec {
        tenant: TENANT.into(),
        name: format!("svc{i}"),
        protocol: Protocol::Tcp,
        port: 30000 + i as u16,
        backends: backends(i, round),
        cluster_ip: Some(ClusterIp::Allocate),
        dns_name: None,
        health: None,
    }
}

async fn connect(central: &OvnCentral) -> anyhow::Result<Client> {
    let config = monitor_services(monitor_nb(ClientConfig::new(&central.nb_remote(), NB_DB)?));
    Ok(Client::connect(config).await?)
}

/// `tenant-init`, an NB-only `gateway-init` (as tests/tests/services.rs)
/// and `network-init` of `bench1` .. `bench10` (192.168.k.0/24).
async fn topology(nb: &Client) -> anyhow::Result<()> {
    tenant_init(
        nb,
        &TenantSpec {
            name: TENANT.into(),
            cluster_subnet: Some("192.168.0.0/16".parse()?),
            service_subnet: None,
        },
    )
    .await?;
    let gateway = GatewaySpec {
        tenant: TENANT.into(),
        cluster_subnet: None,
        physical_ip: format!("{GATEWAY_IP}/24").parse()?,
        default_gw: "10.10.1.1".parse()?,
        mode: GatewayMode::Localnet {
            physnet: "physnet".into(),
            bridge: "br-ex".into(),
            interface: None,
        },
        system_id: Some("ch1".into()),
    };
    gateway_init(nb, None, &gateway).await?;
    for k in 1..=SWITCHES {
        let net = NetworkSpec {
            tenant: TENANT.into(),
            name: format!("{TENANT}{k}"),
            subnet: format!("192.168.{k}.0/24").parse()?,
        };
        network_init(nb, &net).await?;
    }
    Ok(())
}

/// The tenant's network switches and its gateway router.
fn switches_and_router(cache: &Cache) -> anyhow::Result<(Vec<Uuid>, Uuid)> {
    let switches = (1..=SWITCHES)
        .map(|k| {
            find_by_name::<LogicalSwitch>(cache, &format!("{TENANT}{k}"))
                .map(|s| s.uuid)
                .with_context(|| format!("no switch {TENANT}{k}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let router = find_gateway_routers(cache, TENANT)
        .first()
        .map(|g| g.router.uuid)
        .context("no gateway router")?;
    Ok((switches, router))
}

/// The baseline's untimed part: the group run's DNS row, on every switch.
async fn per_switch_prepare(nb: &Client, template: &Template) -> anyhow::Result<()> {
    let (switches, _) = nb.read(switches_and_router)?;
    let mut txn = Txn::new(NB_DB);
    for dns in &template.dns {
        insert_ops(&mut txn, dns);
        for s in &switches {
            add_dns_to_switch_ops(&mut txn, *s, &[dns.uuid]);
        }
    }
    nb.transact(&txn).await?;
    Ok(())
}

/// The baseline's write: each load balancer in one transaction, attached to
/// the gateway router and to each switch.
async fn per_switch_write(nb: &Client, template: &Template) -> anyhow::Result<()> {
    let (switches, router) = nb.read(switches_and_router)?;
    for lb in &template.lbs {
        let mut txn = Txn::new(NB_DB);
        create_or_update_load_balancer_ops(&mut txn, None, lb);
        add_to_router_ops(&mut txn, router, &[lb.uuid]);
        for s in &switches {
            add_to_switch_ops(&mut txn, *s, &[lb.uuid]);
        }
        nb.transact(&txn).await?;
    }
    Ok(())
}

/// Replaces service `i`'s backends with those of `round`: through
/// `ensure_service` for the group, as the same `vips` update for the
/// baseline.
async fn change(nb: &Client, mode: Mode, i: usize, round: usize) -> anyhow::Result<()> {
    let spec = spec(i, round);
    match mode {
        Mode::Group => {
            let done = ensure_service(nb, &spec).await?;
            if !done.changed() {
                bail!(
                    "{}: service {i} round {round}: nothing changed",
                    mode.label()
                );
            }
        }
        Mode::PerSwitch => {
            let name = load_balancer_name(&spec);
            let existing = nb
                .read(|c| find_by_name::<LoadBalancer>(c, &name))
                .with_context(|| format!("no load balancer {name}"))?;
            let mut desired = existing.clone();
            let value = backends_value(&spec.backends);
            for v in desired.vips.values_mut() {
                v.clone_from(&value);
            }
            let mut txn = Txn::new(NB_DB);
            if !create_or_update_load_balancer_ops(&mut txn, Some(&existing), &desired).1 {
                bail!(
                    "{}: service {i} round {round}: nothing changed",
                    mode.label()
                );
            }
            nb.transact(&txn).await?;
        }
    }
    Ok(())
}

fn refs(cache: &Cache) -> Refs {
    let count = |table: &str, column: &str| -> usize {
        cache
            .table(table)
            .map(|(_, row)| row.get(column).map(|d| d.uuids().len()).unwrap_or(0))
            .sum()
    };
    Refs {
        ls_lb: count("Logical_Switch", "load_balancer"),
        ls_group: count("Logical_Switch", "load_balancer_group"),
        group_lb: count("Load_Balancer_Group", "load_balancer"),
        lr_lb: count("Logical_Router", "load_balancer"),
    }
}

async fn sb_counts(central: &OvnCentral) -> anyhow::Result<Sb> {
    let config = ClientConfig::new(&central.sb_remote(), SB_DB)?
        .monitor_columns("Logical_Flow", &["external_ids"])
        .monitor_columns("Logical_DP_Group", &["datapaths"])
        .monitor_columns("Load_Balancer", &["datapaths", "datapath_group"]);
    let sb = Client::connect(config).await?;
    let counts = sb.read(|c| {
        let lb_lflows = c
            .table("Logical_Flow")
            .filter(|(_, row)| {
                row.get("external_ids")
                    .map(Datum::string_map_value)
                    .and_then(|ids| ids.get("stage-name").cloned())
                    .as_deref()
                    == Some("ls_in_lb")
            })
            .count();
        let lbs = c.table("Load_Balancer");
        let (mut with_group, mut datapaths) = (0, 0);
        for (_, row) in lbs {
            if row
                .get("datapath_group")
                .is_some_and(|d| !d.uuids().is_empty())
            {
                with_group += 1;
            }
            datapaths += row.get("datapaths").map(|d| d.uuids().len()).unwrap_or(0);
        }
        Sb {
            lflows: c.len("Logical_Flow"),
            lb_lflows,
            dp_groups: c.len("Logical_DP_Group"),
            lbs: c.len("Load_Balancer"),
            lbs_with_group: with_group,
            lb_datapaths: datapaths,
        }
    });
    sb.close().await;
    Ok(counts)
}

/// One mode at one size on its own central, services written.
struct Run {
    mode: Mode,
    n: usize,
    central: OvnCentral,
    ctl: PathBuf,
    nb: Client,
    write: Duration,
    bulk_sync: Duration,
    bulk_loop_ms: f64,
    writes: Vec<Duration>,
    syncs: Vec<Duration>,
    loops: Vec<f64>,
    recomputed: Vec<u64>,
}

impl Run {
    /// A fresh central with the topology and `n` services written (the
    /// per-switch run writes `template`'s rows); the group run also returns
    /// the rows it wrote.
    async fn start(mode: Mode, n: usize, template: &Template) -> anyhow::Result<(Run, Template)> {
        let central = blocking(OvnCentral::start)?;
        let ctl = central.dir().join("northd.ctl");
        let nb = connect(&central).await?;
        topology(&nb).await?;
        if mode == Mode::PerSwitch {
            per_switch_prepare(&nb, template).await?;
        }
        blocking(|| central.sync_sb())?;

        blocking(|| appctl(&ctl, &["pause"]))?;
        let start = Instant::now();
        match mode {
            Mode::Group => {
                for i in 0..n {
                    ensure_service(&nb, &spec(i, 0)).await?;
                }
            }
            Mode::PerSwitch => per_switch_write(&nb, template).await?,
        }
        let write = start.elapsed();
        let template = match mode {
            Mode::Group => nb.read(|c| Template {
                lbs: list::<LoadBalancer>(c),
                dns: list::<Dns>(c),
            }),
            Mode::PerSwitch => Template::default(),
        };
        let (bulk_sync, bulk_loop_ms) = blocking(|| {
            appctl(&ctl, &["stopwatch/reset"])?;
            appctl(&ctl, &["resume"])?;
            let start = Instant::now();
            central.sync_sb()?;
            let took = start.elapsed();
            anyhow::Ok((took, loop_max(&ctl)?))
        })?;
        let run = Run {
            mode,
            n,
            central,
            ctl,
            nb,
            write,
            bulk_sync,
            bulk_loop_ms,
            writes: Vec::new(),
            syncs: Vec::new(),
            loops: Vec::new(),
            recomputed: Vec::new(),
        };
        Ok((run, template))
    }

    /// Change round `round` (from 1): one service's backends replaced,
    /// then `--wait=sb sync`.
    async fn change(&mut self, round: usize) -> anyhow::Result<()> {
        let i = (round * 97) % self.n;
        let ctl = &self.ctl;
        blocking(|| {
            appctl(ctl, &["stopwatch/reset"])?;
            appctl(ctl, &["inc-engine/clear-stats"])
        })?;
        let start = Instant::now();
        change(&self.nb, self.mode, i, round).await?;
        self.writes.push(start.elapsed());
        let start = Instant::now();
        blocking(|| self.central.sync_sb())?;
        self.syncs.push(start.elapsed());
        let (l, r) = blocking(|| anyhow::Ok((loop_max(ctl)?, recomputes(ctl, "northd")?)))?;
        self.loops.push(l);
        self.recomputed.push(r);
        Ok(())
    }

    /// Counts, sizes and medians; stops the central.
    async fn finish(self) -> anyhow::Result<Measured> {
        let Run {
            mode,
            n,
            central,
            nb,
            ..
        } = self;
        let refs = nb.read(refs);
        let found = nb.read(|c| c.len("Load_Balancer"));
        if found != n {
            bail!("{}: {found} load balancers for {n} services", mode.label());
        }
        nb.close().await;
        let sb = sb_counts(&central).await?;
        let (nb_bytes, sb_bytes) = blocking(|| {
            anyhow::Ok((
                compacted_bytes(central.dir(), "nb")?,
                compacted_bytes(central.dir(), "sb")?,
            ))
        })?;
        blocking(|| central.check_logs())?;
        blocking(move || drop(central));
        Ok(Measured {
            mode,
            services: n,
            refs,
            nb_bytes,
            sb_bytes,
            write: self.write,
            bulk_sync: self.bulk_sync,
            bulk_loop_ms: self.bulk_loop_ms,
            change_write: median(self.writes),
            change_sync: median(self.syncs),
            change_loop_ms: median(self.loops),
            change_recomputes: median(self.recomputed),
            sb,
        })
    }
}

/// Both modes at one size: written one after the other, then the change
/// rounds alternate between them (which goes first alternates too), so a
/// busy moment of the machine hits both alike.
async fn compare(n: usize, changes: usize) -> anyhow::Result<(Measured, Measured)> {
    let (mut group, template) = Run::start(Mode::Group, n, &Template::default()).await?;
    let (mut per_switch, _) = Run::start(Mode::PerSwitch, n, &template).await?;
    for round in 1..=changes {
        if round % 2 == 1 {
            group.change(round).await?;
            per_switch.change(round).await?;
        } else {
            per_switch.change(round).await?;
            group.change(round).await?;
        }
    }
    Ok((group.finish().await?, per_switch.finish().await?))
}

fn kib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() -> anyhow::Result<()> {
    let bench = std::env::args().any(|a| a == "--bench");
    let scale = env_f64("LB_GROUP_SCALE").unwrap_or(if bench { 1.0 } else { 0.1 });
    let changes = env_f64("LB_GROUP_CHANGES").unwrap_or(15.0).max(1.0) as usize;
    let mut sizes: Vec<usize> = [10.0, 100.0, 1000.0]
        .iter()
        .map(|n| ((n * scale).round() as usize).clamp(1, 5000))
        .collect();
    sizes.dedup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let started = Instant::now();
    let mut runs: Vec<(Measured, Measured)> = Vec::new();
    for &n in &sizes {
        let (group, per_switch) = rt.block_on(compare(n, changes))?;
        for m in [&group, &per_switch] {
            println!(
                "{} services, {}: written in {:.2} s, northd {:.2} s; one change: write {} ms, northd {} ms",
                m.services,
                m.mode.label(),
                m.write.as_secs_f64(),
                m.bulk_sync.as_secs_f64(),
                ms(m.change_write),
                ms(m.change_sync)
            );
        }
        runs.push((group, per_switch));
    }
    println!(
        "\n{} switches, {changes} single-service changes per run (medians), in {:.0} s\n",
        SWITCHES,
        started.elapsed().as_secs_f64()
    );

    println!("NB and SB:");
    println!("| services | mode | LS.lb | LS.lbg | LBG.lb | refs | LR.lb | NB KiB | SB KiB | lflows | ls_in_lb | DP groups | SB LBs (dp group / datapaths) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (g, p) in &runs {
        for m in [g, p] {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({} / {}) |",
                m.services,
                m.mode.label(),
                m.refs.ls_lb,
                m.refs.ls_group,
                m.refs.group_lb,
                m.refs.total(),
                m.refs.lr_lb,
                kib(m.nb_bytes),
                kib(m.sb_bytes),
                m.sb.lflows,
                m.sb.lb_lflows,
                m.sb.dp_groups,
                m.sb.lbs,
                m.sb.lbs_with_group,
                m.sb.lb_datapaths,
            );
        }
    }
    println!();
    println!("Times (ms; one change: medians):");
    println!("| services | mode | write all | northd all | its loop max | change write | change northd | its loop max | recomputes |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (g, p) in &runs {
        for m in [g, p] {
            println!(
                "| {} | {} | {} | {} | {:.0} | {} | {} | {:.0} | {} |",
                m.services,
                m.mode.label(),
                ms(m.write),
                ms(m.bulk_sync),
                m.bulk_loop_ms,
                ms(m.change_write),
                ms(m.change_sync),
                m.change_loop_ms,
                m.change_recomputes,
            );
        }
    }
    println!();
    println!("per-switch / group:");
    println!("| services | refs | NB size | write all | northd all | change write | change northd | change loop max | lflows |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let secs = |d: Duration| d.as_secs_f64();
    for (g, p) in &runs {
        println!(
            "| {} | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x |",
            g.services,
            ratio(p.refs.total() as f64, g.refs.total() as f64),
            ratio(p.nb_bytes as f64, g.nb_bytes as f64),
            ratio(secs(p.write), secs(g.write)),
            ratio(secs(p.bulk_sync), secs(g.bulk_sync)),
            ratio(secs(p.change_write), secs(g.change_write)),
            ratio(secs(p.change_sync), secs(g.change_sync)),
            ratio(p.change_loop_ms, g.change_loop_ms),
            ratio(p.sb.lflows as f64, g.sb.lflows as f64),
        );
    }
    println!();

    let (g, p) = runs.last().context("no run")?;
    let share = ratio(g.refs.total() as f64, p.refs.total() as f64);
    let change_ratio = ratio(secs(g.change_sync), secs(p.change_sync));
    let results = [
        (
            format!(
                "{} services: group references {} <= 1/5 of per-switch {}: {share:.3}",
                g.services,
                g.refs.total(),
                p.refs.total()
            ),
            share <= MAX_REF_SHARE,
        ),
        (
            format!(
                "{} services: northd's one-service change with the group {} ms <= {MAX_CHANGE_RATIO}x per-switch {} ms: {change_ratio:.2}x",
                g.services,
                ms(g.change_sync),
                ms(p.change_sync)
            ),
            change_ratio <= MAX_CHANGE_RATIO,
        ),
    ];
    for (what, ok) in &results {
        println!("{} {what}", if *ok { "PASS" } else { "FAIL" });
    }
    if results.iter().any(|(_, ok)| !ok) {
        std::process::exit(1);
    }
    Ok(())
}
