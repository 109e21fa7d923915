//! The network subcommands of `ovn-mesos` (what the seed's `ovn-mesos-init`
//! did, plus the inverses and VIP lookups): connect to the NB (and the local
//! OVS for gateways), run one topology command, print what changed.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ovn::ovsdb::{Client, ClientConfig};
use ovn::services::{self, ServiceInfo};
use ovn::topology::{
    self, GatewayMode, GatewayReport, GatewaySpec, NetworkSpec, Report, TenantSpec,
};
use serde_json::json;

use crate::cli::{
    Command, GatewayDeleteArgs, GatewayInitArgs, GlobalArgs, NetworkDeleteArgs, NetworkInitArgs,
    TenantDeleteArgs, TenantInitArgs, VipArgs,
};

/// Connects to the OVN NB with the monitors every network command needs.
pub async fn connect_nb(global: &GlobalArgs) -> Result<Client> {
    let remote = global.nb_remote();
    let config = ClientConfig::new(&remote, ovn::nb::NB_DB)
        .with_context(|| format!("bad --nb {remote:?}"))?;
    // NB_Global holds the leader epoch of `run --zk` (one row).
    let mut config =
        ovn::services::monitor_services(topology::monitor_nb(config)).monitor("NB_Global");
    config.connect_timeout = global.db_timeout;
    Client::connect(config)
        .await
        .with_context(|| format!("cannot reach the OVN NB database at {remote}"))
}

/// Connects to the local Open_vSwitch database.
pub async fn connect_ovs(global: &GlobalArgs, timeout: Duration) -> Result<Client> {
    let remote = global.ovs_remote();
    let config = ClientConfig::new(&remote, ovn::vswitch::VSWITCH_DB)
        .with_context(|| format!("bad --ovs-db {remote:?}"))?;
    let mut config = topology::monitor_ovs(config);
    config.connect_timeout = timeout;
    Client::connect(config)
        .await
        .with_context(|| format!("cannot reach the local Open_vSwitch database at {remote}"))
}

/// The local OVS for a gateway command: required without `--system-id` (it
/// names the chassis); with `--system-id`, used only when it IS that chassis,
/// so running the command elsewhere changes only the NB.
async fn local_ovs_for(
    global: &GlobalArgs,
    system_id: Option<&str>,
    out: &mut impl Write,
) -> Result<Option<Client>> {
    let Some(want) = system_id else {
        return connect_ovs(global, global.db_timeout).await.map(Some);
    };
    let ovs = match connect_ovs(global, global.db_timeout.min(Duration::from_secs(2))).await {
        Ok(ovs) => ovs,
        Err(_) => {
            writeln!(
                out,
                "note: no local Open_vSwitch database at {}; chassis {want} is configured in the NB only",
                global.ovs_remote()
            )?;
            return Ok(None);
        }
    };
    let local =
        ovs.read(|c| ovn::vswitch::open_vswitch(c).and_then(|o| o.system_id().map(str::to_owned)));
    if local.as_deref() == Some(want) {
        return Ok(Some(ovs));
    }
    writeln!(
        out,
        "note: this host is chassis {}, not {want}; run the same command on {want} to configure its Open vSwitch",
        local.as_deref().unwrap_or("(no system-id)")
    )?;
    ovs.close().await;
    Ok(None)
}

/// Runs one network subcommand, writing its report to `out`.
pub async fn run(global: &GlobalArgs, command: &Command, out: &mut impl Write) -> Result<()> {
    let nb = connect_nb(global).await?;
    let result = dispatch(global, &nb, command, out).await;
    nb.close().await;
    result
}

async fn dispatch(
    global: &GlobalArgs,
    nb: &Client,
    command: &Command,
    out: &mut impl Write,
) -> Result<()> {
    match command {
        Command::TenantInit(a) => tenant_init(nb, a, out).await,
        Command::GatewayInit(a) => gateway_init(global, nb, a, out).await,
        Command::NetworkInit(a) => network_init(nb, a, out).await,
        Command::NetworkDelete(a) => network_delete(nb, a, out).await,
        Command::GatewayDelete(a) => gateway_delete(global, nb, a, out).await,
        Command::TenantDelete(a) => tenant_delete(nb, a, out).await,
        Command::Vip(a) => vip(global, nb, a, out).await,
        Command::Run(_) | Command::Teardown(_) | Command::Client(_) => {
            bail!("not a network command")
        }
    }
}

