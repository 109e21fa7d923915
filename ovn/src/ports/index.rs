//! The IPAM of one logical switch, seeded from the NB cache and kept in step
//! with it incrementally: which addresses the switch's ports hold (static
//! `addresses`, `dynamic_addresses` northd gave, the router port's `networks`),
//! which `other_config:exclude_ips` removes, and the port names on the switch.
//!
//! [`SwitchIndex::sync`] compares the switch's `ports` set in the cache with
//! the ports the index knows (a merge of two sorted uuid lists, no row reads)
//! and reads only the rows of ports that appeared; router and `dynamic` ports
//! are re-read every time, since their addresses change without the switch
//! changing. So allocation costs stay flat as the NB grows. A change of
//! `subnet` or `exclude_ips` rebuilds the index. A static port whose
//! `addresses` someone rewrites in place (`ovn-nbctl lsp-set-addresses` on an
//! existing port) is seen at the next rebuild; ovn-mesos never does that.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::Ipv4Network;
use uuid::Uuid;

use super::PortError;
use crate::ipam::{parse_lsp_addresses, IpamError, LspAddresses, SubnetIpam};
use crate::ovsdb::{Atom, Cache, Datum, Row};

const LSP: &str = "Logical_Switch_Port";
const LRP: &str = "Logical_Router_Port";

/// How a port's addresses are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Fixed in `addresses`: read once.
    Static,
    /// `router`: the peer router port's `networks`; re-read on every sync.
    Router,
    /// `dynamic`: northd fills `dynamic_addresses` later; re-read on every sync.
    Dynamic,
}

/// A port of the switch as the index knows it.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    source: Source,
    /// Every IPv4 address the port has inside the subnet.
    ips: Vec<Ipv4Addr>,
}

/// One switch's address state.
#[derive(Debug)]
pub(crate) struct SwitchIndex {
    pub switch: Uuid,
    subnet_text: String,
    exclude_text: Option<String>,
    ipam: SubnetIpam,
    members: BTreeMap<Uuid, Member>,
    by_name: HashMap<String, Uuid>,
    /// Members whose addresses are re-read on every sync (router and dynamic).
    volatile: BTreeSet<Uuid>,
    /// Addresses held by more than one port (a conflict someone made by hand):
    /// how many holders beyond the first, so removing one keeps it taken.
    extra_holders: HashMap<Ipv4Addr, u32>,
}

/// The switch's `other_config` subnet and exclude_ips.
fn config(switch_name: &str, row: &Row) -> Result<(String, Option<String>), PortError> {
    let oc = row
        .get("other_config")
        .map(Datum::string_map_value)
        .unwrap_or_default();
    let subnet = oc
        .get("subnet")
        .cloned()
        .ok_or_else(|| PortError::NoSubnet {
            switch: switch_name.to_owned(),
        })?;
    Ok((subnet, oc.get("exclude_ips").cloned()))
}

/// The sorted uuids of the switch's `ports` column.
fn port_uuids(row: &Row) -> impl Iterator<Item = Uuid> + '_ {
    row.get("ports")
        .into_iter()
        .flat_map(|d| d.atoms())
        .filter_map(Atom::as_uuid)
}

/// The IPv4 addresses of one `Logical_Switch_Port` row and how they are decided.
fn port_addresses(cache: &Cache, row: &Row) -> (Source, Vec<Ipv4Addr>) {
    let mut source = Source::Static;
    let mut ips = Vec::new();
    let push = |entry: &str, ips: &mut Vec<Ipv4Addr>| {
        if let Ok(LspAddresses::Static { ips: found, .. }) = parse_lsp_addresses(entry) {
            ips.extend(found.into_iter().filter_map(|ip| match ip {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            }));
        }
    };
    for entry in row.get("addresses").map(Datum::strings).unwrap_or_default() {
        match parse_lsp_addresses(&entry) {
            Ok(LspAddresses::Router) => {
                source = Source::Router;
                ips.extend(router_port_ips(cache, row));
            }
            Ok(LspAddresses::Dynamic | LspAddresses::DynamicWithMac(_)) => source = Source::Dynamic,
            Ok(LspAddresses::Static { .. }) => push(&entry, &mut ips),
            Ok(LspAddresses::Unknown) | Err(_) => {}
        }
    }
    if let Some(dynamic) = row.get("dynamic_addresses").and_then(Datum::as_str) {
        push(dynamic, &mut ips);
    }
    (source, ips)
}

