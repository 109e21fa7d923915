//! Reading and checking the TaskInfo fields ovn-mesos uses: resources, the
//! command, the network label, the `ovn-mesos/` task labels and the
//! discovery ports with their `VIP_<n>` label. Each reader returns the value
//! or the first [`Problem`], naming the field by its JSON path.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use mesos_proto::v1::{value, CommandInfo, DiscoveryInfo, Label, Resource, TaskInfo};
use ovn::services::Protocol;

use super::{
    Problem, Resources, RestartMode, RestartPolicy, Rollout, VipRequest, Warning, KNOWN_LABELS,
    LABEL_ALLOW_FROM, LABEL_BACKOFF_FACTOR, LABEL_BACKOFF_SECONDS, LABEL_CONSTRAINTS,
    LABEL_DRAIN_SECONDS, LABEL_INSTANCES, LABEL_LOGICAL_SWITCH, LABEL_MAXIMUM_OVER_CAPACITY,
    LABEL_MAX_BACKOFF_SECONDS, LABEL_MINIMUM_HEALTH_CAPACITY, LABEL_OVN_HEALTH_CHECK,
    LABEL_PROGRESS_DEADLINE_SECONDS, LABEL_RESTART, MAX_INSTANCES, VIP_LABEL_PREFIX,
};
use crate::launch::constraints::{parse_constraints, Constraint};

/// Longest accepted backoff setting, in seconds (a day).
const MAX_BACKOFF_SECONDS: f64 = 86_400.0;

