//! Service load balancers: one OVN `Load_Balancer` per service (as
//! ovn-kubernetes' `controller/services`), desired config -> exact rows ->
//! ensure (diff, one transaction, skip when equal).
//!
//! A service `web` of tenant `coke` (TCP, port 32350, backends
//! `192.168.1.2:80`, `192.168.1.3:80`) becomes the load balancer named
//! [`load_balancer_name`] `coke_web_tcp` with one VIP per gateway router of the
//! tenant, on that router's physical IP:
//!
//! ```text
//! vips: {"10.10.1.12:32350"="192.168.1.2:80,192.168.1.3:80", "10.10.1.14:32350"=...}
//! ```
//!
//! attached to every `GR_coke_<system-id>` (`ovn-nbctl lr-lb-add`). A
//! service with a cluster IP ([`ClusterIp`]) also has the east-west VIP
//! `<cluster IP>:<port>` on the same row, taken from the tenant's service
//! subnet (`tenant-init --service-subnet`, stored on the load balancer as
//! `ovn-mesos/cluster-ip` and kept for the service's life), and the load
//! balancer is a member of the tenant's load balancer group, which every
//! network switch of the tenant refers to ([`fabric`]): a task reaches the
//! service through a VIP on its own switch. Its name
//! `<service>.<tenant>.<domain>` is a record of the tenant's DNS row.
//! The row is owned through `external_ids`
//! (`ovn-mesos/kind=load-balancer`, `ovn-mesos/tenant`, `ovn-mesos/service`),
//! which is how it is found again: the name is for people.
//!
//! Options on every service load balancer, checked against OVN 23.03 northd:
//! * `reject=true`: a VIP whose backend list is empty (`"10.10.1.12:32350"=""`)
//!   becomes `reject { ... }` in `lr_in_dnat` (a TCP RST, or ICMP port
//!   unreachable for UDP/SCTP) instead of `drop;` (a client that hangs until
//!   its own timeout). So a service with no running task refuses at once.
//! * with [`LbHealth`]: one `Load_Balancer_Health_Check` per VIP and
//!   `ip_port_mappings` for every backend (a backend without a mapping would
//!   be left out of the flows, so then no checks are written at all).
//! * `neighbor_responder=none`: by default (`reachable`) every router the load
//!   balancer is attached to answers ARP for every VIP in its subnets, so with
//!   two gateways on one physical network `GR_a` would answer ARP for `GR_b`'s
//!   address and steal its traffic. With `none` each gateway answers only for
//!   its own router-port address, which is the VIP it owns.
//! * with a cluster IP, `hairpin_snat_ip` = the service subnet's first
//!   address ([`hairpin_ip`]): a backend that reaches its own service
//!   through the VIP gets the connection from that address (only switches
//!   read this option), so its reply comes back through OVN's conntrack.
//!
//! The gateway routers also carry the cluster IP VIP (one row serves
//! both); nothing routes the service subnet to them, and they do not
//! answer ARP for it (`neighbor_responder=none`).

mod desired;
mod ensure;
pub mod fabric;
mod lookup;
mod view;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;

use uuid::Uuid;

pub use desired::{backends_value, load_balancer_name, parse_backends};
pub use ensure::{delete_service, ensure_service, reconcile_services};
pub use fabric::{delete_fabric, ensure_fabric, group_name};
pub use lookup::{find_service, list_services};

/// The NB tables a client writing services must monitor besides the
/// topology's ([`crate::topology::NB_TABLES`]).
pub const SERVICE_TABLES: [&str; 6] = [
    "Load_Balancer",
    "Load_Balancer_Health_Check",
    "Load_Balancer_Group",
    "DNS",
    "Port_Group",
    "ACL",
];

/// Adds the monitors of [`SERVICE_TABLES`] to an NB client configuration.
pub fn monitor_services(config: crate::ovsdb::ClientConfig) -> crate::ovsdb::ClientConfig {
    SERVICE_TABLES.iter().fold(config, |c, t| c.monitor(t))
}

