//! Desired services: task definitions resolved against the network topology
//! (each switch's tenant, subnet and router) and grouped by tenant and
//! service name. Several files naming one service in one tenant form one
//! service (apache and nginx behind one VIP); their VIPs must agree.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use ovn::ovsdb::Cache;
use ovn::services::{dns_name, BackendPort, ClusterIp, LbHealth, ServiceKey, ServiceSpec};
use ovn::topology::{gateway_ips, network_info, NetworkInfo};

use super::{Problem, TaskDefinition, TaskFileError, VipRequest, LABEL_ALLOW_FROM};

/// What resolving needs to know about the OVN topology. [`Cache`] (the NB
/// cache) implements it; tests use a table.
pub trait Topology {
    /// The network whose switch is `switch` (`ovn-nbctl ls-list` plus the
    /// owner `external_ids`), if ovn-mesos created it.
    fn network(&self, switch: &str) -> Option<NetworkInfo>;
    /// The physical IPs of `tenant`'s gateway routers (where VIPs live).
    fn gateway_ips(&self, tenant: &str) -> Vec<Ipv4Addr>;
}

impl Topology for Cache {
    fn network(&self, switch: &str) -> Option<NetworkInfo> {
        network_info(self, switch)
    }

    fn gateway_ips(&self, tenant: &str) -> Vec<Ipv4Addr> {
        gateway_ips(self, tenant)
    }
}

/// One definition of a service, with its resolved network.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub definition: TaskDefinition,
    pub network: NetworkInfo,
}

/// A desired service: its members' tasks are its backends.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub key: ServiceKey,
    /// The VIP, when any member asks for one (all that do agree).
    pub vip: Option<VipRequest>,
    /// Who may connect to its tasks (every member says the same).
    pub policy: Option<ovn::policy::Policy>,
    /// In file order; shared with the task book, which launches them.
    pub members: Vec<Arc<Member>>,
}

impl Service {
    /// The load balancer wanted for the given running backends, or `None`
    /// for a service without a VIP (nothing to write in OVN). `ports` are
    /// the backends' logical ports, for OVN's health checks. Every service
    /// with a VIP also gets a cluster IP, and a name in `dns_domain` when
    /// its name and tenant are DNS labels.
    pub fn spec(
        &self,
        backends: Vec<SocketAddrV4>,
        ports: BTreeMap<Ipv4Addr, BackendPort>,
        dns_domain: &str,
    ) -> Option<ServiceSpec> {
        let vip = self.vip?;
        Some(ServiceSpec {
            tenant: self.key.tenant.clone(),
            name: self.key.name.clone(),
            protocol: vip.protocol,
            port: vip.port,
            backends,
            cluster_ip: Some(ClusterIp::Allocate),
            dns_name: dns_name(&self.key.tenant, &self.key.name, dns_domain),
            health: self.ovn_health_check().then(|| LbHealth::new(ports)),
        })
    }

    /// Whether OVN health-checks its backends: every member's file leaves
    /// [`super::LABEL_OVN_HEALTH_CHECK`] on.
    pub fn ovn_health_check(&self) -> bool {
        self.members.iter().all(|m| m.definition.ovn_health_check)
    }

    /// The total instance count over all members.
    pub fn instances(&self) -> u32 {
        self.members.iter().map(|m| m.definition.instances).sum()
    }
}

/// Every desired service, by tenant and name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Services {
    services: BTreeMap<ServiceKey, Service>,
}