/// Sums `cpus`, `mem`, `disk` and the size of `ports`; other resources are
/// ignored with a warning. `cpus` and `mem` must be more than 0.
pub(super) fn resources(
    file: &Path,
    list: &[Resource],
    warnings: &mut Vec<Warning>,
) -> Result<Resources, Problem> {
    let mut out = Resources::default();
    let (mut cpus_at, mut mem_at) = (None, None);
    for (i, r) in list.iter().enumerate() {
        let at = format!("resources[{i}]");
        match r.name.as_str() {
            "cpus" | "mem" | "disk" => {
                let v = scalar(file, &at, r)?;
                match r.name.as_str() {
                    "cpus" => (out.cpus, cpus_at) = (out.cpus + v, cpus_at.or(Some(i))),
                    "mem" => (out.mem, mem_at) = (out.mem + v, mem_at.or(Some(i))),
                    _ => out.disk += v,
                }
            }
            "ports" => out.ports = out.ports.saturating_add(ranges_size(file, &at, r)?),
            other => warnings.push(Warning::field(
                file,
                at,
                format!("resource {other:?} ignored: ovn-mesos asks offers for cpus, mem, disk and ports"),
            )),
        }
    }
    for (name, total, at) in [("cpus", out.cpus, cpus_at), ("mem", out.mem, mem_at)] {
        match at {
            None => {
                return Err(Problem::field(
                    file,
                    "resources",
                    format!("no {name} resource (a task needs {name} > 0)"),
                ))
            }
            Some(i) if total <= 0.0 => {
                return Err(Problem::field(
                    file,
                    format!("resources[{i}].scalar.value"),
                    format!("{name} must be more than 0, found {total}"),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(out)
}

fn scalar(file: &Path, at: &str, r: &Resource) -> Result<f64, Problem> {
    if r.r#type != value::Type::Scalar as i32 {
        return Err(Problem::field(
            file,
            format!("{at}.type"),
            format!("{} must be SCALAR", r.name),
        ));
    }
    let v = r.scalar.as_ref().map(|s| s.value).ok_or_else(|| {
        Problem::field(
            file,
            format!("{at}.scalar"),
            format!("{} has no scalar value", r.name),
        )
    })?;
    if !v.is_finite() || v < 0.0 {
        return Err(Problem::field(
            file,
            format!("{at}.scalar.value"),
            format!("{} must be a finite number >= 0, found {v}", r.name),
        ));
    }
    Ok(v)
}

fn ranges_size(file: &Path, at: &str, r: &Resource) -> Result<u32, Problem> {
    if r.r#type != value::Type::Ranges as i32 {
        return Err(Problem::field(
            file,
            format!("{at}.type"),
            "ports must be RANGES",
        ));
    }
    let mut total: u64 = 0;
    for (j, range) in r.ranges.iter().flat_map(|x| x.range.iter()).enumerate() {
        if range.begin > range.end || range.end > 65_535 {
            return Err(Problem::field(
                file,
                format!("{at}.ranges.range[{j}]"),
                format!("{}-{} is not a port range", range.begin, range.end),
            ));
        }
        total += range.end - range.begin + 1;
    }
    Ok(u32::try_from(total).unwrap_or(u32::MAX))
}

/// The command: `value` (run through `sh -c`), or with `shell: false` the
/// executable `value` and its `arguments`.
pub(super) fn command(file: &Path, task: &TaskInfo) -> Result<CommandInfo, Problem> {
    let command = task
        .command
        .clone()
        .ok_or_else(|| Problem::field(file, "command", "missing (a task needs command.value)"))?;
    if command.value.as_deref().unwrap_or("").trim().is_empty() {
        let why = if command.shell() {
            "empty: nothing to run"
        } else {
            "empty: with shell false, value names the executable (arguments are its argv)"
        };
        return Err(Problem::field(file, "command.value", why));
    }
    Ok(command)
}

/// The switch named by the `logical_switch` label of exactly one
/// `container.network_infos[]` entry.
pub(super) fn switch(file: &Path, task: &TaskInfo) -> Result<String, Problem> {
    let infos = task
        .container
        .as_ref()
        .map(|c| c.network_infos.as_slice())
        .unwrap_or(&[]);
    if infos.is_empty() {
        return Err(Problem::field(
            file,
            "container.network_infos",
            format!("missing: a task needs a network with a {LABEL_LOGICAL_SWITCH} label"),
        ));
    }
    let mut found: Option<(usize, String)> = None;
    for (i, info) in infos.iter().enumerate() {
        let labels = info
            .labels
            .as_ref()
            .map(|l| l.labels.as_slice())
            .unwrap_or(&[]);
        let Some(label) = labels.iter().find(|l| l.key == LABEL_LOGICAL_SWITCH) else {
            continue;
        };
        let at = format!("container.network_infos[{i}].labels");
        let name = label.value.clone().unwrap_or_default();
        if let Err(e) = ovn::topology::validate::check_network_name(&name) {
            return Err(Problem::field(
                file,
                at,
                format!("{LABEL_LOGICAL_SWITCH}: {e}"),
            ));
        }
        if let Some((_, first)) = &found {
            return Err(Problem::field(
                file,
                at,
                format!("a second {LABEL_LOGICAL_SWITCH} ({name} after {first}): a task joins one network"),
            ));
        }
        found = Some((i, name));
    }
    found.map(|(_, name)| name).ok_or_else(|| {
        Problem::field(
            file,
            "container.network_infos[0].labels",
            format!("no {LABEL_LOGICAL_SWITCH} label"),
        )
    })
}

/// The `ovn-mesos/` task labels: instance count and restart policy.
/// What the `ovn-mesos/` labels of a task file say.
#[derive(Debug, Clone)]
pub(super) struct LabelValues {
    pub instances: u32,
    pub restart: RestartPolicy,
    pub ovn_health_check: bool,
    pub rollout: Rollout,
    pub constraints: Vec<Constraint>,
    pub allow_from: Option<ovn::policy::Policy>,
}

pub(super) fn labels(file: &Path, task: &TaskInfo) -> Result<LabelValues, Problem> {
    let mut instances = 1;
    let mut policy = RestartPolicy::default();
    let mut ovn_health_check = true;
    let mut rollout = Rollout::default();
    let mut constraints = Vec::new();
    let mut allow_from = None;
    let mut seen: Vec<&str> = Vec::new();
    let list = task
        .labels
        .as_ref()
        .map(|l| l.labels.as_slice())
        .unwrap_or(&[]);
    for (j, Label { key, value }) in list.iter().enumerate() {
        if !key.starts_with("ovn-mesos/") {
            continue;
        }
        let at = format!("labels.labels[{j}]");
        let text = value.as_deref().unwrap_or("").trim();
        let bad = |want: &str| Problem::field(file, &at, format!("{key}={text:?}: {want}"));
        let Some(known) = KNOWN_LABELS.iter().find(|k| **k == key) else {
            return Err(Problem::field(
                file,
                &at,
                format!("unknown label {key} (known: {})", KNOWN_LABELS.join(", ")),
            ));
        };
        if seen.contains(known) {
            return Err(Problem::field(file, &at, format!("{key} given twice")));
        }
        seen.push(known);
        match *known {
            LABEL_INSTANCES => {
                instances = text
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= MAX_INSTANCES)
                    .ok_or_else(|| bad(&format!("not a whole number from 0 to {MAX_INSTANCES}")))?;
            }
            LABEL_RESTART => {
                policy.mode = match text {
                    "always" => RestartMode::Always,
                    "on-failure" => RestartMode::OnFailure,
                    "never" => RestartMode::Never,
                    _ => return Err(bad("not one of always, on-failure, never")),
                };
            }
            LABEL_OVN_HEALTH_CHECK => {
                ovn_health_check = match text {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("not true or false")),
                };
            }
            LABEL_MINIMUM_HEALTH_CAPACITY | LABEL_MAXIMUM_OVER_CAPACITY => {
                let share = text
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && (0.0..=1.0).contains(f))
                    .ok_or_else(|| bad("not a number from 0 to 1"))?;
                if *known == LABEL_MINIMUM_HEALTH_CAPACITY {
                    rollout.minimum_health_capacity = share;
                } else {
                    rollout.maximum_over_capacity = share;
                }
            }
            LABEL_DRAIN_SECONDS | LABEL_PROGRESS_DEADLINE_SECONDS => {
                let zero_ok = *known == LABEL_DRAIN_SECONDS;
                let secs = text
                    .parse::<f64>()
                    .ok()
                    .filter(|s| {
                        s.is_finite()
                            && (*s > 0.0 || (zero_ok && *s == 0.0))
                            && *s <= MAX_BACKOFF_SECONDS
                    })
                    .ok_or_else(|| {
                        bad(if zero_ok {
                            "not a number of seconds from 0 to 86400"
                        } else {
                            "not a number of seconds above 0, at most 86400"
                        })
                    })?;
                let d = Duration::from_secs_f64(secs);
                if zero_ok {
                    rollout.drain = d;
                } else {
                    rollout.progress_deadline = d;
                }
            }
            LABEL_CONSTRAINTS => {
                constraints = parse_constraints(text).map_err(|why| bad(&why))?;
            }
            LABEL_ALLOW_FROM => {
                allow_from = Some(text.parse().map_err(|why: String| bad(&why))?);
            }
            LABEL_BACKOFF_FACTOR => {
                policy.backoff_factor = text
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && (1.0..=100.0).contains(f))
                    .ok_or_else(|| bad("not a number from 1 to 100"))?;
            }
            _ => {
                let secs = text
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0 && *s <= MAX_BACKOFF_SECONDS)
                    .ok_or_else(|| bad("not a number of seconds above 0, at most 86400"))?;
                let d = Duration::from_secs_f64(secs);
                if *known == LABEL_BACKOFF_SECONDS {
                    policy.backoff = d;
                } else {
                    policy.max_backoff = d;
                }
            }
        }
    }
    if policy.max_backoff < policy.backoff {
        return Err(Problem::field(
            file,
            "labels",
            format!("{LABEL_MAX_BACKOFF_SECONDS} is below {LABEL_BACKOFF_SECONDS}"),
        ));
    }
    if rollout.minimum_health_capacity >= 1.0 && rollout.maximum_over_capacity <= 0.0 {
        return Err(Problem::field(
            file,
            "labels",
            format!(
                "{LABEL_MINIMUM_HEALTH_CAPACITY} 1 with {LABEL_MAXIMUM_OVER_CAPACITY} 0 leaves a deployment no way to progress (no old task may go before a new one is healthy, and no new one may start)"
            ),
        ));
    }
    Ok(LabelValues {
        instances,
        restart: policy,
        ovn_health_check,
        rollout,
        constraints,
        allow_from,
    })
}

