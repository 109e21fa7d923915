//! Durations in the stout notation Mesos uses for flags and environment
//! variables (`5secs`, `15mins`, `500ms`): parsing, and formatting exactly
//! like stout's `operator<<(Duration)` so executors see the strings a real
//! agent would give them (`MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=5secs`).
//! Every ovn-mesos binary reads its duration flags with [`parse_flag`].

use std::time::Duration;

/// Why a duration string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text does not end with a stout unit.
    #[error("duration '{text}' has no unit; use one of ns, us, ms, secs, mins, hrs, days, weeks")]
    NoUnit {
        /// The text given.
        text: String,
    },
    /// The number before the unit is not a non-negative finite number.
    #[error("duration '{text}' does not start with a non-negative number")]
    BadNumber {
        /// The text given.
        text: String,
    },
}

const NANOS_PER: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("secs", 1_000_000_000),
    ("mins", 60 * 1_000_000_000),
    ("hrs", 3_600 * 1_000_000_000),
    ("days", 86_400 * 1_000_000_000),
    ("weeks", 604_800 * 1_000_000_000),
];

/// Parses a stout duration such as `5secs`, `1.5mins` or `100ms`.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    // "ms" and "mins" both end in "s": try the longest units first.
    let mut units: Vec<(&str, u128)> = NANOS_PER.to_vec();
    units.sort_by_key(|(unit, _)| std::cmp::Reverse(unit.len()));
    let (number, nanos_per) = units
        .iter()
        .find_map(|(unit, nanos)| trimmed.strip_suffix(unit).map(|n| (n, *nanos)))
        .filter(|(number, _)| {
            !number.is_empty() && !number.ends_with(|c: char| c.is_ascii_alphabetic())
        })
        .ok_or_else(|| DurationError::NoUnit {
            text: text.to_string(),
        })?;
    let value: f64 = number
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| DurationError::BadNumber {
            text: text.to_string(),
        })?;
    // Precision: f64 * nanos is exact enough for flag values.
    let nanos = (value * nanos_per as f64).round();
    Ok(Duration::from_nanos(nanos.min(u64::MAX as f64) as u64))
}

/// Formats like stout: the largest unit the duration reaches, or one unit
/// smaller when that gives a whole number (`90secs`, not `1.5mins`).
pub fn format(duration: Duration) -> String {
    let ns = duration.as_nanos();
    let unit = |i: usize| NANOS_PER[i];
    // Index of the bucket: the largest unit not exceeding the duration.
    let bucket = (0..NANOS_PER.len())
        .rev()
        .find(|&i| ns >= unit(i).1)
        .unwrap_or(0);
    let chosen = if bucket == 0 {
        0
    } else {
        let (_, this) = unit(bucket);
        let (_, below) = unit(bucket - 1);
        if ns % this != 0 && ns % below == 0 {
            bucket - 1
        } else {
            bucket
        }
    };
    let (name, per) = unit(chosen);
    if ns % per == 0 {
        format!("{}{name}", ns / per)
    } else {
        format!("{}{name}", trim_float(ns as f64 / per as f64))
    }
}

/// A float with up to 15 significant digits and no trailing zeros.
fn trim_float(value: f64) -> String {
    let text = format!("{value:.15}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// clap value parser for duration flags.
pub fn parse_flag(text: &str) -> Result<Duration, String> {
    parse(text).map_err(|e| e.to_string())
}

/// A `DurationInfo` (nanoseconds, negative only in a broken message) as a
/// `Duration`; negative values read as zero.
pub fn from_nanos(nanoseconds: i64) -> Duration {
    Duration::from_nanos(u64::try_from(nanoseconds).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stout_units_parse() {
        assert_eq!(parse("5secs"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("15mins"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("1.5secs"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2weeks"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse(" 3us "), Ok(Duration::from_micros(3)));
    }

    #[test]
    fn a_missing_unit_or_number_is_an_error() {
        assert!(matches!(parse("5"), Err(DurationError::NoUnit { .. })));
        assert!(matches!(parse("secs"), Err(DurationError::NoUnit { .. })));
        assert!(matches!(
            parse("-1secs"),
            Err(DurationError::BadNumber { .. })
        ));
        assert!(matches!(parse("xsecs"), Err(DurationError::NoUnit { .. })));
    }

    #[test]
    fn formatting_matches_stout() {
        let table = [
            (Duration::from_secs(5), "5secs"),
            (Duration::from_secs(60), "1mins"),
            (Duration::from_secs(90), "90secs"),
            (Duration::from_secs(900), "15mins"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_millis(2000), "2secs"),
            (Duration::from_secs(3600), "1hrs"),
            (Duration::from_nanos(500), "500ns"),
            (Duration::ZERO, "0ns"),
            (Duration::from_nanos(1_000_000_500), "1.0000005secs"),
        ];
        for (duration, text) in table {
            assert_eq!(format(duration), text, "{duration:?}");
        }
    }

    #[test]
    fn negative_nanoseconds_read_as_zero() {
        assert_eq!(from_nanos(-5), Duration::ZERO);
        assert_eq!(from_nanos(3_000_000_000), Duration::from_secs(3));
    }

    #[test]
    fn formatted_durations_parse_back() {
        for secs in [1, 5, 59, 61, 3600, 86_400] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse(&format(d)), Ok(d));
        }
    }
}
