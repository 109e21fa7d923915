//! Sets of integer ranges (`[31000-32000, 33000-33010]`), the value type of
//! the `ports` resource: kept sorted and coalesced so that union,
//! difference and subset tests are linear merges, like Mesos' `Value::Ranges`
//! arithmetic.

use std::fmt;

/// A sorted, coalesced set of inclusive `[begin, end]` ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Ranges {
    spans: Vec<(u64, u64)>,
}

impl Ranges {
    /// The empty set.
    pub fn new() -> Self {
        Ranges::default()
    }

    /// Builds a set from possibly unsorted or overlapping `(begin, end)`
    /// pairs; pairs with `begin > end` are ignored (validation rejects
    /// them before this point).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut spans: Vec<(u64, u64)> = pairs.into_iter().filter(|(b, e)| b <= e).collect();
        spans.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
        for (begin, end) in spans {
            match merged.last_mut() {
                Some(last) if begin <= last.1.saturating_add(1) => last.1 = last.1.max(end),
                _ => merged.push((begin, end)),
            }
        }
        Ranges { spans: merged }
    }

    /// The ranges, sorted and coalesced.
    pub fn spans(&self) -> &[(u64, u64)] {
        &self.spans
    }

    /// Whether the set holds no number.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// How many numbers the set holds.
    pub fn count(&self) -> u64 {
        self.spans.iter().map(|(b, e)| e - b + 1).sum()
    }

    /// Whether `value` is in the set.
    pub fn contains_value(&self, value: u64) -> bool {
        self.spans.iter().any(|&(b, e)| b <= value && value <= e)
    }

    /// Union.
    pub fn add(&mut self, other: &Ranges) {
        let all = self.spans.iter().chain(other.spans.iter()).copied();
        *self = Ranges::from_pairs(all.collect::<Vec<_>>());
    }

    /// Difference: removes every number of `other`.
    pub fn subtract(&mut self, other: &Ranges) {
        let mut result = Vec::with_capacity(self.spans.len());
        for &(begin, end) in &self.spans {
            let mut pieces = vec![(begin, end)];
            for &(ob, oe) in &other.spans {
                if oe < begin || ob > end {
                    continue;
                }
                pieces = pieces
                    .into_iter()
                    .flat_map(|(b, e)| cut((b, e), (ob, oe)))
                    .collect();
            }
            result.extend(pieces);
        }
        self.spans = result;
    }

    /// Whether every number of `other` is in this set.
    pub fn contains(&self, other: &Ranges) -> bool {
        other
            .spans
            .iter()
            .all(|&(b, e)| self.spans.iter().any(|&(sb, se)| sb <= b && e <= se))
    }
}

/// `(b, e)` minus `(ob, oe)`: zero, one or two pieces.
fn cut((b, e): (u64, u64), (ob, oe): (u64, u64)) -> Vec<(u64, u64)> {
    if oe < b || ob > e {
        return vec![(b, e)];
    }
    let mut pieces = Vec::with_capacity(2);
    if ob > b {
        pieces.push((b, ob - 1));
    }
    if oe < e {
        pieces.push((oe + 1, e));
    }
    pieces
}

impl fmt::Display for Ranges {
    /// Mesos notation: `[31000-32000, 33000-33000]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, (b, e)) in self.spans.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{b}-{e}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_and_adjacent_pairs_coalesce() {
        let r = Ranges::from_pairs([(5, 10), (1, 3), (4, 4), (20, 30), (25, 40)]);
        assert_eq!(r.spans(), &[(1, 10), (20, 40)]);
        assert_eq!(r.count(), 31);
    }

    #[test]
    fn subtracting_splits_a_range() {
        let mut r = Ranges::from_pairs([(31000, 32000)]);
        r.subtract(&Ranges::from_pairs([(31000, 31000), (31500, 31600)]));
        assert_eq!(r.spans(), &[(31001, 31499), (31601, 32000)]);
        r.subtract(&Ranges::from_pairs([(0, 40000)]));
        assert!(r.is_empty());
    }

    #[test]
    fn containment_needs_every_number() {
        let r = Ranges::from_pairs([(31000, 32000)]);
        assert!(r.contains(&Ranges::from_pairs([(31000, 31010), (31999, 32000)])));
        assert!(!r.contains(&Ranges::from_pairs([(31999, 32001)])));
        assert!(r.contains(&Ranges::new()));
        assert!(r.contains_value(31500));
    }

    #[test]
    fn display_uses_mesos_notation() {
        let r = Ranges::from_pairs([(1, 2), (5, 5)]);
        assert_eq!(r.to_string(), "[1-2, 5-5]");
    }
}
