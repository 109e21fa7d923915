//! The offered resources a launch can use ([`Piece`]s: `cpus`, `mem`,
//! plain `disk` and `ports` usable by the framework's role) and taking
//! quantities out of them ([`take_from`]).
//!
//! Usable means allocated to the role (when the offer says) and unreserved
//! (`*`) or reserved for the role or an ancestor of it; revocable, shared
//! and volume resources are left alone. A taken `Resource` is the offered
//! one with only its quantity changed, so its `role`, `reservations` and
//! `allocation_info` go back exactly as offered: Mesos refuses a launch
//! whose resources the offer does not contain. Reserved pieces are used
//! first, ports lowest first. Scalars count in thousandths, as in Mesos, so
//! repeated takes do not drift.

use mesos_proto::v1::{value, Offer, Resource};

use crate::tasks::Resources;

/// The role of unreserved resources.
const UNRESERVED: &str = "*";
/// The scalar resources a launch takes, in [`Resources`] order.
const SCALARS: [&str; 3] = ["cpus", "mem", "disk"];
/// The host ports resource.
pub(super) const PORTS: &str = "ports";

/// One usable offered resource and what is left of it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Piece {
    offered: Resource,
    left: Left,
}

#[derive(Debug, Clone, PartialEq)]
enum Left {
    /// Thousandths of a scalar.
    Milli(i64),
    /// Sorted, merged inclusive port ranges.
    Ports(Vec<(u64, u64)>),
}

/// The pieces of `offer` usable by `role`: reserved ones first, each group
/// in offer order.
pub(super) fn usable(offer: &Offer, role: &str) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = offer
        .resources
        .iter()
        .filter(|r| usable_by(r, role))
        .filter_map(piece)
        .collect();
    pieces.sort_by_key(|p| reservation_role(&p.offered) == UNRESERVED);
    pieces
}