async fn tenant_init(nb: &Client, a: &TenantInitArgs, out: &mut impl Write) -> Result<()> {
    let spec = TenantSpec {
        name: a.tenant_name.clone(),
        cluster_subnet: a.cluster_ip_subnet,
        service_subnet: a.service_subnet,
    };
    let report = topology::tenant_init(nb, &spec)
        .await
        .with_context(|| format!("tenant-init {}", a.tenant_name))?;
    print_report(out, &format!("tenant {}", a.tenant_name), &report)?;
    fabric(nb, &a.tenant_name, out).await
}

/// The tenant's load balancer group and DNS row on each of its switches
/// (after `tenant-init` and `network-init`).
async fn fabric(nb: &Client, tenant: &str, out: &mut impl Write) -> Result<()> {
    if services::ensure_fabric(nb, tenant)
        .await
        .with_context(|| format!("service fabric of tenant {tenant}"))?
    {
        writeln!(
            out,
            "service fabric of tenant {tenant}: load balancer group {} and DNS records on every network",
            services::group_name(tenant)
        )?;
    }
    Ok(())
}

async fn gateway_init(
    global: &GlobalArgs,
    nb: &Client,
    a: &GatewayInitArgs,
    out: &mut impl Write,
) -> Result<()> {
    let mode = match (&a.localnet, &a.physical_interface) {
        (Some(physnet), iface) => GatewayMode::Localnet {
            physnet: physnet.clone(),
            bridge: a.bridge.clone(),
            interface: iface.clone(),
        },
        (None, Some(iface)) => GatewayMode::PhysicalInterface {
            iface: iface.clone(),
        },
        (None, None) => {
            bail!("gateway-init needs --localnet PHYSNET or --physical-interface IFACE")
        }
    };
    let spec = GatewaySpec {
        tenant: a.tenant_name.clone(),
        cluster_subnet: Some(a.cluster_ip_subnet),
        physical_ip: a.physical_ip,
        default_gw: a.default_gw,
        mode,
        system_id: a.system_id.clone(),
    };
    let ovs = local_ovs_for(global, a.system_id.as_deref(), out).await?;
    let result = topology::gateway_init(nb, ovs.as_ref(), &spec)
        .await
        .with_context(|| format!("gateway-init for tenant {}", a.tenant_name));
    if let Some(ovs) = ovs {
        ovs.close().await;
    }
    print_gateway(out, &result?)
}

async fn network_init(nb: &Client, a: &NetworkInitArgs, out: &mut impl Write) -> Result<()> {
    let spec = NetworkSpec {
        tenant: a.tenant_name.clone(),
        name: a.network_name.clone(),
        subnet: a.subnet,
    };
    let report = topology::network_init(nb, &spec)
        .await
        .with_context(|| format!("network-init {}", a.network_name))?;
    print_report(out, &format!("network {}", a.network_name), &report)?;
    fabric(nb, &a.tenant_name, out).await
}

/// `network-delete`: idempotent, but a network that does not exist is said
/// so (a mistyped name is visible): a delete that finds nothing of the
/// network to remove writes nothing.
async fn network_delete(nb: &Client, a: &NetworkDeleteArgs, out: &mut impl Write) -> Result<()> {
    let report = topology::network_delete(nb, &a.tenant_name, &a.network_name, a.force)
        .await
        .with_context(|| format!("network-delete {}", a.network_name))?;
    if report.is_empty() {
        let what = format!("network {} of tenant {}", a.network_name, a.tenant_name);
        return nothing_to_delete(out, &what);
    }
    print_report(out, &format!("network {}", a.network_name), &report)
}

/// `gateway-delete`: idempotent, like `network-delete`; a gateway that does
/// not exist is said so.
async fn gateway_delete(
    global: &GlobalArgs,
    nb: &Client,
    a: &GatewayDeleteArgs,
    out: &mut impl Write,
) -> Result<()> {
    let ovs = local_ovs_for(global, a.system_id.as_deref(), out).await?;
    let result = topology::gateway_delete(nb, ovs.as_ref(), &a.tenant_name, a.system_id.as_deref())
        .await
        .with_context(|| format!("gateway-delete for tenant {}", a.tenant_name));
    if let Some(ovs) = ovs {
        ovs.close().await;
    }
    let report = result?;
    if report.nb.is_empty() && report.ovs.is_empty() {
        let what = format!("gateway {} of tenant {}", report.router, a.tenant_name);
        return nothing_to_delete(out, &what);
    }
    print_gateway(out, &report)
}

