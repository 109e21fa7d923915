//! `ethtool -K <iface> tx off` as one `SIOCETHTOOL` ioctl (`ETHTOOL_STXCSUM`),
//! and its read-back (`ETHTOOL_GTXCSUM`).
//!
//! Why: with the OVS userspace (netdev) datapath, packets read from a veth
//! carry CHECKSUM_PARTIAL and their TCP/UDP checksum is never filled in, so
//! TCP fails unless the sender inside the container computes checksums itself
//! (see docs/ovn-here.md; with geneve tunnels userspace TSO is no alternative).
//! Turning tx checksum offload off also turns off the offloads that depend on
//! it (TSO, GSO for TCP).
//!
//! The ioctl acts on the network namespace of the socket it is issued on, so
//! call these on a thread inside the container's namespace
//! ([`crate::netns::run_in`]).
//!
//! This is the only module with `unsafe`: the `ioctl` call itself.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// `SIOCETHTOOL` from `<linux/sockios.h>`.
const SIOCETHTOOL: u64 = 0x8946;
/// `ETHTOOL_GTXCSUM` / `ETHTOOL_STXCSUM` from `<linux/ethtool.h>`.
const ETHTOOL_GTXCSUM: u32 = 0x16;
const ETHTOOL_STXCSUM: u32 = 0x17;

/// `struct ethtool_value`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// `struct ifreq` with the `ifr_data` member of its union (40 bytes on 64-bit).
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: *mut EthtoolValue,
    _rest_of_union: [u8; 16],
}

/// Sets tx checksum offload of `iface` (in the calling thread's namespace).
pub fn set_tx_checksum(iface: &str, on: bool) -> io::Result<()> {
    ethtool_value(iface, ETHTOOL_STXCSUM, u32::from(on)).map(drop)
}

/// Whether tx checksum offload of `iface` is on.
pub fn tx_checksum(iface: &str) -> io::Result<bool> {
    ethtool_value(iface, ETHTOOL_GTXCSUM, 0).map(|v| v != 0)
}

fn ethtool_value(iface: &str, cmd: u32, data: u32) -> io::Result<u32> {
    let bytes = iface.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {iface:?}"),
        ));
    }
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)?;
    let mut value = EthtoolValue { cmd, data };
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: &mut value,
        _rest_of_union: [0; 16],
    };
    req.name[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: `sock` is an open socket for the whole call; `req` is a valid,
    // NUL-terminated `struct ifreq` whose `ifr_data` points at `value`, a valid
    // `struct ethtool_value`; both outlive the call, and for GTXCSUM/STXCSUM the
    // kernel reads/writes exactly that struct and nothing else.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut req as *mut IfReq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_has_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        assert_eq!(std::mem::size_of::<EthtoolValue>(), 8);
    }

    #[test]
    fn a_missing_or_bad_interface_is_an_error() {
        assert!(tx_checksum("ovnm-no-such").is_err());
        let e = set_tx_checksum("a-name-much-too-long-for-linux", false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn loopback_reports_its_tx_checksum_setting() {
        // `lo` exists in every namespace; it supports the query.
        assert!(tx_checksum("lo").is_ok());
    }
}
