//! Errors of IPAM, MAC and `Logical_Switch_Port.addresses` parsing; each
//! variant says when it happens.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

/// Why an IPAM operation or an address parse failed. None of them is worth
/// retrying unchanged: they describe the request or the switch's config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// `allocate` found no free address (all used, excluded or reserved).
    #[error("subnet {subnet} is full: no free address left to allocate")]
    Full {
        /// The exhausted subnet.
        subnet: Ipv4Network,
    },
    /// `mark_used`/`allocate_specific` of an address that is already in use.
    #[error("{ip} is already allocated")]
    AlreadyAllocated {
        /// The address asked for.
        ip: Ipv4Addr,
    },
    /// `mark_used`/`allocate_specific` of an address outside the subnet.
    #[error("{ip} is not in subnet {subnet}")]
    NotInRange {
        /// The address asked for.
        ip: Ipv4Addr,
        /// The switch's subnet.
        subnet: Ipv4Network,
    },
    /// `mark_used`/`allocate_specific` of the network, broadcast or router
    /// address, which no port may take.
    #[error("{ip} is the {what} of subnet {subnet} and cannot be allocated")]
    Reserved {
        /// The address asked for.
        ip: Ipv4Addr,
        /// The switch's subnet.
        subnet: Ipv4Network,
        /// "network address", "broadcast address" or "router address".
        what: &'static str,
    },
    /// The subnet (`other_config:subnet`) cannot be parsed or has no usable
    /// host address (/31, /32) or is larger than /8.
    #[error("bad subnet {subnet:?}: {reason}")]
    BadSubnet {
        /// The subnet as given.
        subnet: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `other_config:exclude_ips` entry cannot be parsed, is a reversed
    /// range or lies outside the subnet.
    #[error("bad exclude_ips entry {spec:?}: {reason}")]
    BadExclude {
        /// The offending entry.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A MAC address or a `Logical_Switch_Port.addresses` entry is malformed.
    #[error("bad address {value:?}: {reason}")]
    BadAddress {
        /// The offending text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl IpamError {
    pub(crate) fn bad_address(value: &str, reason: impl Into<String>) -> IpamError {
        IpamError::BadAddress {
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn bad_exclude(spec: &str, reason: impl Into<String>) -> IpamError {
        IpamError::BadExclude {
            spec: spec.to_string(),
            reason: reason.into(),
        }
    }
}