/// `external_ids` key of a service load balancer holding its cluster IP.
pub use crate::owner::CLUSTER_IP;

/// The address hair-pinned connections (a backend reaching its own
/// service) come from: the service subnet's first address, never a
/// cluster IP.
pub fn hairpin_ip(service_subnet: ipnetwork::Ipv4Network) -> Ipv4Addr {
    service_subnet.nth(1).unwrap_or(service_subnet.network())
}

/// The DNS name of a service, `<service>.<tenant>.<domain>` in lowercase,
/// or `None` when the service or tenant name is no DNS label (letters,
/// digits and inner `-`, at most 63 characters: glibc refuses a host name
/// with `_`, and a `.` would make two labels).
pub fn dns_name(tenant: &str, service: &str, domain: &str) -> Option<String> {
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && !s.starts_with('-')
            && !s.ends_with('-')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    (label(service) && label(tenant) && !domain.is_empty())
        .then(|| format!("{service}.{tenant}.{domain}").to_ascii_lowercase())
}

/// A service's east-west VIP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterIp {
    /// The address its load balancer holds, else the lowest free one of
    /// the tenant's service subnet.
    Allocate,
    /// This address (it must be free and in the service subnet).
    Fixed(Ipv4Addr),
}

/// A service's L4 protocol (the load balancer's `protocol` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The column value: `tcp`, `udp` or `sctp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = ServiceError;

    /// `tcp`, `udp` or `sctp`, any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(ServiceError::InvalidSpec {
                service: String::new(),
                reason: format!("unknown protocol {s:?} (tcp, udp or sctp)"),
            }),
        }
    }
}

/// What one service should look like in OVN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub tenant: String,
    pub name: String,
    pub protocol: Protocol,
    /// The VIP port on each gateway router's physical IP, e.g. 32350.
    pub port: u16,
    /// The running tasks' addresses (order and duplicates do not matter).
    pub backends: Vec<SocketAddrV4>,
    /// The east-west VIP `<cluster IP>:<port>` on the tenant's switches,
    /// or `None` for the gateway VIPs only.
    pub cluster_ip: Option<ClusterIp>,
    /// The name the tenant's DNS row maps to the cluster IP
    /// (`web.coke.ovn-mesos`), lowercase; needs a cluster IP.
    pub dns_name: Option<String>,
    /// OVN's own health checks of the backends, `None` for none.
    pub health: Option<LbHealth>,
}

/// OVN load-balancer health checks of a service (NB
/// `Load_Balancer_Health_Check`, one per VIP): ovn-controller on a backend's
/// chassis probes it (TCP: SYN, SYN+ACK, RST; UDP: down on an ICMP error)
/// from its switch's reserved source address ([`SVC_MONITOR_IP`]), and
/// ovn-northd leaves the backends it finds offline out of the flows. L4
/// only; the probes bypass ACLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbHealth {
    /// Seconds between two probes of a backend (`options:interval`).
    pub interval: u32,
    /// Seconds a probe waits for its answer (`options:timeout`).
    pub timeout: u32,
    /// Answers in a row that bring a backend back (`options:success_count`).
    pub success_count: u32,
    /// Failures in a row that take it out (`options:failure_count`).
    pub failure_count: u32,
    /// Each backend's logical switch port and the switch it is on: a backend
    /// OVN cannot map is left out of the flows, so every backend needs one.
    pub ports: BTreeMap<Ipv4Addr, BackendPort>,
}

/// Where a backend is in OVN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendPort {
    /// Its logical switch port.
    pub port: String,
    /// The network switch the port is on.
    pub switch: String,
}

impl LbHealth {
    /// The checks ovn-mesos writes: a probe every 2 s, answered within 1 s,
    /// 2 failures take a backend out and 1 success brings it back, so a dead
    /// backend is out within about 5 s (`interval × failure_count + timeout`).
    pub fn new(ports: BTreeMap<Ipv4Addr, BackendPort>) -> LbHealth {
        LbHealth {
            interval: 2,
            timeout: 1,
            success_count: 1,
            failure_count: 2,
            ports,
        }
    }
}

