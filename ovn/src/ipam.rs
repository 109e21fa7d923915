//! Pure IPv4 address management per logical switch (no I/O).
//!
//! Like ovn-northd's dynamic addressing and ovn-kubernetes'
//! `pkg/allocator/ip`: the switch's `other_config:subnet` gives the range, the
//! network and broadcast addresses and the first host (x.x.x.1, the router
//! port) are reserved, `other_config:exclude_ips` removes addresses from
//! dynamic allocation, and [`SubnetIpam::allocate`] hands out the next free
//! address after the last one given (next-fit), so a released address is not
//! reused at once. One bit per address in `u64` words; searches skip full
//! words, so subnets up to /8 stay fast with tens of thousands of ports.

mod addresses;
mod bitmap;
mod error;
mod mac;

use std::net::Ipv4Addr;

pub use addresses::{parse_lsp_addresses, LspAddresses};
pub use error::IpamError;
use ipnetwork::Ipv4Network;
pub use mac::{mac_for_ip, MacAddr};

use bitmap::Bitmap;

/// Largest subnet accepted (/8: 16 Mi addresses, a 2 MiB bitmap per map).
pub const MIN_PREFIX: u8 = 8;

/// Parses `other_config:subnet` (`"192.168.1.0/24"`); host bits are dropped.
pub fn parse_subnet(s: &str) -> Result<Ipv4Network, IpamError> {
    let net: Ipv4Network = s.trim().parse().map_err(|e| IpamError::BadSubnet {
        subnet: s.to_string(),
        reason: format!("{e}"),
    })?;
    Ok(net)
}

/// The addresses of one switch subnet: which are allocated to ports, which
/// are excluded from dynamic allocation, and where the next search starts.
#[derive(Debug, Clone)]
pub struct SubnetIpam {
    subnet: Ipv4Network,
    /// Network address as an integer; bit `i` is address `base + i`.
    base: u32,
    /// Number of addresses in the subnet.
    size: u32,
    /// Addresses held by ports.
    taken: Bitmap,
    /// Addresses `allocate` must skip: reserved and excluded.
    blocked: Bitmap,
    /// Addresses `allocate` could still hand out.
    free: usize,
    /// Where the next `allocate` starts searching.
    cursor: u32,
}

impl SubnetIpam {
    /// An empty allocator for `subnet` (host bits dropped). Subnets without a
    /// usable host besides the router (/31, /32) and subnets larger than /8
    /// are [`IpamError::BadSubnet`].
    pub fn new(subnet: Ipv4Network) -> Result<SubnetIpam, IpamError> {
        let prefix = subnet.prefix();
        let bad = |reason: String| IpamError::BadSubnet {
            subnet: subnet.to_string(),
            reason,
        };
        if prefix > 30 {
            return Err(bad(format!(
                "a /{prefix} has no usable host address besides the router (need /30 or larger)"
            )));
        }
        if prefix < MIN_PREFIX {
            return Err(bad(format!(
                "a /{prefix} is too large (at most /{MIN_PREFIX})"
            )));
        }
        let subnet = Ipv4Network::new(subnet.network(), prefix).map_err(|e| bad(e.to_string()))?;
        let size = 1u32 << (32 - prefix);
        let mut blocked = Bitmap::new(size);
        for i in [0, 1, size - 1] {
            blocked.set(i);
        }
        Ok(SubnetIpam {
            subnet,
            base: u32::from(subnet.network()),
            size,
            taken: Bitmap::new(size),
            blocked,
            free: size as usize - 3,
            cursor: 0,
        })
    }

    /// An allocator from a switch's `other_config:subnet` and optional
    /// `other_config:exclude_ips`.
    pub fn from_config(subnet: &str, exclude_ips: Option<&str>) -> Result<SubnetIpam, IpamError> {
        let mut ipam = SubnetIpam::new(parse_subnet(subnet)?)?;
        if let Some(spec) = exclude_ips {
            ipam.exclude(spec)?;
        }
        Ok(ipam)
    }

    /// The subnet, host bits cleared.
    pub fn subnet(&self) -> Ipv4Network {
        self.subnet
    }

    /// The first host (x.x.x.1), reserved for the logical router port.
    pub fn router_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// Removes addresses from dynamic allocation, in `other_config:exclude_ips`
    /// syntax: space-separated IPs and `A..B` ranges (inclusive), e.g.
    /// `"10.0.0.2 10.0.0.10..10.0.0.20"`. All entries are checked before any
    /// is applied. Excluded addresses can still be taken with
    /// [`Self::mark_used`] / [`Self::allocate_specific`] (static addresses).
    pub fn exclude(&mut self, spec: &str) -> Result<(), IpamError> {
        let ranges = spec
            .split_whitespace()
            .map(|entry| self.parse_exclude(entry))
            .collect::<Result<Vec<_>, _>>()?;
        for (lo, hi) in ranges {
            let newly = self.blocked.set_range(lo, hi, &self.taken);
            self.free -= newly as usize;
        }
        Ok(())
    }

