//! How long to wait before resubscribing after a failure: exponential
//! backoff with full jitter (AWS' "Exponential Backoff And Jitter"). The
//! n-th delay is drawn uniformly between `min` and the ceiling
//! `min * 2^n` capped at `max`, so a crowd of schedulers reconnecting to a
//! restarted master spreads out instead of arriving in lockstep, and a
//! delay is never shorter than `min` nor longer than `max`.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with full jitter between `min` and `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff whose delays lie in `[min, max]`; `max` below `min` is
    /// raised to `min`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The delay before the next attempt: uniform in `[min, ceiling]`
    /// where the ceiling doubles with every call until it reaches `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let low = duration_nanos(self.min);
        let high = duration_nanos(ceiling);
        if high <= low {
            return ceiling;
        }
        Duration::from_nanos(rand::rng().random_range(low..=high))
    }

    /// Back to the first (shortest) delay, after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The upper bound of the next delay: `min * 2^attempt`, at most `max`.
    fn ceiling(&self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(31));
        self.min.saturating_mul(factor).min(self.max)
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (584 years).
fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(15);

    #[test]
    fn every_delay_lies_between_min_and_its_ceiling() {
        let mut backoff = Backoff::new(MIN, MAX);
        for attempt in 0..64u32 {
            let ceiling = MIN
                .saturating_mul(2u32.saturating_pow(attempt.min(31)))
                .min(MAX);
            let delay = backoff.next_delay();
            assert!(delay >= MIN, "attempt {attempt}: {delay:?} < {MIN:?}");
            assert!(
                delay <= ceiling,
                "attempt {attempt}: {delay:?} > {ceiling:?}"
            );
            assert!(delay <= MAX, "attempt {attempt}: {delay:?} > {MAX:?}");
        }
    }

    #[test]
    fn the_first_delay_is_min() {
        let mut backoff = Backoff::new(MIN, MAX);
        assert_eq!(backoff.next_delay(), MIN);
    }

    #[test]
    fn delays_are_jittered_once_the_ceiling_grows() {
        let mut backoff = Backoff::new(MIN, MAX);
        for _ in 0..10 {
            backoff.next_delay();
        }
        let delays: std::collections::HashSet<Duration> =
            (0..20).map(|_| backoff.next_delay()).collect();
        assert!(delays.len() > 1, "20 capped delays were all {delays:?}");
    }

    #[test]
    fn reset_brings_back_the_shortest_delay() {
        let mut backoff = Backoff::new(MIN, MAX);
        for _ in 0..20 {
            backoff.next_delay();
        }
        backoff.reset();
        assert_eq!(backoff.next_delay(), MIN);
        assert!(backoff.next_delay() <= MIN * 2);
    }

    #[test]
    fn a_max_below_min_is_raised_to_min() {
        let mut backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        for _ in 0..5 {
            assert_eq!(backoff.next_delay(), Duration::from_secs(2));
        }
    }

    #[test]
    fn a_huge_attempt_count_does_not_overflow() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::MAX);
        backoff.attempt = u32::MAX;
        let delay = backoff.next_delay();
        assert!(delay >= Duration::from_secs(1));
    }
}