/// `external_ids` key of a network switch naming the address its backends'
/// OVN health checks come from: one per network, kept out of IPAM (it is
/// also in the switch's `other_config:exclude_ips`); ovn-northd answers ARP
/// for it on the switch.
pub const SVC_MONITOR_IP: &str = "ovn-mesos/svc-monitor-ip";

/// Identifies a service: its tenant and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub tenant: String,
    pub name: String,
}

impl ServiceKey {
    pub fn new(tenant: impl Into<String>, name: impl Into<String>) -> Self {
        ServiceKey {
            tenant: tenant.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.name)
    }
}

impl ServiceSpec {
    /// The service's key.
    pub fn key(&self) -> ServiceKey {
        ServiceKey::new(&self.tenant, &self.name)
    }
}

/// One gateway VIP of a service, as found in the NB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    /// `<gateway physical IP>:<service port>`.
    pub vip: SocketAddrV4,
    pub backends: Vec<SocketAddrV4>,
    /// The gateway router whose external address the VIP is; empty when no
    /// current gateway router of the tenant has that address (a stale VIP that
    /// the next ensure removes).
    pub router: String,
}

/// The east-west VIP of a service, as found in the NB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EastWestVip {
    /// `<cluster IP>:<port>`.
    pub vip: SocketAddrV4,
    pub backends: Vec<SocketAddrV4>,
    /// The switches that carry it (through the tenant's load balancer
    /// group, or attached directly), by name.
    pub switches: Vec<String>,
    /// Its names in the tenant's DNS row.
    pub names: Vec<String>,
}

/// A service as found in the NB (the answer to "which VIP serves service X,
/// with which backends").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub tenant: String,
    pub name: String,
    pub protocol: Protocol,
    /// The load balancer's name ([`load_balancer_name`]) and uuid.
    pub load_balancer: String,
    pub uuid: Uuid,
    /// One per gateway router, in VIP order.
    pub vips: Vec<Vip>,
    pub east_west: Option<EastWestVip>,
}

impl ServiceInfo {
    /// The service's key.
    pub fn key(&self) -> ServiceKey {
        ServiceKey::new(&self.tenant, &self.name)
    }
}

/// What [`ensure_service`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceChange {
    /// The load balancer was created (and attached) in one transaction.
    Created { uuid: Uuid },
    /// The load balancer or its attachments were changed in one transaction.
    Updated { uuid: Uuid },
    /// Everything already matched: no transaction was sent.
    Unchanged { uuid: Uuid },
}

impl ServiceChange {
    /// The load balancer's uuid.
    pub fn uuid(&self) -> Uuid {
        match *self {
            ServiceChange::Created { uuid }
            | ServiceChange::Updated { uuid }
            | ServiceChange::Unchanged { uuid } => uuid,
        }
    }

    /// True when a transaction was committed.
    pub fn changed(&self) -> bool {
        !matches!(self, ServiceChange::Unchanged { .. })
    }
}

/// Which owned service load balancers [`reconcile_services`] may delete when
/// they are not desired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconcileScope {
    /// Every ovn-mesos service load balancer.
    All,
    /// Only those of these tenants.
    Tenants(Vec<String>),
}

impl ReconcileScope {
    fn covers(&self, tenant: &str) -> bool {
        match self {
            ReconcileScope::All => true,
            ReconcileScope::Tenants(t) => t.iter().any(|x| x == tenant),
        }
    }
}

/// What [`reconcile_services`] did, service by service.
#[derive(Debug, Default)]
pub struct ReconcileReport {
    /// Desired services and what ensuring each did.
    pub ensured: Vec<(ServiceKey, ServiceChange)>,
    /// Owned load balancers of services no longer desired, deleted.
    pub deleted: Vec<ServiceKey>,
    /// Services that could not be ensured or deleted, with the reason; the
    /// others were still reconciled.
    pub failed: Vec<(ServiceKey, ServiceError)>,
}