    /// Records that a port already holds `ip` (e.g. found in the NB at
    /// start-up). [`IpamError::NotInRange`], [`IpamError::Reserved`] or
    /// [`IpamError::AlreadyAllocated`] if it cannot be held.
    pub fn mark_used(&mut self, ip: Ipv4Addr) -> Result<(), IpamError> {
        let i = self.index_for_port(ip)?;
        if !self.taken.set(i) {
            return Err(IpamError::AlreadyAllocated { ip });
        }
        if !self.blocked.get(i) {
            self.free -= 1;
        }
        Ok(())
    }

    /// The next free address after the last one allocated (wrapping round),
    /// skipping network, broadcast, router and excluded addresses.
    /// [`IpamError::Full`] when none is left.
    pub fn allocate(&mut self) -> Result<Ipv4Addr, IpamError> {
        let full = || IpamError::Full {
            subnet: self.subnet,
        };
        if self.free == 0 {
            return Err(full());
        }
        let i = self
            .taken
            .first_clear_in_both(&self.blocked, self.cursor, self.size)
            .or_else(|| {
                self.taken
                    .first_clear_in_both(&self.blocked, 0, self.cursor)
            })
            .ok_or_else(full)?;
        self.taken.set(i);
        self.free -= 1;
        self.cursor = (i + 1) % self.size;
        Ok(Ipv4Addr::from(self.base + i))
    }

    /// Takes the requested address `ip` for a port (a static address); same
    /// checks as [`Self::mark_used`]. Does not move the next-fit cursor.
    pub fn allocate_specific(&mut self, ip: Ipv4Addr) -> Result<(), IpamError> {
        self.mark_used(ip)
    }

    /// Frees `ip`; true if it was allocated. It becomes allocatable again
    /// (unless excluded) once the cursor comes round to it.
    pub fn release(&mut self, ip: Ipv4Addr) -> bool {
        let Some(i) = self.index(ip) else {
            return false;
        };
        if !self.taken.clear(i) {
            return false;
        }
        if !self.blocked.get(i) {
            self.free += 1;
        }
        true
    }

    /// Whether a port holds `ip` (through allocate, allocate_specific or
    /// mark_used). Reserved and merely excluded addresses are not "used".
    pub fn is_used(&self, ip: Ipv4Addr) -> bool {
        self.index(ip).is_some_and(|i| self.taken.get(i))
    }

    /// Whether `allocate` skips `ip` because of `exclude` or because it is the
    /// network, broadcast or router address.
    pub fn is_excluded(&self, ip: Ipv4Addr) -> bool {
        self.index(ip).is_some_and(|i| self.blocked.get(i))
    }

    /// How many addresses [`Self::allocate`] can still hand out.
    pub fn free_count(&self) -> usize {
        self.free
    }

    /// Offset of `ip` in the subnet, if inside.
    fn index(&self, ip: Ipv4Addr) -> Option<u32> {
        self.subnet.contains(ip).then(|| u32::from(ip) - self.base)
    }

    /// Offset of `ip` if a port may hold it (in range, not reserved).
    fn index_for_port(&self, ip: Ipv4Addr) -> Result<u32, IpamError> {
        let subnet = self.subnet;
        let i = self.index(ip).ok_or(IpamError::NotInRange { ip, subnet })?;
        let what = match i {
            0 => "network address",
            1 => "router address",
            i if i == self.size - 1 => "broadcast address",
            _ => return Ok(i),
        };
        Err(IpamError::Reserved { ip, subnet, what })
    }

    /// One `exclude_ips` entry as an inclusive offset range.
    fn parse_exclude(&self, entry: &str) -> Result<(u32, u32), IpamError> {
        let addr = |s: &str| -> Result<u32, IpamError> {
            let ip: Ipv4Addr = s.parse().map_err(|_| {
                IpamError::bad_exclude(entry, format!("{s:?} is not an IPv4 address"))
            })?;
            self.index(ip).ok_or_else(|| {
                IpamError::bad_exclude(entry, format!("{ip} is outside {}", self.subnet))
            })
        };
        let (lo, hi) = match entry.split_once("..") {
            Some((a, b)) => (addr(a)?, addr(b)?),
            None => {
                let i = addr(entry)?;
                (i, i)
            }
        };
        if lo > hi {
            return Err(IpamError::bad_exclude(
                entry,
                "range start is after its end",
            ));
        }
        Ok((lo, hi))
    }
}

#[cfg(test)]
mod tests;