/// The addresses of the router port a `type=router` switch port peers with.
fn router_port_ips(cache: &Cache, row: &Row) -> Vec<Ipv4Addr> {
    let options = row
        .get("options")
        .map(Datum::string_map_value)
        .unwrap_or_default();
    let Some(peer) = options.get("router-port") else {
        return Vec::new();
    };
    cache
        .find(LRP, "name", &Datum::string(peer.as_str()))
        .into_iter()
        .flat_map(|(_, lrp)| lrp.get("networks").map(Datum::strings).unwrap_or_default())
        .filter_map(|n| n.split('/').next()?.parse::<Ipv4Addr>().ok())
        .collect()
}

impl SwitchIndex {
    /// Builds the index of switch `uuid` (row `row`, named `name`) from the cache.
    pub fn build(
        cache: &Cache,
        uuid: Uuid,
        name: &str,
        row: &Row,
    ) -> Result<SwitchIndex, PortError> {
        let (subnet_text, exclude_text) = config(name, row)?;
        let bad = |source: IpamError| PortError::BadSubnet {
            switch: name.to_owned(),
            source,
        };
        let ipam = SubnetIpam::from_config(&subnet_text, exclude_text.as_deref()).map_err(bad)?;
        let mut index = SwitchIndex {
            switch: uuid,
            subnet_text,
            exclude_text,
            ipam,
            members: BTreeMap::new(),
            by_name: HashMap::new(),
            volatile: BTreeSet::new(),
            extra_holders: HashMap::new(),
        };
        for port in port_uuids(row) {
            index.join(cache, port);
        }
        Ok(index)
    }

    /// Brings the index in step with the cache's switch row `row`: rebuilds it
    /// when the subnet or exclusions changed, else adds the ports that appeared,
    /// drops those that left and re-reads router and dynamic ports.
    pub fn sync(&mut self, cache: &Cache, name: &str, row: &Row) -> Result<(), PortError> {
        let (subnet, exclude) = config(name, row)?;
        if subnet != self.subnet_text || exclude != self.exclude_text {
            *self = SwitchIndex::build(cache, self.switch, name, row)?;
            return Ok(());
        }
        // Both sides are in uuid order; uuids compare as big-endian u128 (the
        // same order as their bytes) without a memcmp call per step.
        let (mut joined, mut left) = (Vec::new(), Vec::new());
        let mut known = self.members.keys().map(|u| u.as_u128()).peekable();
        for port in port_uuids(row).map(|u| u.as_u128()) {
            while let Some(k) = known.next_if(|k| *k < port) {
                left.push(Uuid::from_u128(k));
            }
            if known.next_if_eq(&port).is_none() {
                joined.push(Uuid::from_u128(port));
            }
        }
        left.extend(known.map(Uuid::from_u128));
        for port in left {
            self.leave(port);
        }
        for port in joined {
            self.join(cache, port);
        }
        let volatile: Vec<Uuid> = self.volatile.iter().copied().collect();
        for port in volatile {
            self.leave(port);
            self.join(cache, port);
        }
        Ok(())
    }

    /// Records a port (read from the cache) as a member.
    fn join(&mut self, cache: &Cache, port: Uuid) {
        let Some(row) = cache.row(LSP, &port) else {
            return;
        };
        let name = row
            .get("name")
            .and_then(Datum::as_str)
            .unwrap_or_default()
            .to_owned();
        let (source, ips) = port_addresses(cache, row);
        self.add_member(port, name, source, ips);
    }

