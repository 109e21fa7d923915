//! Ethernet MAC addresses, and the deterministic MAC of a port derived from
//! its IPv4 address (`0a:58:<4 ip bytes>`, as ovn-kubernetes does), so a
//! container's MAC never needs storing apart from its IP.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::IpamError;

/// A 48-bit Ethernet address. Displays as `0a:58:c0:a8:01:02`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr([u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// The address with these octets.
    pub const fn new(octets: [u8; 6]) -> MacAddr {
        MacAddr(octets)
    }

    /// The six octets.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Group bit (least significant bit of the first octet) set: multicast
    /// or broadcast, never a port's own address.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// `ff:ff:ff:ff:ff:ff`.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Locally administered bit set (second bit of the first octet), like
    /// the `0a:58:...` addresses of [`mac_for_ip`].
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// `00:00:00:00:00:00`.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// A usable unicast port address: neither multicast nor all zeros.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast() && !self.is_zero()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

impl FromStr for MacAddr {
    type Err = IpamError;

    /// Parses six colon-separated groups of exactly two hex digits, in either
    /// case (`0A:58:c0:a8:01:02`). Anything else is [`IpamError::BadAddress`].
    fn from_str(s: &str) -> Result<MacAddr, IpamError> {
        let groups: Vec<&str> = s.split(':').collect();
        if groups.len() != 6 {
            return Err(IpamError::bad_address(
                s,
                format!("MAC has {} colon-separated groups, want 6", groups.len()),
            ));
        }
        let mut octets = [0u8; 6];
        for (octet, group) in octets.iter_mut().zip(groups) {
            if group.len() != 2 || !group.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(IpamError::bad_address(
                    s,
                    format!("MAC group {group:?} is not two hex digits"),
                ));
            }
            *octet = u8::from_str_radix(group, 16)
                .map_err(|e| IpamError::bad_address(s, format!("MAC group {group:?}: {e}")))?;
        }
        Ok(MacAddr(octets))
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> MacAddr {
        MacAddr(octets)
    }
}

/// The MAC of the port holding `ip`: `0a:58:` followed by the four IP bytes
/// (locally administered unicast; same scheme as ovn-kubernetes).
pub fn mac_for_ip(ip: Ipv4Addr) -> MacAddr {
    let [a, b, c, d] = ip.octets();
    MacAddr([0x0a, 0x58, a, b, c, d])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_of_an_ip_is_0a_58_and_the_ip_bytes() {
        let cases = [
            ("192.168.1.2", "0a:58:c0:a8:01:02"),
            ("10.0.0.1", "0a:58:0a:00:00:01"),
            ("255.255.255.254", "0a:58:ff:ff:ff:fe"),
        ];
        for (ip, want) in cases {
            let mac = mac_for_ip(ip.parse().unwrap());
            assert_eq!(mac.to_string(), want, "{ip}");
            assert!(mac.is_local() && mac.is_unicast(), "{ip}");
        }
    }

    #[test]
    fn macs_parse_in_either_case_and_print_lowercase() {
        let mac: MacAddr = "0A:58:C0:a8:01:02".parse().unwrap();
        assert_eq!(mac.octets(), [0x0a, 0x58, 0xc0, 0xa8, 0x01, 0x02]);
        assert_eq!(mac.to_string(), "0a:58:c0:a8:01:02");
        assert_eq!(format!("{mac:?}"), "MacAddr(0a:58:c0:a8:01:02)");
        assert_eq!(mac.to_string().parse::<MacAddr>().unwrap(), mac);
    }

    #[test]
    fn malformed_macs_are_rejected_with_a_reason() {
        let cases = [
            ("", "1 colon-separated groups"),
            ("0a:58:c0:a8:01", "5 colon-separated groups"),
            ("0a:58:c0:a8:01:02:03", "7 colon-separated groups"),
            ("0a:58:c0:a8:01:2", "two hex digits"),
            ("0a:58:c0:a8:01:0g", "two hex digits"),
            ("0a-58-c0-a8-01-02", "1 colon-separated groups"),
            ("+a:58:c0:a8:01:02", "two hex digits"),
            (" 0a:58:c0:a8:01:02", "two hex digits"),
        ];
        for (text, reason) in cases {
            match text.parse::<MacAddr>() {
                Err(IpamError::BadAddress { value, reason: r }) => {
                    assert_eq!(value, text);
                    assert!(r.contains(reason), "{text:?}: {r}");
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn multicast_broadcast_and_zero_are_classified() {
        let table = [
            ("01:00:5e:00:00:01", true, false, false),
            ("ff:ff:ff:ff:ff:ff", true, true, false),
            ("00:00:00:00:00:00", false, false, true),
            ("0a:00:00:00:01:02", false, false, false),
        ];
        for (text, multicast, broadcast, zero) in table {
            let mac: MacAddr = text.parse().unwrap();
            assert_eq!(mac.is_multicast(), multicast, "{text}");
            assert_eq!(mac.is_broadcast(), broadcast, "{text}");
            assert_eq!(mac.is_zero(), zero, "{text}");
            assert_eq!(mac.is_unicast(), !multicast && !zero, "{text}");
        }
    }
}
