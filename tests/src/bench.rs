//! What the benchmarks share: their knobs from the environment and the
//! quantiles they print.

use std::time::Duration;

/// The value of the environment variable `name` as a count, or `default`
/// when it is unset or not a whole number.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `q` quantile (0 to 1) of `sorted`, ascending and not empty: the
/// nearest-rank value.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&ms, 0.5), Duration::from_millis(51));
        assert_eq!(quantile(&ms, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&ms, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&ms[..1], 0.99), Duration::from_millis(1));
    }

    #[test]
    fn an_unset_or_bad_variable_gives_the_default() {
        assert_eq!(env_usize("OVN_MESOS_TESTS_SURELY_UNSET", 7), 7);
    }
}