/// Why a service could not be ensured, deleted or read.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The spec is unusable (empty name, port 0, duplicate service in a
    /// reconcile, unknown protocol); fix the caller, retrying cannot help.
    #[error("invalid service {service:?}: {reason}")]
    InvalidSpec { service: String, reason: String },

    /// Every address of the tenant's service subnet is a cluster IP already.
    #[error(
        "tenant {tenant:?}: service subnet {subnet} has no free address for service {service:?}"
    )]
    ServiceSubnetFull {
        tenant: String,
        service: String,
        subnet: ipnetwork::Ipv4Network,
    },

    /// No tenant router of this tenant exists (`ovn-mesos tenant-init` not run).
    #[error("unknown tenant {tenant:?}: no ovn-mesos tenant router of that name")]
    UnknownTenant { tenant: String },

    /// The tenant has no gateway router with an external address
    /// (`ovn-mesos gateway-init` not run), so there is no address to put the
    /// VIP on; retry once a gateway exists.
    #[error("tenant {tenant:?} has no gateway router to carry the service VIP")]
    NoGateway { tenant: String },

    /// The service name exists in several tenants and no tenant was given.
    #[error("service {name:?} exists in several tenants ({}); name the tenant", tenants.join(", "))]
    Ambiguous { name: String, tenants: Vec<String> },

    /// An owned load balancer row could not be read as a service (e.g. a VIP
    /// or backend that is not `IPv4:port`); someone edited it by hand.
    #[error("load balancer {load_balancer} is not a valid service row: {reason}")]
    BadRow { load_balancer: Uuid, reason: String },

    /// The NB transaction failed (see [`crate::ovsdb::Error::is_retryable`]).
    #[error("NB transaction for service {service} failed")]
    Ovsdb {
        service: String,
        #[source]
        source: crate::ovsdb::Error,
    },
}

impl ServiceError {
    /// True when calling again later can succeed (a gateway may appear, a
    /// connection may come back).
    pub fn is_retryable(&self) -> bool {
        match self {
            ServiceError::NoGateway { .. } => true,
            ServiceError::Ovsdb { source, .. } => source.is_retryable(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_in_any_case_and_print_lowercase() {
        for (s, p) in [
            ("tcp", Protocol::Tcp),
            ("UDP", Protocol::Udp),
            ("Sctp", Protocol::Sctp),
        ] {
            let parsed: Protocol = s.parse().unwrap();
            assert_eq!(parsed, p);
            assert_eq!(parsed.to_string(), s.to_ascii_lowercase());
        }
        assert!("icmp".parse::<Protocol>().is_err());
    }

    #[test]
    fn dns_names_are_lowercase_labels_or_none() {
        assert_eq!(
            dns_name("coke", "Web-1", "ovn-mesos").as_deref(),
            Some("web-1.coke.ovn-mesos")
        );
        for (tenant, service) in [
            ("coke", "web_a"),
            ("coke", "a.b"),
            ("coke", "-x"),
            ("c_d", "web"),
        ] {
            assert_eq!(
                dns_name(tenant, service, "ovn-mesos"),
                None,
                "{tenant}/{service}"
            );
        }
        assert_eq!(dns_name("coke", &"a".repeat(64), "ovn-mesos"), None);
    }

    #[test]
    fn a_scope_covers_only_its_tenants() {
        assert!(ReconcileScope::All.covers("coke"));
        let s = ReconcileScope::Tenants(vec!["coke".into()]);
        assert!(s.covers("coke"));
        assert!(!s.covers("pepsi"));
    }

    #[test]
    fn errors_name_what_is_missing() {
        let e = ServiceError::NoGateway {
            tenant: "coke".into(),
        };
        assert!(e.to_string().contains("coke"));
        assert!(e.is_retryable());
        let e = ServiceError::Ambiguous {
            name: "web".into(),
            tenants: vec!["coke".into(), "pepsi".into()],
        };
        assert!(e.to_string().contains("coke, pepsi"));
        assert!(!e.is_retryable());
    }
}
