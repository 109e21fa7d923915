//! The network attachment of a task, as the executor reads it from the
//! `TaskInfo`: `container.network_infos[0]` with the port's IP and the labels
//! of the contract in [`ovn::attachment`] (keys, defaults and names are
//! defined there, once, for the framework and the executor), validated into
//! an [`Attachment`] or refused with a one-line [`AttachmentError`].

use std::net::Ipv4Addr;

use mesos_proto::v1::{Labels, NetworkInfo, TaskInfo};
use ovn::ipam::MacAddr;

pub use ovn::attachment::{
    BRIDGE, DEFAULT_BRIDGE, DEFAULT_MTU, DNS_SEARCH, DNS_SERVERS, GATEWAY, LOGICAL_PORT,
    LOGICAL_SWITCH, MAC, MAX_DNS_SERVERS, MTU, MTU_RANGE, NETNS, PREFIX_LEN,
};

/// The longest DNS name (RFC 1035), the limit of each search domain.
const MAX_DOMAIN_LEN: usize = 253;

/// Why a task's attachment cannot be used. The message is one line, fit for
/// `TaskStatus.message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    /// The task has no `container.network_infos`.
    #[error("task has no container.network_infos[0]: no network attachment")]
    NoNetworkInfo,
    /// `ip_addresses[0].ip_address` is absent.
    #[error("network_infos[0] has no ip_addresses[0].ip_address")]
    MissingIp,
    /// The IP is not an IPv4 address.
    #[error("network_infos[0] ip_address {value:?} is not an IPv4 address")]
    BadIp { value: String },
    /// A required label is absent or empty.
    #[error("network_infos[0] lacks label {key}")]
    MissingLabel { key: &'static str },
    #[error("label {MAC}={value:?} is not a unicast MAC address")]
    BadMac { value: String },
    #[error("label {PREFIX_LEN}={value:?} is not a prefix length between 1 and 32")]
    BadPrefix { value: String },
    #[error("label {GATEWAY}={value:?} is not an IPv4 address in {ip}/{prefix_len}")]
    BadGateway {
        value: String,
        ip: Ipv4Addr,
        prefix_len: u8,
    },
    #[error(
        "label {MTU}={value:?} is not an MTU between {} and {}",
        MTU_RANGE.start(),
        MTU_RANGE.end()
    )]
    BadMtu { value: String },
    #[error("label {key}={value:?} is not a valid name")]
    BadName { key: &'static str, value: String },
    #[error("label {DNS_SEARCH}={value:?} is not a list of DNS domains separated by spaces")]
    BadDnsSearch { value: String },
    #[error("label {DNS_SERVERS}={value:?} is not a list of IPv4 addresses separated by commas")]
    BadDnsServers { value: String },
}

/// The task's DNS settings: it gets its own `/etc/resolv.conf`
/// ([`crate::resolv`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    /// The `search` line's domains (label [`DNS_SEARCH`]), at least one.
    pub search: Vec<String>,
    /// The nameservers (label [`DNS_SERVERS`]), in order; empty for the
    /// agent's own.
    pub servers: Vec<Ipv4Addr>,
}

/// A task's network attachment, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The logical switch port (`Interface external_ids:iface-id`).
    pub logical_port: String,
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mtu: u32,
    pub bridge: String,
    pub logical_switch: Option<String>,
    /// `NetworkInfo.name`.
    pub network: Option<String>,
    /// The task's own resolv.conf, with label [`DNS_SEARCH`]; None leaves
    /// the host's `/etc/resolv.conf` to the task.
    pub dns: Option<Dns>,
}

impl Attachment {
    /// Reads the attachment of `task` (see the module docs).
    pub fn from_task(task: &TaskInfo) -> Result<Attachment, AttachmentError> {
        let info = task
            .container
            .as_ref()
            .and_then(|c| c.network_infos.first())
            .ok_or(AttachmentError::NoNetworkInfo)?;
        Self::from_network_info(info)
    }

