//! Table-driven tests of [`SubnetIpam`]: reservation, exclusion, next-fit
//! order, exhaustion and large subnets.

use std::net::Ipv4Addr;

use super::*;

fn ipam(subnet: &str) -> SubnetIpam {
    SubnetIpam::new(subnet.parse().unwrap()).unwrap()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn allocate_all(ipam: &mut SubnetIpam) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(ip) = ipam.allocate() {
        out.push(ip.to_string());
    }
    out
}

#[test]
fn a_slash_30_has_exactly_one_allocatable_host_then_is_full() {
    let mut ipam = ipam("10.0.0.0/30");
    assert_eq!(ipam.free_count(), 1);
    assert_eq!(ipam.router_ip(), ip("10.0.0.1"));
    assert_eq!(ipam.allocate().unwrap(), ip("10.0.0.2"));
    assert_eq!(ipam.free_count(), 0);
    assert_eq!(
        ipam.allocate(),
        Err(IpamError::Full {
            subnet: "10.0.0.0/30".parse().unwrap()
        })
    );
}

#[test]
fn exhausting_a_slash_29_gives_an_error_naming_the_subnet() {
    let mut ipam = ipam("192.168.7.0/29");
    let got = allocate_all(&mut ipam);
    assert_eq!(
        got,
        [
            "192.168.7.2",
            "192.168.7.3",
            "192.168.7.4",
            "192.168.7.5",
            "192.168.7.6"
        ]
    );
    let err = ipam.allocate().unwrap_err();
    assert!(matches!(err, IpamError::Full { .. }));
    assert_eq!(
        err.to_string(),
        "subnet 192.168.7.0/29 is full: no free address left to allocate"
    );
}

#[test]
fn subnets_without_hosts_or_larger_than_slash_8_are_rejected() {
    let table = [
        ("10.0.0.0/31", "no usable host"),
        ("10.0.0.1/32", "no usable host"),
        ("10.0.0.0/7", "too large"),
        ("0.0.0.0/0", "too large"),
    ];
    for (subnet, reason) in table {
        match SubnetIpam::new(subnet.parse().unwrap()) {
            Err(IpamError::BadSubnet { reason: r, .. }) => {
                assert!(r.contains(reason), "{subnet}: {r}")
            }
            other => panic!("{subnet} gave {other:?}"),
        }
    }
    assert!(matches!(
        SubnetIpam::from_config("10.0.0.0/33", None),
        Err(IpamError::BadSubnet { .. })
    ));
    assert!(matches!(
        SubnetIpam::from_config("not-a-subnet", None),
        Err(IpamError::BadSubnet { .. })
    ));
}

#[test]
fn host_bits_of_the_subnet_are_dropped() {
    let ipam = ipam("192.168.1.77/24");
    assert_eq!(ipam.subnet().to_string(), "192.168.1.0/24");
    assert_eq!(ipam.router_ip(), ip("192.168.1.1"));
}

#[test]
fn excluded_ips_and_ranges_are_never_allocated() {
    let mut ipam = ipam("10.0.0.0/28");
    ipam.exclude("10.0.0.3 10.0.0.5..10.0.0.12").unwrap();
    // 16 - network - broadcast - router - 1 - 8 = 4
    assert_eq!(ipam.free_count(), 4);
    assert!(ipam.is_excluded(ip("10.0.0.12")));
    assert!(!ipam.is_used(ip("10.0.0.12")));
    assert_eq!(
        allocate_all(&mut ipam),
        ["10.0.0.2", "10.0.0.4", "10.0.0.13", "10.0.0.14"]
    );
    assert_eq!(ipam.free_count(), 0);
}

#[test]
fn excluding_twice_or_over_used_addresses_keeps_the_count_right() {
    let mut ipam = ipam("10.0.0.0/28");
    ipam.mark_used(ip("10.0.0.6")).unwrap();
    assert_eq!(ipam.free_count(), 12);
    ipam.exclude("10.0.0.4..10.0.0.8").unwrap();
    assert_eq!(ipam.free_count(), 8);
    ipam.exclude("10.0.0.0..10.0.0.8 10.0.0.8").unwrap();
    assert_eq!(ipam.free_count(), 6);
    // Releasing an excluded address does not make it allocatable.
    assert!(ipam.release(ip("10.0.0.6")));
    assert_eq!(ipam.free_count(), 6);
    ipam.exclude("").unwrap();
    assert_eq!(allocate_all(&mut ipam).len(), 6);
}

