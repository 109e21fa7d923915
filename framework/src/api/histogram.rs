//! The launch latency histogram: fixed buckets from half a millisecond to ten
//! seconds, atomic counts, rendered as Prometheus `_bucket{le=..}` (cumulative),
//! `_sum` (seconds) and `_count` samples.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::text::{Family, Text};

/// Upper bounds of the buckets: nanoseconds and the `le` label.
/// Finer between 10 and 25 ms, where the steady launch latency's tail
/// and its benchmark target lie.
const BUCKETS: [(u64, &str); 18] = [
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (7_500_000, "0.0075"),
    (10_000_000, "0.01"),
    (12_500_000, "0.0125"),
    (15_000_000, "0.015"),
    (20_000_000, "0.02"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
    (10_000_000_000, "10"),
];

/// A histogram of durations with the fixed [`BUCKETS`].
#[derive(Debug, Default)]
pub(super) struct Histogram {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Sum of all observations in nanoseconds, saturating.
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Counts one observation of `d`; a value equal to a bound is in that bucket.
    pub(super) fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BUCKETS
            .iter()
            .position(|(bound, _)| nanos <= *bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        // The closure always returns Some, so this never fails.
        let _ = self
            .sum_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sum| {
                Some(sum.saturating_add(nanos))
            });
    }

    /// The family's lines; `_count` is the `+Inf` bucket, so they always agree.
    pub(super) fn render(&self, text: &mut Text, family: &Family) {
        text.family(family);
        let bucket = format!("{}_bucket", family.name);
        let mut cumulative = 0u64;
        for ((_, le), count) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            text.sample(&bucket, &[("le", le)], cumulative);
        }
        cumulative += self.buckets[BUCKETS.len()].load(Ordering::Relaxed);
        text.sample(&bucket, &[("le", "+Inf")], cumulative);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        text.sample(&format!("{}_sum", family.name), &[], sum);
        text.sample(&format!("{}_count", family.name), &[], cumulative);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::text::tests::{parse, value};

    const LATENCY: Family = Family::histogram("latency_seconds", "Test latency.");

    fn rendered(histogram: &Histogram) -> String {
        let mut text = Text::default();
        histogram.render(&mut text, &LATENCY);
        text.out
    }

    #[test]
    fn buckets_are_cumulative_and_end_at_the_count() {
        let histogram = Histogram::default();
        for micros in [300, 700, 1_000, 3_000, 2_000_000, 20_000_000] {
            histogram.observe(Duration::from_micros(micros));
        }
        let samples = parse(&rendered(&histogram));
        let name = "ovn_mesos_latency_seconds_bucket";
        let bucket = |le| value(&samples, name, &[("le", le)]);
        assert_eq!(bucket("0.0005"), 1.0);
        assert_eq!(
            bucket("0.001"),
            3.0,
            "a value equal to a bound is in its bucket"
        );
        assert_eq!(bucket("0.0025"), 3.0);
        assert_eq!(bucket("0.005"), 4.0);
        assert_eq!(bucket("1"), 4.0);
        assert_eq!(bucket("2.5"), 5.0);
        assert_eq!(bucket("10"), 5.0);
        assert_eq!(bucket("+Inf"), 6.0);
        assert_eq!(value(&samples, "ovn_mesos_latency_seconds_count", &[]), 6.0);
        let sum = value(&samples, "ovn_mesos_latency_seconds_sum", &[]);
        assert!((sum - 22.005).abs() < 1e-9, "sum {sum}");
        let counts: Vec<f64> = samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .collect();
        assert_eq!(counts.len(), BUCKETS.len() + 1);
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    }

    #[test]
    fn an_empty_histogram_renders_zeros() {
        let samples = parse(&rendered(&Histogram::default()));
        assert_eq!(samples.len(), BUCKETS.len() + 3);
        assert!(samples.iter().all(|s| s.value == 0.0), "{samples:?}");
    }

    #[test]
    fn a_huge_latency_saturates_the_sum_instead_of_wrapping() {
        let histogram = Histogram::default();
        histogram.observe(Duration::MAX);
        histogram.observe(Duration::from_secs(1));
        assert_eq!(histogram.sum_nanos.load(Ordering::Relaxed), u64::MAX);
        let samples = parse(&rendered(&histogram));
        assert_eq!(
            value(
                &samples,
                "ovn_mesos_latency_seconds_bucket",
                &[("le", "10")]
            ),
            1.0
        );
        assert_eq!(value(&samples, "ovn_mesos_latency_seconds_count", &[]), 2.0);
    }
}