    /// Reads one `NetworkInfo`.
    pub fn from_network_info(info: &NetworkInfo) -> Result<Attachment, AttachmentError> {
        let label = |key: &'static str| label(info.labels.as_ref(), key);
        let required = |key: &'static str| label(key).ok_or(AttachmentError::MissingLabel { key });

        let ip_text = info
            .ip_addresses
            .first()
            .and_then(|a| a.ip_address.clone())
            .filter(|s| !s.trim().is_empty())
            .ok_or(AttachmentError::MissingIp)?;
        let ip: Ipv4Addr = ip_text
            .trim()
            .parse()
            .map_err(|_| AttachmentError::BadIp { value: ip_text })?;
        let logical_port = name(LOGICAL_PORT, required(LOGICAL_PORT)?)?;
        let mac_text = required(MAC)?;
        let mac: MacAddr = mac_text
            .trim()
            .parse()
            .ok()
            .filter(MacAddr::is_unicast)
            .ok_or(AttachmentError::BadMac { value: mac_text })?;
        let prefix_text = required(PREFIX_LEN)?;
        let prefix_len = prefix_text
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|p| (1..=32).contains(p))
            .ok_or(AttachmentError::BadPrefix { value: prefix_text })?;
        let gateway = match label(GATEWAY) {
            None => None,
            Some(value) => Some(
                value
                    .trim()
                    .parse::<Ipv4Addr>()
                    .ok()
                    .filter(|g| *g != ip && same_subnet(*g, ip, prefix_len))
                    .ok_or(AttachmentError::BadGateway {
                        value,
                        ip,
                        prefix_len,
                    })?,
            ),
        };
        let mtu = match label(MTU) {
            None => DEFAULT_MTU,
            Some(value) => value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|m| MTU_RANGE.contains(m))
                .ok_or(AttachmentError::BadMtu { value })?,
        };
        let bridge = match label(BRIDGE) {
            None => DEFAULT_BRIDGE.to_owned(),
            Some(value) => name(BRIDGE, value)?,
        };
        let dns = match label(DNS_SEARCH) {
            None => None,
            Some(search) => Some(Dns {
                search: dns_search(search)?,
                servers: label(DNS_SERVERS)
                    .map(dns_servers)
                    .transpose()?
                    .unwrap_or_default(),
            }),
        };
        Ok(Attachment {
            logical_port,
            mac,
            ip,
            prefix_len,
            gateway,
            mtu,
            bridge,
            logical_switch: label(LOGICAL_SWITCH),
            network: info.name.clone(),
            dns,
        })
    }
}

/// The domains of a `search` line, split at whitespace (they are written
/// back on one line, separated by single spaces): printable ASCII, each at
/// most 253 bytes. Their finer shape is the framework's business (tenant
/// names may hold `_`).
fn dns_search(value: String) -> Result<Vec<String>, AttachmentError> {
    let domains: Vec<String> = value.split_ascii_whitespace().map(str::to_owned).collect();
    let fine = |d: &String| d.len() <= MAX_DOMAIN_LEN && d.bytes().all(|b| b.is_ascii_graphic());
    if domains.is_empty() || !domains.iter().all(fine) {
        return Err(AttachmentError::BadDnsSearch { value });
    }
    Ok(domains)
}

/// Comma-separated IPv4 addresses, at least one.
fn dns_servers(value: String) -> Result<Vec<Ipv4Addr>, AttachmentError> {
    value
        .split(',')
        .map(|s| s.trim().parse::<Ipv4Addr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| AttachmentError::BadDnsServers { value })
}

/// The value of label `key`, if present and not empty.
pub fn label(labels: Option<&Labels>, key: &str) -> Option<String> {
    labels?
        .labels
        .iter()
        .find(|l| l.key == key)
        .and_then(|l| l.value.clone())
        .filter(|v| !v.trim().is_empty())
}

