//! Mesos resources as a value type: named quantities per role (`cpus(*):4`,
//! `ports(*):[31000-32000]`, `disks(*):{a,b}`) with the arithmetic the
//! master's allocator and validation need (`+=`, `-=`, `contains`), like
//! Mesos' `Resources` class.
//!
//! Scalars are kept in fixed point with three decimals, as Mesos does, so
//! that `0.1 + 0.2 == 0.3` and sums never drift. Only the name, type, value
//! and role of a resource are modelled; reservations beyond a static role,
//! disk infos and revocable/shared markers are not (a documented gap).

mod parse;
mod proto;
mod ranges;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub use parse::{parse_attributes, AttributeError};
pub use proto::{attributes_state_json, validate, validate_resource};
pub use ranges::Ranges;

/// The role of unreserved resources.
pub const UNRESERVED: &str = "*";

/// Fixed-point scale of scalar values (three decimals, like Mesos).
const SCALE: f64 = 1000.0;

/// Why resources could not be parsed or accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResourceError {
    /// A `name:value` item of the flag syntax could not be read.
    #[error("bad resource '{item}': {reason}")]
    Syntax {
        /// The offending item.
        item: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A resource message breaks Mesos' rules (`Resources::validate`).
    #[error("{0}")]
    Invalid(String),
    /// The same name is used with two different types.
    #[error("resource '{name}' is used with two different types")]
    MixedTypes {
        /// The resource name.
        name: String,
    },
}

/// Identifies one resource entry: its name and role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Resource name, e.g. `cpus`.
    pub name: String,
    /// Role the resource is reserved for, `*` when unreserved.
    pub role: String,
}

/// The value of one resource entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quantity {
    /// A scalar in thousandths (`cpus:0.5` is 500).
    Scalar(i64),
    /// Integer ranges (ports).
    Ranges(Ranges),
    /// A set of strings.
    Set(BTreeSet<String>),
}

impl Quantity {
    fn is_empty(&self) -> bool {
        match self {
            Quantity::Scalar(v) => *v <= 0,
            Quantity::Ranges(r) => r.is_empty(),
            Quantity::Set(s) => s.is_empty(),
        }
    }

    fn same_kind(&self, other: &Quantity) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// Converts a scalar to fixed point.
pub(crate) fn to_fixed(value: f64) -> i64 {
    (value * SCALE).round() as i64
}

/// Converts fixed point back to a scalar.
pub(crate) fn from_fixed(value: i64) -> f64 {
    value as f64 / SCALE
}

/// A bag of resources keyed by name and role; empty entries are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    entries: BTreeMap<Key, Quantity>,
}

impl Resources {
    /// No resources.
    pub fn new() -> Self {
        Resources::default()
    }

    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, ordered by name then role.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Quantity)> {
        self.entries.iter()
    }

    /// Adds one entry (merging with an entry of the same name and role).
    pub fn insert(&mut self, key: Key, quantity: Quantity) -> Result<(), ResourceError> {
        if let Some((other, _)) = self
            .entries
            .iter()
            .find(|(k, q)| k.name == key.name && !q.same_kind(&quantity))
        {
            return Err(ResourceError::MixedTypes {
                name: other.name.clone(),
            });
        }
        let mut single = Resources::new();
        if !quantity.is_empty() {
            single.entries.insert(key, quantity);
        }
        self.add(&single);
        Ok(())
    }

    /// `self += other`.
    pub fn add(&mut self, other: &Resources) {
        for (key, quantity) in &other.entries {
            match (self.entries.get_mut(key), quantity) {
                (Some(Quantity::Scalar(a)), Quantity::Scalar(b)) => *a += b,
                (Some(Quantity::Ranges(a)), Quantity::Ranges(b)) => a.add(b),
                (Some(Quantity::Set(a)), Quantity::Set(b)) => a.extend(b.iter().cloned()),
                (Some(_), _) => {} // mixed types are refused on insert
                (None, q) => {
                    self.entries.insert(key.clone(), q.clone());
                }
            }
        }
        self.entries.retain(|_, q| !q.is_empty());
    }

    /// `self -= other`, clipping at zero.
    pub fn subtract(&mut self, other: &Resources) {
        for (key, quantity) in &other.entries {
            match (self.entries.get_mut(key), quantity) {
                (Some(Quantity::Scalar(a)), Quantity::Scalar(b)) => *a = (*a - b).max(0),
                (Some(Quantity::Ranges(a)), Quantity::Ranges(b)) => a.subtract(b),
                (Some(Quantity::Set(a)), Quantity::Set(b)) => a.retain(|item| !b.contains(item)),
                _ => {}
            }
        }
        self.entries.retain(|_, q| !q.is_empty());
    }

    /// `self + other` as a new value.
    pub fn plus(&self, other: &Resources) -> Resources {
        let mut sum = self.clone();
        sum.add(other);
        sum
    }

    /// `self - other` as a new value.
    pub fn minus(&self, other: &Resources) -> Resources {
        let mut rest = self.clone();
        rest.subtract(other);
        rest
    }

    /// Whether `other` fits in `self` (`Resources::contains`).
    pub fn contains(&self, other: &Resources) -> bool {
        other
            .entries
            .iter()
            .all(|(key, need)| match (self.entries.get(key), need) {
                (Some(Quantity::Scalar(have)), Quantity::Scalar(need)) => have >= need,
                (Some(Quantity::Ranges(have)), Quantity::Ranges(need)) => have.contains(need),
                (Some(Quantity::Set(have)), Quantity::Set(need)) => need.is_subset(have),
                _ => false,
            })
    }

    /// Sum of the scalar `name` over all roles, if present.
    pub fn scalar(&self, name: &str) -> Option<f64> {
        let mut total = None;
        for (key, quantity) in &self.entries {
            if let (true, Quantity::Scalar(v)) = (key.name == name, quantity) {
                total = Some(total.unwrap_or(0) + v);
            }
        }
        total.map(from_fixed)
    }

    /// `cpus`, if present.
    pub fn cpus(&self) -> Option<f64> {
        self.scalar("cpus")
    }

    /// `mem` in MB, if present.
    pub fn mem(&self) -> Option<f64> {
        self.scalar("mem")
    }

    /// Whether an offer of these resources is worth making: at least
    /// `cpus:0.01` or `mem:32` (Mesos' `MIN_CPUS`/`MIN_MEM`).
    pub fn is_allocatable(&self) -> bool {
        self.cpus().is_some_and(|c| c >= 0.01) || self.mem().is_some_and(|m| m >= 32.0)
    }

    /// Only the entries usable by a framework with `roles`: unreserved
    /// ones and those reserved for one of its roles.
    pub fn allocatable_to(&self, roles: &[String]) -> Resources {
        Resources {
            entries: self
                .entries
                .iter()
                .filter(|(k, _)| k.role == UNRESERVED || roles.contains(&k.role))
                .map(|(k, q)| (k.clone(), q.clone()))
                .collect(),
        }
    }

    /// The set of resource names.
    pub fn names(&self) -> BTreeSet<&str> {
        self.entries.keys().map(|k| k.name.as_str()).collect()
    }
}

