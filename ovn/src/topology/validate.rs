//! Checks of user input that need no database: OVN-safe names, subnets
//! (network address, size, clear of the join subnet), the gateway's physical
//! address and default gateway. Each failure is a one-line
//! [`TopologyError`] naming the culprit.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use super::names::{EXT_PREFIX, GR_PREFIX, JOIN_PREFIX, JOIN_SUBNET};
use super::TopologyError;

/// The longest tenant, network, system-id or interface name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// `[A-Za-z0-9_.-]`, not starting with `-`, 1 to [`MAX_NAME_LEN`] characters:
/// safe in OVN names, `ovn-nbctl` arguments and OVS `iface-id`s.
pub fn check_name(what: &'static str, name: &str) -> Result<(), TopologyError> {
    let bad = |reason: String| {
        Err(TopologyError::InvalidName {
            what,
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return bad(format!("longer than {MAX_NAME_LEN} characters"));
    }
    if name.starts_with('-') {
        return bad("it starts with '-'".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return bad(format!("character {c:?} is not one of A-Z a-z 0-9 _ . -"));
    }
    Ok(())
}

/// A tenant name: OVN-safe and not shaped like a gateway router name.
pub fn check_tenant_name(name: &str) -> Result<(), TopologyError> {
    check_name("tenant", name)?;
    if name.starts_with(GR_PREFIX) {
        return Err(TopologyError::InvalidName {
            what: "tenant",
            name: name.to_owned(),
            reason: format!("the prefix {GR_PREFIX} is reserved for gateway routers"),
        });
    }
    Ok(())
}

/// A network (logical switch) name: OVN-safe and not shaped like a join or
/// external switch name.
pub fn check_network_name(name: &str) -> Result<(), TopologyError> {
    check_name("network", name)?;
    if let Some(p) = [JOIN_PREFIX, EXT_PREFIX]
        .into_iter()
        .find(|p| name.starts_with(p))
    {
        return Err(TopologyError::InvalidName {
            what: "network",
            name: name.to_owned(),
            reason: format!("the prefix {p} is reserved for the switches ovn-mesos creates"),
        });
    }
    Ok(())
}

/// Parses `a.b.c.d/len` strictly (no host bits).
pub fn parse_cidr(what: &'static str, s: &str) -> Result<Ipv4Network, TopologyError> {
    let net: Ipv4Network = s.trim().parse().map_err(|e| TopologyError::InvalidSubnet {
        what,
        value: s.to_owned(),
        reason: format!("not an IPv4 CIDR ({e})"),
    })?;
    check_subnet(what, net)?;
    Ok(net)
}

/// Parses a host address with its prefix, e.g. `10.10.1.12/24`.
pub fn parse_host_cidr(what: &'static str, s: &str) -> Result<Ipv4Network, TopologyError> {
    let s = s.trim();
    if !s.contains('/') {
        return Err(TopologyError::InvalidSubnet {
            what,
            value: s.to_owned(),
            reason: "give the address with its prefix length, e.g. 10.10.1.12/24".into(),
        });
    }
    s.parse().map_err(|e| TopologyError::InvalidSubnet {
        what,
        value: s.to_owned(),
        reason: format!("not an IPv4 address/prefix ({e})"),
    })
}

/// A tenant network or cluster subnet: a network address (no host bits),
/// /8 to /30, clear of the join subnet 100.64.0.0/16.
pub fn check_subnet(what: &'static str, net: Ipv4Network) -> Result<(), TopologyError> {
    let bad = |reason: String| {
        Err(TopologyError::InvalidSubnet {
            what,
            value: net.to_string(),
            reason,
        })
    };
    if net.ip() != net.network() {
        return bad(format!(
            "host bits are set (did you mean {}/{}?)",
            net.network(),
            net.prefix()
        ));
    }
    if net.prefix() > 30 {
        return bad("too small: at most /30".into());
    }
    if net.prefix() < 8 {
        return bad("too large: at least /8".into());
    }
    if net.overlaps(JOIN_SUBNET) {
        return bad(format!("overlaps the join subnet {JOIN_SUBNET}"));
    }
    Ok(())
}

/// The gateway's physical address and default gateway: the address is a host
/// of its subnet, the default gateway another host of the same subnet, and the
/// subnet is clear of the join and cluster subnets.
pub fn check_physical(
    physical: Ipv4Network,
    default_gw: Ipv4Addr,
    cluster: Option<Ipv4Network>,
) -> Result<(), TopologyError> {
    let bad = |reason: String| {
        Err(TopologyError::InvalidSubnet {
            what: "physical IP",
            value: physical.to_string(),
            reason,
        })
    };
    if physical.prefix() > 30 {
        return bad("the physical network must be /30 or larger".into());
    }
    if physical.ip() == physical.network() || physical.ip() == physical.broadcast() {
        return bad("it is the network or broadcast address, not a host".into());
    }
    if physical.overlaps(JOIN_SUBNET) {
        return bad(format!("overlaps the join subnet {JOIN_SUBNET}"));
    }
    if let Some(c) = cluster.filter(|c| c.overlaps(physical)) {
        return bad(format!("overlaps the cluster subnet {c}"));
    }
    if !physical.contains(default_gw)
        || default_gw == physical.network()
        || default_gw == physical.broadcast()
    {
        return Err(TopologyError::GatewayNotInSubnet {
            physical,
            default_gw,
        });
    }
    if default_gw == physical.ip() {
        return bad(format!(
            "the default gateway {default_gw} is the physical IP itself"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Network {
        s.parse().unwrap()
    }

    #[test]
    fn ovn_safe_names_pass_and_others_say_why_not() {
        for ok in ["coke", "coke1", "mesos-master", "a.b_c-d", "0f8e-uuid"] {
            check_name("tenant", ok).unwrap();
        }
        let cases = [
            ("", "empty"),
            ("-x", "starts with '-'"),
            ("a b", "' '"),
            ("a/b", "'/'"),
            ("é", "'é'"),
        ];
        for (bad, why) in cases {
            let e = check_name("tenant", bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert!(check_name("network", &long)
            .unwrap_err()
            .to_string()
            .contains("longer"));
    }

    #[test]
    fn reserved_prefixes_are_refused() {
        assert!(check_network_name("join_coke").is_err());
        assert!(check_network_name("ext_coke_m").is_err());
        assert!(check_tenant_name("GR_coke").is_err());
        check_network_name("coke1").unwrap();
        check_tenant_name("coke").unwrap();
    }

    #[test]
    fn subnets_must_be_network_addresses_of_a_usable_size() {
        check_subnet("subnet", net("192.168.1.0/24")).unwrap();
        let table = [
            (
                "192.168.1.5/24",
                "host bits are set (did you mean 192.168.1.0/24?)",
            ),
            ("192.168.1.0/31", "too small"),
            ("10.0.0.0/7", "too large"),
            ("100.64.5.0/24", "overlaps the join subnet 100.64.0.0/16"),
        ];
        for (s, why) in table {
            let e = check_subnet("subnet", net(s)).unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
            assert!(e.starts_with(&format!("invalid subnet {s}")), "{e}");
        }
    }

    #[test]
    fn cidr_strings_are_parsed_strictly() {
        assert_eq!(
            parse_cidr("subnet", "192.168.1.0/24").unwrap(),
            net("192.168.1.0/24")
        );
        let bare = parse_cidr("subnet", "192.168.1.0").unwrap_err().to_string();
        assert!(
            bare.contains("too small"),
            "a bare address is a /32: {bare}"
        );
        assert!(parse_cidr("subnet", "192.168.1.0/24x").is_err());
        assert!(parse_cidr("subnet", "300.1.1.0/24").is_err());
        assert_eq!(
            parse_host_cidr("physical IP", "10.10.1.12/24")
                .unwrap()
                .ip(),
            Ipv4Addr::new(10, 10, 1, 12)
        );
        assert!(parse_host_cidr("physical IP", "10.10.1.12").is_err());
    }

    #[test]
    fn the_default_gateway_must_be_another_host_of_the_physical_network() {
        let phys = net("10.10.1.12/24");
        check_physical(
            phys,
            Ipv4Addr::new(10, 10, 1, 1),
            Some(net("192.168.0.0/16")),
        )
        .unwrap();
        let e = check_physical(phys, Ipv4Addr::new(10, 10, 2, 1), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "default gateway 10.10.2.1 is not a host of physical network 10.10.1.12/24"
        );
        assert!(check_physical(phys, Ipv4Addr::new(10, 10, 1, 12), None).is_err());
        assert!(check_physical(net("10.10.1.0/24"), Ipv4Addr::new(10, 10, 1, 1), None).is_err());
        assert!(
            check_physical(phys, Ipv4Addr::new(10, 10, 1, 1), Some(net("10.0.0.0/8"))).is_err()
        );
    }
}