/// `tenant-delete`: idempotent, like `network-delete`; a tenant that does
/// not exist is said so.
async fn tenant_delete(nb: &Client, a: &TenantDeleteArgs, out: &mut impl Write) -> Result<()> {
    if a.cascade {
        // The tenant's service load balancers go first: they hang off its gateways.
        let names: Vec<String> = nb.read(|c| {
            services::list_services(c)
                .into_iter()
                .filter(|s| s.tenant == a.tenant_name)
                .map(|s| s.name)
                .collect()
        });
        for name in names {
            services::delete_service(nb, &a.tenant_name, &name)
                .await
                .with_context(|| format!("deleting service {}/{name}", a.tenant_name))?;
            writeln!(out, "deleted service {}/{name}", a.tenant_name)?;
        }
    }
    let report = topology::tenant_delete(nb, &a.tenant_name, a.cascade)
        .await
        .with_context(|| format!("tenant-delete {}", a.tenant_name))?;
    // the group and DNS rows go once no switch of the tenant is left, and
    // so do its services' port groups (and their ACLs)
    let mut fabric = services::delete_fabric(nb, &a.tenant_name)
        .await
        .with_context(|| format!("deleting the service fabric of tenant {}", a.tenant_name))?;
    let groups: Vec<String> = nb.read(|c| {
        ovn::policy::list_port_groups(c)
            .into_iter()
            .filter(|(k, _)| k.tenant == a.tenant_name)
            .map(|(k, _)| k.name)
            .collect()
    });
    for service in groups {
        fabric |= ovn::policy::delete_port_group(nb, &a.tenant_name, &service)
            .await
            .with_context(|| {
                format!(
                    "deleting the port group of service {}/{service}",
                    a.tenant_name
                )
            })?;
    }
    if fabric {
        writeln!(
            out,
            "deleted the service fabric of tenant {}",
            a.tenant_name
        )?;
    }
    if report.is_empty() && !fabric {
        return nothing_to_delete(out, &format!("tenant {}", a.tenant_name));
    }
    print_report(out, &format!("tenant {}", a.tenant_name), &report)
}