    fn add_member(&mut self, port: Uuid, name: String, source: Source, ips: Vec<Ipv4Addr>) {
        let subnet = self.ipam.subnet();
        let ips: Vec<Ipv4Addr> = ips.into_iter().filter(|ip| subnet.contains(*ip)).collect();
        for ip in &ips {
            match self.ipam.mark_used(*ip) {
                Ok(()) => {}
                Err(IpamError::AlreadyAllocated { .. }) => {
                    *self.extra_holders.entry(*ip).or_default() += 1;
                }
                // Network, broadcast or router address: never allocated anyway.
                Err(_) => {}
            }
        }
        self.by_name.insert(name.clone(), port);
        if source != Source::Static {
            self.volatile.insert(port);
        }
        self.members.insert(port, Member { name, source, ips });
    }

    /// Forgets a port and frees what it held.
    fn leave(&mut self, port: Uuid) {
        let Some(m) = self.members.remove(&port) else {
            return;
        };
        self.volatile.remove(&port);
        if self.by_name.get(&m.name) == Some(&port) {
            self.by_name.remove(&m.name);
        }
        for ip in m.ips {
            self.unhold(ip);
        }
    }

    fn unhold(&mut self, ip: Ipv4Addr) {
        match self.extra_holders.get_mut(&ip) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                self.extra_holders.remove(&ip);
            }
            None => {
                self.ipam.release(ip);
            }
        }
    }

    /// The uuid of the switch's port named `name`.
    pub fn port_named(&self, name: &str) -> Option<Uuid> {
        self.by_name.get(name).copied()
    }

    /// Takes `requested`, or the next free address.
    pub fn allocate(&mut self, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr, IpamError> {
        match requested {
            Some(ip) => self.ipam.allocate_specific(ip).map(|()| ip),
            None => self.ipam.allocate(),
        }
    }

    /// Gives back an address [`Self::allocate`] handed out for a port that was
    /// not created.
    pub fn release(&mut self, ip: Ipv4Addr) {
        self.ipam.release(ip);
    }

    /// Records a port this process just created (its commit is in the cache).
    pub fn add_created(&mut self, port: Uuid, name: &str, ip: Ipv4Addr) {
        // The address is already marked by `allocate`; record the holder only.
        self.by_name.insert(name.to_owned(), port);
        self.members.insert(
            port,
            Member {
                name: name.to_owned(),
                source: Source::Static,
                ips: vec![ip],
            },
        );
    }

    pub fn subnet(&self) -> Ipv4Network {
        self.ipam.subnet()
    }

    /// The highest host address of the subnet that no port holds and that is
    /// not excluded (the health-check source address of a network).
    pub fn highest_free(&self) -> Option<Ipv4Addr> {
        let subnet = self.ipam.subnet();
        let (first, last) = (u32::from(subnet.network()), u32::from(subnet.broadcast()));
        (first + 1..last).rev().map(Ipv4Addr::from).find(|ip| {
            !self.ipam.is_used(*ip) && !self.ipam.is_excluded(*ip) && *ip != self.gateway()
        })
    }

    /// The router port's address on the switch (the tasks' default gateway):
    /// the router port's IP in the subnet, else the subnet's first host.
    pub fn gateway(&self) -> Ipv4Addr {
        self.volatile
            .iter()
            .filter_map(|u| self.members.get(u))
            .filter(|m| m.source == Source::Router)
            .flat_map(|m| m.ips.iter().copied())
            .next()
            .unwrap_or_else(|| self.ipam.router_ip())
    }

    /// Whether a port holds `ip`.
    #[cfg(test)]
    pub fn is_used(&self, ip: Ipv4Addr) -> bool {
        self.ipam.is_used(ip)
    }

    /// How many ports the index knows.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.members.len()
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
