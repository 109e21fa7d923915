//! Durations as Mesos writes them in the executor environment (stout's
//! `Duration` text: a number followed by `ns us ms secs mins hrs days weeks`,
//! e.g. `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=5secs`, `15mins`, `2.5secs`).

use std::time::Duration;

/// Why a duration text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text does not start with a non-negative number.
    #[error("duration {text:?} does not start with a non-negative number")]
    NoNumber { text: String },
    /// The unit after the number is not one of stout's.
    #[error(
        "duration {text:?} has unit {unit:?}; expected one of ns us ms secs mins hrs days weeks"
    )]
    BadUnit { text: String, unit: String },
}

/// Parses `5secs`, `100ms`, `1.5mins`, `2weeks` ... (stout units).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| DurationError::NoNumber {
        text: text.to_owned(),
    })?;
    if !value.is_finite() || value < 0.0 {
        return Err(DurationError::NoNumber {
            text: text.to_owned(),
        });
    }
    let secs_per_unit = match unit.trim() {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "secs" => 1.0,
        "mins" => 60.0,
        "hrs" => 3600.0,
        "days" => 86_400.0,
        "weeks" => 604_800.0,
        other => {
            return Err(DurationError::BadUnit {
                text: text.to_owned(),
                unit: other.to_owned(),
            })
        }
    };
    Ok(Duration::from_secs_f64(value * secs_per_unit))
}

/// A `DurationInfo` (nanoseconds, may be negative in a broken message) as a
/// `Duration`, negative values read as zero.
pub fn from_nanos(nanoseconds: i64) -> Duration {
    Duration::from_nanos(u64::try_from(nanoseconds).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stout_unit_is_understood() {
        let table = [
            ("5secs", Duration::from_secs(5)),
            ("100ms", Duration::from_millis(100)),
            ("250us", Duration::from_micros(250)),
            ("7ns", Duration::from_nanos(7)),
            ("15mins", Duration::from_secs(900)),
            ("2hrs", Duration::from_secs(7200)),
            ("1days", Duration::from_secs(86_400)),
            ("1weeks", Duration::from_secs(604_800)),
            ("2.5secs", Duration::from_millis(2500)),
        ];
        for (text, want) in table {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn a_missing_number_or_unknown_unit_is_an_error() {
        assert!(matches!(
            parse_duration("secs"),
            Err(DurationError::NoNumber { .. })
        ));
        assert!(matches!(
            parse_duration("5 fortnights"),
            Err(DurationError::BadUnit { .. })
        ));
        assert!(matches!(
            parse_duration("5"),
            Err(DurationError::BadUnit { .. })
        ));
    }

    #[test]
    fn negative_nanoseconds_read_as_zero() {
        assert_eq!(from_nanos(-5), Duration::ZERO);
        assert_eq!(from_nanos(3_000_000_000), Duration::from_secs(3));
    }
}