/// What the discovery ports say: the VIP (with the service it names, for a
/// `/<service>:<port>` label) and the backend port.
#[derive(Debug, Default)]
pub(super) struct Discovered {
    pub vip: Option<VipRequest>,
    pub vip_service: Option<String>,
    pub backend_port: Option<u16>,
}

/// Reads `discovery.ports.ports[]`: each `number` 1-65535, `protocol`
/// tcp/udp/sctp, at most one `VIP_<n>` label in the file.
pub(super) fn discovery(
    file: &Path,
    discovery: Option<&DiscoveryInfo>,
) -> Result<Discovered, Problem> {
    let mut out = Discovered::default();
    let ports = discovery
        .and_then(|d| d.ports.as_ref())
        .map(|p| p.ports.as_slice())
        .unwrap_or(&[]);
    let mut vip_label: Option<String> = None;
    for (k, port) in ports.iter().enumerate() {
        let at = format!("discovery.ports.ports[{k}]");
        let number = u16::try_from(port.number)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Problem::field(
                    file,
                    format!("{at}.number"),
                    format!("{} is not a port (1-65535)", port.number),
                )
            })?;
        let protocol: Protocol =
            port.protocol
                .as_deref()
                .unwrap_or("tcp")
                .parse()
                .map_err(|_| {
                    Problem::field(
                        file,
                        format!("{at}.protocol"),
                        format!(
                            "{:?} is not tcp, udp or sctp",
                            port.protocol.as_deref().unwrap_or("")
                        ),
                    )
                })?;
        out.backend_port.get_or_insert(number);
        let labels = port
            .labels
            .as_ref()
            .map(|l| l.labels.as_slice())
            .unwrap_or(&[]);
        for (j, label) in labels.iter().enumerate() {
            if !label.key.starts_with(VIP_LABEL_PREFIX) {
                continue;
            }
            let field = format!("{at}.labels.labels[{j}]");
            if let Some(first) = &vip_label {
                return Err(Problem::field(
                    file,
                    field,
                    format!(
                        "a second VIP ({} after {first}): a service has one VIP",
                        label.key
                    ),
                ));
            }
            let text = label.value.as_deref().unwrap_or("").trim();
            let (service, address, vip_port) = parse_vip(text).map_err(|why| {
                Problem::field(file, &field, format!("{}={text:?}: {why}", label.key))
            })?;
            vip_label = Some(label.key.clone());
            out.vip = Some(VipRequest {
                port: vip_port,
                protocol,
                address,
            });
            out.vip_service = service;
            out.backend_port = Some(number);
        }
    }
    Ok(out)
}