impl Services {
    /// Finds each definition's network and groups the definitions into
    /// services. All-or-nothing like loading: every unknown network, VIP
    /// conflict, backend without a port, VIP address that is no gateway of
    /// the tenant or VIP in a tenant without any gateway is one problem line.
    pub fn resolve(
        definitions: Vec<TaskDefinition>,
        topology: &dyn Topology,
    ) -> Result<Services, TaskFileError> {
        let mut problems = Vec::new();
        let mut services: BTreeMap<ServiceKey, Service> = BTreeMap::new();
        let mut vip_from: BTreeMap<ServiceKey, std::path::PathBuf> = BTreeMap::new();
        // Looked up once per switch and per tenant: a thousand definitions
        // on one switch read its row once, not a thousand times.
        let mut networks: BTreeMap<String, Option<NetworkInfo>> = BTreeMap::new();
        let mut gateways: BTreeMap<String, Vec<Ipv4Addr>> = BTreeMap::new();
        let mut gateway_ips = |tenant: &str| -> Vec<Ipv4Addr> {
            gateways
                .entry(tenant.to_owned())
                .or_insert_with(|| topology.gateway_ips(tenant))
                .clone()
        };
        for definition in definitions {
            let file = definition.file.clone();
            let network = networks
                .entry(definition.switch.clone())
                .or_insert_with(|| topology.network(&definition.switch))
                .clone();
            let Some(network) = network else {
                problems.push(Problem::field(
                    &file,
                    "container.network_infos",
                    format!(
                        "logical_switch {} is not a network of any tenant (create it with ovn-mesos network-init)",
                        definition.switch
                    ),
                ));
                continue;
            };
            let key = ServiceKey::new(&network.tenant, &definition.service);
            if let Some(VipRequest {
                address: Some(ip), ..
            }) = definition.vip
            {
                let gateways = gateway_ips(&network.tenant);
                if !gateways.contains(&ip) {
                    problems.push(Problem::field(
                        &file,
                        "discovery.ports",
                        format!(
                            "VIP address {ip} is not the physical IP of a gateway router of tenant {} (gateways: {})",
                            network.tenant,
                            list(&gateways)
                        ),
                    ));
                    continue;
                }
            }
            let service = services.entry(key.clone()).or_insert_with(|| Service {
                key: key.clone(),
                vip: None,
                policy: definition.allow_from.clone(),
                members: Vec::new(),
            });
            if let Some(first) = service.members.first() {
                if first.definition.allow_from != definition.allow_from {
                    let say = |p: &Option<ovn::policy::Policy>| {
                        p.as_ref().map_or_else(
                            || "none".to_owned(),
                            |p| format!("{p:?}", p = p.to_string()),
                        )
                    };
                    problems.push(Problem::field(
                        &file,
                        "labels",
                        format!(
                            "{LABEL_ALLOW_FROM} {} of service {key} differs from {} in {}: every definition of a service must say the same",
                            say(&definition.allow_from),
                            say(&first.definition.allow_from),
                            first.definition.file.display()
                        ),
                    ));
                    continue;
                }
            }
            if let Some(vip) = definition.vip {
                match (service.vip, vip_from.get(&key)) {
                    (Some(existing), Some(first)) if !same_vip(existing, vip) => {
                        problems.push(Problem::field(
                            &file,
                            "discovery.ports",
                            format!(
                                "VIP {} of service {key} conflicts with VIP {} in {}",
                                describe(vip),
                                describe(existing),
                                first.display()
                            ),
                        ));
                        continue;
                    }
                    (Some(_), _) => {}
                    (None, _) => {
                        service.vip = Some(vip);
                        vip_from.insert(key.clone(), file.clone());
                    }
                }
            }
            service.members.push(Arc::new(Member {
                definition,
                network,
            }));
        }
        for service in services.values() {
            let Some(vip) = service.vip else {
                continue;
            };
            let tenant = &service.key.tenant;
            if gateway_ips(tenant).is_empty() {
                let file = vip_from
                    .get(&service.key)
                    .unwrap_or(&service.members[0].definition.file);
                problems.push(Problem::field(
                    file,
                    "discovery.ports",
                    format!(
                        "service {} has VIP {}, but tenant {tenant} has no gateway router to hold it (create one with ovn-mesos gateway-init)",
                        service.key,
                        describe(vip)
                    ),
                ));
            }
            for m in service
                .members
                .iter()
                .filter(|m| m.definition.backend_port.is_none())
            {
                problems.push(Problem::field(
                    &m.definition.file,
                    "discovery.ports",
                    format!(
                        "service {} has a VIP, so its tasks need a backend port (discovery.ports.ports[].number)",
                        service.key
                    ),
                ));
            }
        }
        if problems.is_empty() {
            Ok(Services { services })
        } else {
            Err(TaskFileError::Invalid { problems })
        }
    }

    /// Takes `earlier`'s member wherever it equals the new one, so the
    /// task book, which skips a member it already holds (`Arc::ptr_eq`),
    /// goes over only the definitions that changed.
    pub fn keep_unchanged(&mut self, earlier: &Services) {
        for (key, service) in &mut self.services {
            let Some(old) = earlier.services.get(key) else {
                continue;
            };
            for member in &mut service.members {
                let template = member.definition.template();
                if let Some(same) = old
                    .members
                    .iter()
                    .find(|m| m.definition.template() == template && ***m == **member)
                {
                    *member = same.clone();
                }
            }
        }
    }

    pub fn get(&self, key: &ServiceKey) -> Option<&Service> {
        self.services.get(key)
    }

    /// Every service, ordered by tenant then name.
    pub fn iter(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Every member of every service, in service order.
    pub fn members(&self) -> impl Iterator<Item = (&Service, &Arc<Member>)> {
        self.iter()
            .flat_map(|s| s.members.iter().map(move |m| (s, m)))
    }
}

fn same_vip(a: VipRequest, b: VipRequest) -> bool {
    // An address label and a /name label on the same port agree: the address
    // form only pins which gateway the user expects.
    a.port == b.port
        && a.protocol == b.protocol
        && (a.address.is_none() || b.address.is_none() || a.address == b.address)
}

fn describe(vip: VipRequest) -> String {
    match vip.address {
        Some(ip) => format!("{ip}:{}/{}", vip.port, vip.protocol),
        None => format!("{}/{}", vip.port, vip.protocol),
    }
}

fn list(ips: &[Ipv4Addr]) -> String {
    if ips.is_empty() {
        return "none".into();
    }
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