#[test]
fn bad_exclude_entries_are_rejected_and_nothing_is_applied() {
    let table = [
        ("10.0.0.2 10.0.0.x", "10.0.0.x", "not an IPv4 address"),
        (
            "10.0.0.9..10.0.0.3",
            "10.0.0.9..10.0.0.3",
            "start is after its end",
        ),
        ("10.0.0.2 10.0.1.5", "10.0.1.5", "outside 10.0.0.0/24"),
        ("10.0.0.2..10.0.1.5", "10.0.0.2..10.0.1.5", "outside"),
        (
            "10.0.0.2,10.0.0.3",
            "10.0.0.2,10.0.0.3",
            "not an IPv4 address",
        ),
        (
            "10.0.0.2...10.0.0.3",
            "10.0.0.2...10.0.0.3",
            "not an IPv4 address",
        ),
    ];
    for (spec, entry, reason) in table {
        let mut ipam = ipam("10.0.0.0/24");
        match ipam.exclude(spec) {
            Err(IpamError::BadExclude { spec: s, reason: r }) => {
                assert_eq!(s, entry, "{spec}");
                assert!(r.contains(reason), "{spec}: {r}");
            }
            other => panic!("{spec} gave {other:?}"),
        }
        assert_eq!(ipam.free_count(), 253, "{spec} changed the allocator");
    }
}

#[test]
fn the_router_network_and_broadcast_addresses_are_never_handed_out() {
    for subnet in ["10.0.0.0/30", "10.0.0.0/29", "172.16.0.0/26"] {
        let mut ipam = ipam(subnet);
        let router = ipam.router_ip();
        let got = allocate_all(&mut ipam);
        let net = ipam.subnet();
        assert_eq!(got.len(), net.size() as usize - 3, "{subnet}");
        for bad in [router, net.network(), net.broadcast()] {
            assert!(
                !got.contains(&bad.to_string()),
                "{subnet}: {bad} handed out"
            );
        }
    }
    let mut ipam = ipam("10.0.0.0/24");
    let table = [
        ("10.0.0.0", "network address"),
        ("10.0.0.1", "router address"),
        ("10.0.0.255", "broadcast address"),
    ];
    for (addr, what) in table {
        assert_eq!(
            ipam.allocate_specific(ip(addr)),
            Err(IpamError::Reserved {
                ip: ip(addr),
                subnet: "10.0.0.0/24".parse().unwrap(),
                what
            })
        );
    }
}