/// A port or bridge name: no whitespace or control characters, at most 255 bytes.
fn name(key: &'static str, value: String) -> Result<String, AttachmentError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 255 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AttachmentError::BadName { key, value });
    }
    Ok(v.to_owned())
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix_len: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests {
    use mesos_proto::v1::{network_info::IpAddress, ContainerInfo, Label};

    use super::*;

    fn info(ip: Option<&str>, labels: &[(&str, &str)]) -> NetworkInfo {
        NetworkInfo {
            name: Some("ovn".into()),
            ip_addresses: ip
                .map(|ip| IpAddress {
                    ip_address: Some(ip.into()),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            labels: Some(Labels {
                labels: labels
                    .iter()
                    .map(|(k, v)| Label {
                        key: (*k).into(),
                        value: Some((*v).into()),
                    })
                    .collect(),
            }),
            ..Default::default()
        }
    }

    const GOOD: [(&str, &str); 5] = [
        (LOGICAL_PORT, "coke1-task-1"),
        (MAC, "0a:58:c0:a8:01:02"),
        (PREFIX_LEN, "24"),
        (GATEWAY, "192.168.1.1"),
        (LOGICAL_SWITCH, "coke1"),
    ];

    fn with(key: &str, value: &str) -> Vec<(String, String)> {
        GOOD.iter()
            .filter(|(k, _)| *k != key)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .chain((!value.is_empty()).then(|| (key.to_owned(), value.to_owned())))
            .collect()
    }

    fn parse(
        ip: Option<&str>,
        labels: Vec<(String, String)>,
    ) -> Result<Attachment, AttachmentError> {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Attachment::from_network_info(&info(ip, &pairs))
    }

    #[test]
    fn a_complete_attachment_is_read_with_defaults() {
        let task = TaskInfo {
            container: Some(ContainerInfo {
                network_infos: vec![info(Some("192.168.1.2"), &GOOD)],
                ..Default::default()
            }),
            ..Default::default()
        };
        let a = Attachment::from_task(&task).unwrap();
        assert_eq!(a.logical_port, "coke1-task-1");
        assert_eq!(a.mac.to_string(), "0a:58:c0:a8:01:02");
        assert_eq!((a.ip, a.prefix_len), (Ipv4Addr::new(192, 168, 1, 2), 24));
        assert_eq!(a.gateway, Some(Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!((a.mtu, a.bridge.as_str()), (1400, "br-int"));
        assert_eq!(a.logical_switch.as_deref(), Some("coke1"));
        assert_eq!(a.network.as_deref(), Some("ovn"));
    }

    #[test]
    fn a_task_without_network_infos_has_no_attachment() {
        assert_eq!(
            Attachment::from_task(&TaskInfo::default()),
            Err(AttachmentError::NoNetworkInfo)
        );
    }

    #[test]
    fn each_bad_field_has_its_own_one_line_error() {
        type Case<'a> = (Option<&'a str>, Vec<(String, String)>, AttachmentError);
        let table: Vec<Case> = vec![
            (None, with("", ""), AttachmentError::MissingIp),
            (
                Some("192.168.1"),
                with("", ""),
                AttachmentError::BadIp {
                    value: "192.168.1".into(),
                },
            ),
            (
                Some("192.168.1.2"),
                with(MAC, ""),
                AttachmentError::MissingLabel { key: MAC },
            ),
            (
                Some("192.168.1.2"),
                with(LOGICAL_PORT, ""),
                AttachmentError::MissingLabel { key: LOGICAL_PORT },
            ),
            (
                Some("192.168.1.2"),
                with(MAC, "0a:58:zz:a8:01:02"),
                AttachmentError::BadMac {
                    value: "0a:58:zz:a8:01:02".into(),
                },
            ),
            (
                Some("192.168.1.2"),
                with(MAC, "01:00:5e:00:00:01"),
                AttachmentError::BadMac {
                    value: "01:00:5e:00:00:01".into(),
                },
            ),
            (
                Some("192.168.1.2"),
                with(PREFIX_LEN, "33"),
                AttachmentError::BadPrefix { value: "33".into() },
            ),
            (
                Some("192.168.1.2"),
                with(GATEWAY, "10.0.0.1"),
                AttachmentError::BadGateway {
                    value: "10.0.0.1".into(),
                    ip: Ipv4Addr::new(192, 168, 1, 2),
                    prefix_len: 24,
                },
            ),
            (
                Some("192.168.1.2"),
                with(MTU, "9"),
                AttachmentError::BadMtu { value: "9".into() },
            ),
            (
                Some("192.168.1.2"),
                with(BRIDGE, "br int"),
                AttachmentError::BadName {
                    key: BRIDGE,
                    value: "br int".into(),
                },
            ),
        ];
        for (ip, labels, want) in table {
            let got = parse(ip, labels).unwrap_err();
            assert_eq!(got, want);
            assert!(!got.to_string().contains('\n'), "{got}");
        }
    }

    #[test]
    fn dns_labels_give_the_task_its_own_resolv_conf() {
        let a = parse(Some("192.168.1.2"), with("", "")).unwrap();
        assert_eq!(a.dns, None, "no search label: the host's resolv.conf stays");
        let mut labels = with(DNS_SEARCH, " coke.ovn-mesos  ovn-mesos ");
        labels.push((DNS_SERVERS.into(), "10.0.0.2, 10.0.0.3".into()));
        let a = parse(Some("192.168.1.2"), labels).unwrap();
        assert_eq!(
            a.dns,
            Some(Dns {
                search: vec!["coke.ovn-mesos".into(), "ovn-mesos".into()],
                servers: vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)],
            })
        );
        let a = parse(Some("192.168.1.2"), with(DNS_SEARCH, "coke_1.ovn-mesos")).unwrap();
        assert_eq!(
            a.dns.map(|d| d.servers),
            Some(vec![]),
            "servers: the agent's"
        );
        let a = parse(Some("192.168.1.2"), with(DNS_SERVERS, "10.0.0.2")).unwrap();
        assert_eq!(a.dns, None, "servers without a search line are ignored");
    }

    #[test]
    fn bad_dns_labels_are_refused_naming_the_label() {
        let mut servers = with(DNS_SEARCH, "coke.ovn-mesos");
        servers.push((DNS_SERVERS.into(), "10.0.0.2,dns.example".into()));
        let long = format!("{}.ovn-mesos", "a".repeat(250));
        for (labels, want) in [
            (
                servers,
                AttachmentError::BadDnsServers {
                    value: "10.0.0.2,dns.example".into(),
                },
            ),
            (
                with(DNS_SEARCH, "cöke.ovn-mesos"),
                AttachmentError::BadDnsSearch {
                    value: "cöke.ovn-mesos".into(),
                },
            ),
            (
                with(DNS_SEARCH, &long),
                AttachmentError::BadDnsSearch {
                    value: long.clone(),
                },
            ),
        ] {
            let got = parse(Some("192.168.1.2"), labels).unwrap_err();
            assert_eq!(got, want);
            let text = got.to_string();
            assert!(text.starts_with("label ovn-mesos/dns-"), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
    }

    #[test]
    fn mtu_and_bridge_labels_override_the_defaults() {
        let mut labels = with(MTU, "1442");
        labels.push((BRIDGE.into(), "br-alt".into()));
        let a = parse(
            Some("10.0.0.5"),
            labels.into_iter().filter(|(k, _)| k != GATEWAY).collect(),
        )
        .unwrap();
        assert_eq!(
            (a.mtu, a.bridge.as_str(), a.gateway),
            (1442, "br-alt", None)
        );
    }
}
