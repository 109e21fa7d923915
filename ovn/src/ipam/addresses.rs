//! One entry of `Logical_Switch_Port.addresses` (see ovn-nb(5)), parsed:
//! `"MAC [IP[/PLEN]...]"`, `"router"`, `"dynamic"`, `"MAC dynamic"`,
//! `"unknown"`. What `ovn-nbctl lsp-set-addresses` writes.

use std::fmt;
use std::net::IpAddr;

use super::{IpamError, MacAddr};

/// The meaning of one `addresses` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LspAddresses {
    /// `"MAC IP..."`: a fixed MAC and zero or more IPv4/IPv6 addresses (a
    /// `/PLEN` suffix is accepted and dropped, as northd ignores it here).
    Static { mac: MacAddr, ips: Vec<IpAddr> },
    /// `"router"`: the addresses of the peer logical router port.
    Router,
    /// `"dynamic"`: northd picks the MAC and an IP from the switch's subnet.
    Dynamic,
    /// `"MAC dynamic"`: fixed MAC, northd picks the IP.
    DynamicWithMac(MacAddr),
    /// `"unknown"`: the port also receives frames for unknown MACs.
    Unknown,
}

impl fmt::Display for LspAddresses {
    /// The `addresses` entry text, e.g. `0a:58:c0:a8:01:02 192.168.1.2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LspAddresses::Static { mac, ips } => {
                write!(f, "{mac}")?;
                for ip in ips {
                    write!(f, " {ip}")?;
                }
                Ok(())
            }
            LspAddresses::Router => f.write_str("router"),
            LspAddresses::Dynamic => f.write_str("dynamic"),
            LspAddresses::DynamicWithMac(mac) => write!(f, "{mac} dynamic"),
            LspAddresses::Unknown => f.write_str("unknown"),
        }
    }
}

/// Parses one entry of `Logical_Switch_Port.addresses`. A malformed MAC or IP,
/// a multicast MAC, a keyword with extra words, or an empty entry is
/// [`IpamError::BadAddress`].
pub fn parse_lsp_addresses(s: &str) -> Result<LspAddresses, IpamError> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let Some((&first, rest)) = words.split_first() else {
        return Err(IpamError::bad_address(s, "empty addresses entry"));
    };
    let keyword = match first {
        "router" => Some(LspAddresses::Router),
        "dynamic" => Some(LspAddresses::Dynamic),
        "unknown" => Some(LspAddresses::Unknown),
        _ => None,
    };
    if let Some(keyword) = keyword {
        if !rest.is_empty() {
            return Err(IpamError::bad_address(
                s,
                format!("nothing may follow the keyword {first:?}"),
            ));
        }
        return Ok(keyword);
    }
    let mac: MacAddr = first.parse().map_err(|e| match e {
        IpamError::BadAddress { reason, .. } => IpamError::bad_address(s, reason),
        other => other,
    })?;
    if !mac.is_unicast() {
        return Err(IpamError::bad_address(
            s,
            format!("{mac} is not a unicast MAC"),
        ));
    }
    if rest == ["dynamic"] {
        return Ok(LspAddresses::DynamicWithMac(mac));
    }
    let ips = rest
        .iter()
        .map(|word| parse_ip(s, word))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LspAddresses::Static { mac, ips })
}

/// `IP` or `IP/PLEN` with a prefix length valid for the family.
fn parse_ip(entry: &str, word: &str) -> Result<IpAddr, IpamError> {
    let (addr, plen) = match word.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (word, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| IpamError::bad_address(entry, format!("{word:?} is not an IP address")))?;
    if let Some(plen) = plen {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        match plen.parse::<u8>() {
            Ok(p) if p <= max => {}
            _ => {
                return Err(IpamError::bad_address(
                    entry,
                    format!("{word:?} has a bad prefix length (0..={max})"),
                ))
            }
        }
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_kind_of_entry_is_parsed() {
        let table: Vec<(&str, LspAddresses)> = vec![
            ("router", LspAddresses::Router),
            ("dynamic", LspAddresses::Dynamic),
            ("unknown", LspAddresses::Unknown),
            ("  unknown  ", LspAddresses::Unknown),
            (
                "0a:58:c0:a8:01:02 dynamic",
                LspAddresses::DynamicWithMac(mac("0a:58:c0:a8:01:02")),
            ),
            (
                "0a:58:c0:a8:01:02 192.168.1.2",
                LspAddresses::Static {
                    mac: mac("0a:58:c0:a8:01:02"),
                    ips: vec!["192.168.1.2".parse().unwrap()],
                },
            ),
            (
                "0a:00:00:00:01:02 192.168.1.2/24 fd00::2",
                LspAddresses::Static {
                    mac: mac("0a:00:00:00:01:02"),
                    ips: vec!["192.168.1.2".parse().unwrap(), "fd00::2".parse().unwrap()],
                },
            ),
            (
                "0a:00:00:00:01:02",
                LspAddresses::Static {
                    mac: mac("0a:00:00:00:01:02"),
                    ips: vec![],
                },
            ),
        ];
        for (text, want) in table {
            assert_eq!(parse_lsp_addresses(text).unwrap(), want, "{text:?}");
        }
    }

    #[test]
    fn bad_entries_are_errors_naming_the_entry_and_the_reason() {
        let table = [
            ("", "empty"),
            ("   ", "empty"),
            ("router 10.0.0.1", "nothing may follow"),
            ("dynamic 192.168.1.5", "nothing may follow"),
            ("0a:58:c0:a8:01 192.168.1.2", "5 colon-separated groups"),
            ("zz:58:c0:a8:01:02 192.168.1.2", "two hex digits"),
            ("0a:58:c0:a8:01:02 192.168.1.300", "not an IP address"),
            ("0a:58:c0:a8:01:02 192.168.1.2 dynamic", "not an IP address"),
            ("0a:58:c0:a8:01:02 192.168.1.2/33", "bad prefix length"),
            ("0a:58:c0:a8:01:02 fd00::2/129", "bad prefix length"),
            ("01:00:5e:00:00:01 224.0.0.1", "not a unicast MAC"),
            ("00:00:00:00:00:00 10.0.0.2", "not a unicast MAC"),
        ];
        for (text, reason) in table {
            match parse_lsp_addresses(text) {
                Err(IpamError::BadAddress { value, reason: r }) => {
                    assert_eq!(value, text);
                    assert!(r.contains(reason), "{text:?}: {r}");
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn entries_print_back_as_nb_text() {
        for text in [
            "router",
            "dynamic",
            "unknown",
            "0a:58:c0:a8:01:02 dynamic",
            "0a:58:c0:a8:01:02 192.168.1.2 fd00::2",
            "0a:58:c0:a8:01:02",
        ] {
            assert_eq!(parse_lsp_addresses(text).unwrap().to_string(), text);
        }
    }
}