#[test]
fn allocation_is_next_fit_and_skips_a_just_released_address() {
    let mut ipam = ipam("10.0.0.0/24");
    let first: Vec<_> = (0..3)
        .map(|_| ipam.allocate().unwrap().to_string())
        .collect();
    assert_eq!(first, ["10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    assert!(ipam.release(ip("10.0.0.3")));
    assert!(!ipam.is_used(ip("10.0.0.3")));
    assert_eq!(ipam.allocate().unwrap(), ip("10.0.0.5"));
    // A specific allocation does not move the cursor.
    ipam.allocate_specific(ip("10.0.0.100")).unwrap();
    assert_eq!(ipam.allocate().unwrap(), ip("10.0.0.6"));
    // Used addresses ahead of the cursor are skipped.
    ipam.mark_used(ip("10.0.0.7")).unwrap();
    assert_eq!(ipam.allocate().unwrap(), ip("10.0.0.8"));
}

#[test]
fn a_released_address_is_reused_after_the_cursor_wraps() {
    let mut ipam = ipam("10.9.0.0/29");
    assert_eq!(allocate_all(&mut ipam).len(), 5);
    assert!(ipam.release(ip("10.9.0.3")));
    assert!(ipam.release(ip("10.9.0.5")));
    assert!(!ipam.release(ip("10.9.0.5")), "second release");
    assert!(!ipam.release(ip("10.9.0.1")), "router was never allocated");
    assert!(!ipam.release(ip("10.8.0.3")), "outside the subnet");
    assert_eq!(ipam.free_count(), 2);
    assert_eq!(ipam.allocate().unwrap(), ip("10.9.0.3"));
    assert_eq!(ipam.allocate().unwrap(), ip("10.9.0.5"));
    assert!(matches!(ipam.allocate(), Err(IpamError::Full { .. })));
}

#[test]
fn mark_used_checks_range_reservation_and_duplicates() {
    let net: Ipv4Network = "192.168.1.0/24".parse().unwrap();
    let mut ipam = SubnetIpam::new(net).unwrap();
    ipam.mark_used(ip("192.168.1.10")).unwrap();
    assert!(ipam.is_used(ip("192.168.1.10")));
    let table = [
        (
            "192.168.2.10",
            IpamError::NotInRange {
                ip: ip("192.168.2.10"),
                subnet: net,
            },
        ),
        (
            "192.168.1.10",
            IpamError::AlreadyAllocated {
                ip: ip("192.168.1.10"),
            },
        ),
        (
            "192.168.1.1",
            IpamError::Reserved {
                ip: ip("192.168.1.1"),
                subnet: net,
                what: "router address",
            },
        ),
    ];
    for (addr, want) in table {
        assert_eq!(ipam.mark_used(ip(addr)), Err(want.clone()), "{addr}");
        assert_eq!(ipam.allocate_specific(ip(addr)), Err(want), "{addr}");
    }
    assert_eq!(
        IpamError::NotInRange {
            ip: ip("192.168.2.10"),
            subnet: net
        }
        .to_string(),
        "192.168.2.10 is not in subnet 192.168.1.0/24"
    );
    assert_eq!(ipam.free_count(), 252);
}

#[test]
fn an_excluded_address_can_still_be_taken_statically() {
    let mut ipam = SubnetIpam::from_config("10.0.0.0/24", Some("10.0.0.2..10.0.0.9")).unwrap();
    let free = ipam.free_count();
    ipam.allocate_specific(ip("10.0.0.5")).unwrap();
    assert!(ipam.is_used(ip("10.0.0.5")));
    assert_eq!(
        ipam.free_count(),
        free,
        "excluded addresses were not counted free"
    );
    assert!(ipam.release(ip("10.0.0.5")));
    assert_eq!(ipam.free_count(), free);
    assert_eq!(ipam.allocate().unwrap(), ip("10.0.0.10"));
}

#[test]
fn a_slash_16_hands_out_20000_distinct_addresses() {
    let mut ipam = ipam("10.128.0.0/16");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20_000 {
        let a = ipam.allocate().unwrap();
        assert!(seen.insert(a), "{a} handed out twice");
    }
    assert_eq!(ipam.free_count(), 65_536 - 3 - 20_000);
    // Free one early address: next-fit goes on past the last one handed out
    // instead of reusing the hole.
    assert!(ipam.release(ip("10.128.0.100")));
    let last = ipam.allocate().unwrap();
    assert_eq!(last, Ipv4Addr::from(u32::from(ip("10.128.0.0")) + 20_002));
}

#[test]
fn allocation_after_wrapping_skips_20000_used_addresses_by_word() {
    let mut ipam = ipam("10.128.0.0/16");
    for i in 2..20_002u32 {
        ipam.mark_used(Ipv4Addr::from(u32::from(ip("10.128.0.0")) + i))
            .unwrap();
    }
    let base = u32::from(ip("10.128.0.0"));
    assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::from(base + 20_002));
    ipam.release(Ipv4Addr::from(base + 19_000));
    ipam.exclude("10.128.78.36..10.128.255.254").unwrap();
    assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::from(base + 20_003));
    assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::from(base + 19_000));
}

#[test]
fn a_slash_8_works_at_both_ends() {
    let mut ipam = ipam("10.0.0.0/8");
    assert_eq!(ipam.free_count(), (1 << 24) - 3);
    assert_eq!(ipam.allocate().unwrap(), ip("10.0.0.2"));
    ipam.mark_used(ip("10.255.255.254")).unwrap();
    assert!(ipam.is_used(ip("10.255.255.254")));
    assert!(!ipam.is_used(ip("11.0.0.0")));
    ipam.exclude("10.0.0.3..10.255.255.253").unwrap();
    assert_eq!(ipam.free_count(), 0);
    assert!(matches!(ipam.allocate(), Err(IpamError::Full { .. })));
}