#[cfg(test)]
/// What is left in `pieces`, summed over roles.
pub(super) fn free(pieces: &[Piece]) -> Resources {
    let mut free = Resources::default();
    for p in pieces {
        match (&p.left, p.offered.name.as_str()) {
            (Left::Milli(m), "cpus") => free.cpus += from_milli(*m),
            (Left::Milli(m), "mem") => free.mem += from_milli(*m),
            (Left::Milli(m), _) => free.disk += from_milli(*m),
            (Left::Ports(ranges), _) => {
                let n: u64 = ranges.iter().map(|(b, e)| e - b + 1).sum();
                free.ports = free
                    .ports
                    .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
    }
    free
}

/// The role a resource is reserved for (`*` when unreserved): the last
/// refined reservation, else the pre-refinement `role` field.
fn reservation_role(r: &Resource) -> &str {
    r.reservations
        .last()
        .and_then(|x| x.role.as_deref())
        .or(r.role.as_deref())
        .unwrap_or(UNRESERVED)
}

/// Allocated to `role` (when allocation info is given) and unreserved or
/// reserved for `role` or an ancestor of it (`eng` for `eng/web`).
fn usable_by(r: &Resource, role: &str) -> bool {
    let allocated = r
        .allocation_info
        .as_ref()
        .and_then(|a| a.role.as_deref())
        .is_none_or(|allocated| allocated == role);
    let reserved = reservation_role(r);
    let reserved_ok = reserved == UNRESERVED
        || reserved == role
        || role
            .strip_prefix(reserved)
            .is_some_and(|rest| rest.starts_with('/'));
    allocated && reserved_ok && r.revocable.is_none() && r.shared.is_none()
}

/// The usable part of an offered resource, if it is one a launch takes.
fn piece(r: &Resource) -> Option<Piece> {
    let kind = value::Type::try_from(r.r#type).ok()?;
    let left = match (r.name.as_str(), kind) {
        ("disk", _) if r.disk.is_some() => return None,
        (name, value::Type::Scalar) if SCALARS.contains(&name) => {
            Left::Milli(to_milli(r.scalar.as_ref()?.value))
        }
        (PORTS, value::Type::Ranges) => {
            let mut ranges: Vec<(u64, u64)> = r
                .ranges
                .iter()
                .flat_map(|x| x.range.iter())
                .filter(|x| x.begin <= x.end)
                .map(|x| (x.begin, x.end))
                .collect();
            ranges.sort_unstable();
            Left::Ports(merge(ranges))
        }
        _ => return None,
    };
    Some(Piece {
        offered: r.clone(),
        left,
    })
}

/// Takes `need` from `pieces` in order, or returns `None` (the pieces then
/// hold partial takes: callers work on a copy).
pub(super) fn take_from(pieces: &mut [Piece], need: &Resources) -> Option<Vec<Resource>> {
    let mut out = Vec::new();
    for (name, amount) in SCALARS.into_iter().zip([need.cpus, need.mem, need.disk]) {
        let mut want = to_milli(amount);
        for p in pieces.iter_mut().filter(|p| p.offered.name == name) {
            let Left::Milli(left) = &mut p.left else {
                continue;
            };
            let n = want.min(*left);
            if n <= 0 {
                continue;
            }
            *left -= n;
            want -= n;
            let mut taken = p.offered.clone();
            taken.scalar = Some(value::Scalar {
                value: from_milli(n),
            });
            out.push(taken);
        }
        if want > 0 {
            return None;
        }
    }
    let mut want = u64::from(need.ports);
    for p in pieces.iter_mut().filter(|p| p.offered.name == PORTS) {
        let Left::Ports(ranges) = &mut p.left else {
            continue;
        };
        if want == 0 {
            break;
        }
        let got = take_ports(ranges, want);
        if got.is_empty() {
            continue;
        }
        want -= got.iter().map(|(b, e)| e - b + 1).sum::<u64>();
        let mut taken = p.offered.clone();
        taken.ranges = Some(value::Ranges {
            range: got
                .into_iter()
                .map(|(begin, end)| value::Range { begin, end })
                .collect(),
        });
        out.push(taken);
    }
    (want == 0).then_some(out)
}

/// Removes up to `want` of the lowest ports from `ranges`.
fn take_ports(ranges: &mut Vec<(u64, u64)>, mut want: u64) -> Vec<(u64, u64)> {
    let mut got = Vec::new();
    while want > 0 && !ranges.is_empty() {
        let (begin, end) = ranges[0];
        let size = end - begin + 1;
        if size <= want {
            got.push((begin, end));
            ranges.remove(0);
            want -= size;
        } else {
            got.push((begin, begin + want - 1));
            ranges[0].0 = begin + want;
            want = 0;
        }
    }
    got
}

/// Merges sorted ranges that overlap or touch.
fn merge(sorted: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(sorted.len());
    for (b, e) in sorted {
        match out.last_mut() {
            Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((b, e)),
        }
    }
    out
}

fn to_milli(v: f64) -> i64 {
    if v.is_finite() && v > 0.0 {
        (v * 1000.0).round() as i64
    } else {
        0
    }
}

fn from_milli(m: i64) -> f64 {
    m as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use mesos_proto::v1::resource::{self, AllocationInfo};

    use super::super::fixtures::{ports, reserved, scalar};
    use super::*;

    fn offer(resources: Vec<Resource>) -> Offer {
        Offer {
            resources,
            ..Default::default()
        }
    }

    fn need(cpus: f64, ports: u32) -> Resources {
        Resources {
            cpus,
            mem: 0.0,
            disk: 0.0,
            ports,
        }
    }

    #[test]
    fn repeated_takes_of_a_tenth_do_not_drift() {
        let mut pieces = usable(&offer(vec![scalar("cpus", 0.3)]), "r");
        for _ in 0..3 {
            let taken = take_from(&mut pieces, &need(0.1, 0)).expect("fits");
            assert_eq!(taken[0].scalar.unwrap().value, 0.1);
        }
        assert_eq!(free(&pieces).cpus, 0.0);
        assert_eq!(take_from(&mut pieces, &need(0.001, 0)), None);
    }

    #[test]
    fn ports_are_taken_lowest_first_across_split_ranges() {
        let mut pieces = usable(
            &offer(vec![ports(&[
                (31005, 31006),
                (31000, 31001),
                (31002, 31002),
            ])]),
            "r",
        );
        assert_eq!(free(&pieces).ports, 5);
        let taken = take_from(&mut pieces, &need(0.0, 4)).expect("fits");
        assert_eq!(taken.len(), 1);
        let ranges: Vec<(u64, u64)> = taken[0]
            .ranges
            .as_ref()
            .unwrap()
            .range
            .iter()
            .map(|r| (r.begin, r.end))
            .collect();
        assert_eq!(ranges, [(31000, 31002), (31005, 31005)]);
        assert_eq!(take_from(&mut pieces.clone(), &need(0.0, 2)), None);
        let last = take_from(&mut pieces, &need(0.0, 1)).expect("one port left");
        assert_eq!(last[0].ranges.as_ref().unwrap().range[0].begin, 31006);
    }

    #[test]
    fn ports_spanning_two_roles_come_from_both_reserved_first() {
        let mut pieces = usable(
            &offer(vec![
                ports(&[(31000, 31009)]),
                reserved(ports(&[(5000, 5000)]), "web", "web"),
            ]),
            "web",
        );
        let taken = take_from(&mut pieces, &need(0.0, 2)).expect("fits");
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].reservations.len(), 1);
        assert_eq!(taken[0].ranges.as_ref().unwrap().range[0].begin, 5000);
        assert_eq!(taken[1].ranges.as_ref().unwrap().range[0].begin, 31000);
    }

    #[test]
    fn resources_of_other_roles_are_ignored() {
        let mut allocated_elsewhere = scalar("cpus", 8.0);
        allocated_elsewhere.allocation_info = Some(AllocationInfo {
            role: Some("other".into()),
        });
        let pieces = usable(
            &offer(vec![
                reserved(scalar("cpus", 8.0), "other", "eng/web"),
                reserved(scalar("cpus", 8.0), "eng/webby", "eng/web"),
                allocated_elsewhere,
                // Reserved for the parent role: usable by its child.
                reserved(scalar("mem", 512.0), "eng", "eng/web"),
                scalar("cpus", 1.0),
                scalar("mem", 64.0),
            ]),
            "eng/web",
        );
        assert_eq!(free(&pieces).cpus, 1.0);
        assert_eq!(free(&pieces).mem, 576.0);
    }

    #[test]
    fn volumes_revocable_and_shared_resources_are_not_used() {
        let mut volume = scalar("disk", 100.0);
        volume.disk = Some(resource::DiskInfo::default());
        let mut revocable = scalar("cpus", 4.0);
        revocable.revocable = Some(resource::RevocableInfo {});
        let mut shared = scalar("mem", 64.0);
        shared.shared = Some(resource::SharedInfo {});
        let pieces = usable(
            &offer(vec![volume, revocable, shared, scalar("disk", 10.0)]),
            "r",
        );
        assert_eq!(
            free(&pieces),
            Resources {
                disk: 10.0,
                ..Resources::default()
            }
        );
    }
}