impl fmt::Display for Resources {
    /// Mesos' notation: `cpus:4; mem:4096; ports:[31000-32000]`, with the
    /// role in parentheses when reserved (`cpus(web):1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries.is_empty() {
            return f.write_str("{}");
        }
        for (i, (key, quantity)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&key.name)?;
            if key.role != UNRESERVED {
                write!(f, "({})", key.role)?;
            }
            f.write_str(":")?;
            match quantity {
                Quantity::Scalar(v) => write!(f, "{}", from_fixed(*v))?,
                Quantity::Ranges(r) => write!(f, "{r}")?,
                Quantity::Set(s) => {
                    let items: Vec<&str> = s.iter().map(String::as_str).collect();
                    write!(f, "{{{}}}", items.join(", "))?
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Resources {
        Resources::parse(text).expect("valid resources")
    }

    #[test]
    fn fixed_point_sums_do_not_drift() {
        let mut total = Resources::new();
        for _ in 0..10 {
            total.add(&r("cpus:0.1"));
        }
        assert_eq!(total, r("cpus:1"));
        assert_eq!(total.cpus(), Some(1.0));
    }

    #[test]
    fn subtraction_removes_exhausted_entries() {
        let mut total = r("cpus:1;mem:128;ports:[31000-31001]");
        total.subtract(&r("cpus:1;mem:28;ports:[31000-31000]"));
        assert_eq!(total, r("mem:100;ports:[31001-31001]"));
    }

    #[test]
    fn contains_checks_every_entry_and_role() {
        let offered = r("cpus:2;mem:1024;ports:[31000-32000];cpus(web):1");
        assert!(offered.contains(&r("cpus:1;mem:512;ports:[31005-31006]")));
        assert!(offered.contains(&r("cpus(web):1")));
        assert!(!offered.contains(&r("cpus:3")));
        assert!(!offered.contains(&r("gpus:1")));
        assert!(!offered.contains(&r("cpus(db):1")));
    }

    #[test]
    fn a_name_cannot_change_type() {
        let mut res = r("cpus:1");
        let error = res
            .insert(
                Key {
                    name: "cpus".into(),
                    role: "*".into(),
                },
                Quantity::Set(BTreeSet::from(["a".to_string()])),
            )
            .expect_err("mixed types");
        assert!(matches!(error, ResourceError::MixedTypes { .. }));
    }

    #[test]
    fn roles_filter_what_a_framework_may_use() {
        let res = r("cpus:1;cpus(web):2;mem(db):64");
        assert_eq!(res.allocatable_to(&["web".into()]), r("cpus:1;cpus(web):2"));
        assert_eq!(res.allocatable_to(&[]), r("cpus:1"));
    }

    #[test]
    fn allocatable_needs_minimum_cpus_or_mem() {
        assert!(r("cpus:0.01").is_allocatable());
        assert!(r("mem:32").is_allocatable());
        assert!(!r("mem:31;disk:100").is_allocatable());
    }

    #[test]
    fn display_uses_mesos_notation() {
        let res = r("cpus:0.5;mem:64;ports:[1-2];cpus(web):1");
        assert_eq!(
            res.to_string(),
            "cpus:0.5; cpus(web):1; mem:64; ports:[1-2]"
        );
    }
}