async fn vip(global: &GlobalArgs, nb: &Client, a: &VipArgs, out: &mut impl Write) -> Result<()> {
    let found = nb
        .read(|c| services::find_service(c, a.tenant.as_deref(), &a.service))
        .with_context(|| format!("vip {}", a.service))?;
    let Some(info) = found else {
        match &a.tenant {
            Some(t) => bail!("no service named {} in tenant {t}", a.service),
            None => bail!("no service named {}", a.service),
        }
    };
    let mut monitors = match &a.sb {
        Some(sb) => service_monitors(global, sb).await?,
        None => Default::default(),
    };
    // a backend whose logical port is down (or gone) is not served either:
    // OVN leaves it out of a checked load balancer's flows
    for (backend, state) in ports_down(nb, &info) {
        monitors.insert(backend, state);
    }
    let monitors = (a.sb.is_some() || !monitors.is_empty()).then_some(monitors);
    if a.json {
        let mut value = service_json(&info);
        if let Some(m) = &monitors {
            value["health"] = json!(m);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        write_service(out, &info, monitors.as_ref())?;
    }
    Ok(())
}

/// The backends of `info`'s load balancer whose logical port (from its
/// `ip_port_mappings`, written with OVN health checks) is down or gone:
/// `"192.168.1.2:80"` -> `port down`.
fn ports_down(nb: &Client, info: &ServiceInfo) -> std::collections::BTreeMap<String, String> {
    nb.read(|cache| {
        let Some(lb) = ovn::nb::get::<ovn::nb::LoadBalancer>(cache, &info.uuid) else {
            return Default::default();
        };
        let backends = info.vips.iter().flat_map(|v| v.backends.iter());
        backends
            .filter_map(|b| {
                let mapping = lb.ip_port_mappings.get(&b.ip().to_string())?;
                let port = mapping.split(':').next()?;
                let rows = cache.find(
                    "Logical_Switch_Port",
                    "name",
                    &ovn::ovsdb::Datum::string(port),
                );
                let up = rows
                    .first()
                    .and_then(|(_, row)| row.get("up"))
                    .and_then(|u| u.as_bool());
                (up != Some(true)).then(|| (b.to_string(), "port down".to_owned()))
            })
            .collect()
    })
}

/// What OVN's load-balancer health checks last found, by backend
/// (`"192.168.1.2:80"` -> `online`, `offline` or `error`), from the SB's
/// `Service_Monitor` rows.
async fn service_monitors(
    global: &GlobalArgs,
    sb: &str,
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut config =
        ClientConfig::new(sb, "OVN_Southbound").with_context(|| format!("bad --sb {sb:?}"))?;
    config = config.monitor("Service_Monitor");
    config.connect_timeout = global.db_timeout;
    let client = Client::connect(config)
        .await
        .with_context(|| format!("cannot reach the OVN SB database at {sb}"))?;
    let found = client.read(|cache| {
        cache
            .table("Service_Monitor")
            .filter_map(|(_, row)| {
                let ip = row.get("ip")?.as_str()?.to_owned();
                let port = row.get("port")?.as_int()?;
                let status = row
                    .get("status")
                    .and_then(|s| s.as_str())
                    .unwrap_or("unknown")
                    .to_owned();
                Some((format!("{ip}:{port}"), status))
            })
            .collect()
    });
    client.close().await;
    Ok(found)
}

/// The JSON form of a service (`ovn-mesos vip --json`).
pub fn service_json(info: &ServiceInfo) -> serde_json::Value {
    json!({
        "tenant": info.tenant,
        "name": info.name,
        "protocol": info.protocol.as_str(),
        "load_balancer": info.load_balancer,
        "vips": info.vips.iter().map(|v| json!({
            "vip": v.vip.to_string(),
            "router": v.router,
            "backends": v.backends.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "east_west": info.east_west.as_ref().map(|e| json!({
            "vip": e.vip.to_string(),
            "names": e.names,
            "switches": e.switches,
            "backends": e.backends.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })),
    })
}

fn write_service(
    out: &mut impl Write,
    info: &ServiceInfo,
    monitors: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<()> {
    writeln!(
        out,
        "service {}/{} ({}), load balancer {}",
        info.tenant,
        info.name,
        info.protocol.as_str(),
        info.load_balancer
    )?;
    let list = |b: &[std::net::SocketAddrV4]| {
        if b.is_empty() {
            return "(no backends)".to_owned();
        }
        b.iter()
            .map(|b| {
                let b = b.to_string();
                // listed, but OVN's health check finds it not serving
                match monitors.and_then(|m| m.get(&b)).map(String::as_str) {
                    Some(s @ ("offline" | "error" | "port down")) => {
                        format!("{b} [{s}: not serving]")
                    }
                    _ => b,
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for v in &info.vips {
        let router = if v.router.is_empty() {
            "(no gateway)"
        } else {
            &v.router
        };
        writeln!(out, "  {} on {router} -> {}", v.vip, list(&v.backends))?;
    }
    if let Some(e) = &info.east_west {
        let names = if e.names.is_empty() {
            String::new()
        } else {
            format!(" ({})", e.names.join(", "))
        };
        writeln!(
            out,
            "  {}{names} on {} -> {}",
            e.vip,
            e.switches.join(", "),
            list(&e.backends)
        )?;
    }
    Ok(())
}

fn print_report(out: &mut impl Write, what: &str, report: &Report) -> Result<()> {
    if report.is_empty() {
        writeln!(out, "{what}: already up to date")?;
    } else {
        for change in &report.changes {
            writeln!(out, "{change}")?;
        }
    }
    Ok(())
}

/// What a delete that found nothing prints: it succeeds (deletes are
/// idempotent), but a mistyped name is visible.
fn nothing_to_delete(out: &mut impl Write, what: &str) -> Result<()> {
    writeln!(out, "{what} does not exist: nothing to delete")?;
    Ok(())
}

fn print_gateway(out: &mut impl Write, r: &GatewayReport) -> Result<()> {
    let what = match r.join_ip {
        Some(ip) => format!("gateway {} (chassis {}, join {ip})", r.router, r.system_id),
        None => format!("gateway {} (chassis {})", r.router, r.system_id),
    };
    print_report(out, &what, &r.nb)?;
    for change in &r.ovs.changes {
        writeln!(out, "{change} (local OVS)")?;
    }
    Ok(())
}