/// `/<service>:<port>` or `<ipv4>:<port>`.
fn parse_vip(text: &str) -> Result<(Option<String>, Option<Ipv4Addr>, u16), String> {
    const FORMS: &str = "expected /<service>:<port> or <gateway-ip>:<port>";
    let (host, port) = text.rsplit_once(':').ok_or(FORMS)?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{port:?} is not a port (1-65535)"))?;
    if let Some(name) = host.strip_prefix('/') {
        ovn::topology::validate::check_name("VIP service", name).map_err(|e| e.to_string())?;
        return Ok((Some(name.to_owned()), None, port));
    }
    let ip: Ipv4Addr = host.parse().map_err(|_| FORMS.to_owned())?;
    Ok((None, Some(ip), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_vip_gives_its_service_and_port() {
        assert_eq!(
            parse_vip("/coke-web:32350"),
            Ok((Some("coke-web".into()), None, 32350))
        );
    }

    #[test]
    fn an_address_vip_gives_its_gateway_ip() {
        assert_eq!(
            parse_vip("10.10.1.12:32350"),
            Ok((None, Some(Ipv4Addr::new(10, 10, 1, 12)), 32350))
        );
    }

    #[test]
    fn a_vip_without_port_or_with_port_zero_is_refused() {
        assert!(parse_vip("/web").is_err());
        assert!(parse_vip("/web:0").unwrap_err().contains("not a port"));
        assert!(parse_vip("/web:70000").unwrap_err().contains("not a port"));
        assert!(parse_vip("web:80").unwrap_err().contains("expected"));
        assert!(parse_vip("/a b:80").is_err());
    }
}
