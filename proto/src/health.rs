//! `HealthCheck` (TaskInfo field 8) read with Mesos' semantics: the checks
//! `validateHealthCheck` of apache/mesos (`src/common/validation.cpp`) makes,
//! plus what an executor that runs the check needs (a port in 1-65535, the
//! `http` scheme, finite timings), and the timings with Mesos' defaults.
//! The framework refuses a task file whose check fails here; the executor
//! reads the same spec from the LAUNCH.

use std::time::Duration;

use crate::v1::{health_check, CommandInfo, HealthCheck};

/// Why a `HealthCheck` cannot run; names the field (`health_check.http.port`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("health_check.{field}: {reason}")]
pub struct HealthCheckError {
    pub field: &'static str,
    pub reason: String,
}

fn bad(field: &'static str, reason: impl Into<String>) -> HealthCheckError {
    HealthCheckError {
        field,
        reason: reason.into(),
    }
}

/// What a check probes.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// `GET <path>` on the task's address and `port`; healthy when the
    /// status is in `statuses`, or in 200-399 when that is empty.
    Http {
        port: u16,
        path: String,
        statuses: Vec<u32>,
    },
    /// A TCP connection to the task's address and `port`.
    Tcp { port: u16 },
    /// A command in the task's network namespace; exit 0 is healthy.
    Command(CommandInfo),
}

/// A validated health check with its timings (Mesos' defaults filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSpec {
    pub probe: Probe,
    /// Before the first check (`delay_seconds`, default 15).
    pub delay: Duration,
    /// Between the end of a check and the start of the next (`interval_seconds`, 10).
    pub interval: Duration,
    /// How long one check may take (`timeout_seconds`, 20; 0 means no limit in Mesos,
    /// here the interval bounds it).
    pub timeout: Duration,
    /// Failures in a row that kill the task (`consecutive_failures`, 3).
    pub consecutive_failures: u32,
    /// From the task's start, failures before the first success are ignored
    /// (`grace_period_seconds`, 10).
    pub grace_period: Duration,
}

impl HealthSpec {
    /// Reads `check`, refusing what Mesos refuses and what cannot run here.
    pub fn from_proto(check: &HealthCheck) -> Result<HealthSpec, HealthCheckError> {
        let kind = check
            .r#type
            .ok_or_else(|| bad("type", "missing (HTTP, TCP or COMMAND)"))?;
        let probe = match health_check::Type::try_from(kind) {
            Ok(health_check::Type::Http) => {
                let http = check
                    .http
                    .as_ref()
                    .ok_or_else(|| bad("http", "required for an HTTP health check"))?;
                match http.scheme.as_deref() {
                    None | Some("http") => {}
                    Some("https") => {
                        return Err(bad(
                            "http.scheme",
                            "https is not supported by ovn-mesos-executor (use http)",
                        ))
                    }
                    Some(other) => {
                        return Err(bad("http.scheme", format!("unsupported scheme {other:?}")))
                    }
                }
                let path = http.path.clone().unwrap_or_else(|| "/".into());
                if !path.starts_with('/') {
                    return Err(bad("http.path", format!("{path:?} must start with '/'")));
                }
                if path
                    .chars()
                    .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
                {
                    return Err(bad(
                        "http.path",
                        format!("{path:?} holds a space or control character"),
                    ));
                }
                if let Some(s) = http.statuses.iter().find(|s| !(100..=599).contains(*s)) {
                    return Err(bad("http.statuses", format!("{s} is no HTTP status")));
                }
                Probe::Http {
                    port: port("http.port", http.port)?,
                    path,
                    statuses: http.statuses.clone(),
                }
            }
            Ok(health_check::Type::Tcp) => {
                let tcp = check
                    .tcp
                    .as_ref()
                    .ok_or_else(|| bad("tcp", "required for a TCP health check"))?;
                Probe::Tcp {
                    port: port("tcp.port", tcp.port)?,
                }
            }
            Ok(health_check::Type::Command) => {
                let command = check
                    .command
                    .as_ref()
                    .ok_or_else(|| bad("command", "required for a COMMAND health check"))?;
                if command.value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                    return Err(bad("command.value", "the command to run is missing"));
                }
                Probe::Command(command.clone())
            }
            Ok(health_check::Type::Unknown) | Err(_) => {
                return Err(bad(
                    "type",
                    format!("{kind} is not a valid health check type (HTTP, TCP or COMMAND)"),
                ))
            }
        };
        Ok(HealthSpec {
            probe,
            delay: seconds("delay_seconds", check.delay_seconds())?,
            interval: seconds("interval_seconds", check.interval_seconds())?,
            timeout: seconds("timeout_seconds", check.timeout_seconds())?,
            consecutive_failures: check.consecutive_failures(),
            grace_period: seconds("grace_period_seconds", check.grace_period_seconds())?,
        })
    }
}

fn port(field: &'static str, value: u32) -> Result<u16, HealthCheckError> {
    match u16::try_from(value) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(bad(field, format!("must be 1-65535, not {value}"))),
    }
}

/// Non-negative and finite, at most a day (as Mesos: "Expecting
/// '<field>' to be non-negative").
fn seconds(field: &'static str, value: f64) -> Result<Duration, HealthCheckError> {
    if !value.is_finite() || value < 0.0 {
        return Err(bad(
            field,
            format!("must be a non-negative number of seconds, not {value}"),
        ));
    }
    if value > 86_400.0 {
        return Err(bad(field, format!("{value} s is more than a day")));
    }
    Ok(Duration::from_secs_f64(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::health_check::{HttpCheckInfo, TcpCheckInfo, Type};

    fn http(port: u32) -> HealthCheck {
        HealthCheck {
            r#type: Some(Type::Http as i32),
            http: Some(HttpCheckInfo {
                port,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn mesos_defaults_fill_the_timings() {
        let spec = HealthSpec::from_proto(&http(80)).unwrap();
        assert_eq!(
            spec.probe,
            Probe::Http {
                port: 80,
                path: "/".into(),
                statuses: vec![]
            }
        );
        assert_eq!(spec.delay, Duration::from_secs(15));
        assert_eq!(spec.interval, Duration::from_secs(10));
        assert_eq!(spec.timeout, Duration::from_secs(20));
        assert_eq!(spec.consecutive_failures, 3);
        assert_eq!(spec.grace_period, Duration::from_secs(10));
    }

    #[test]
    fn bad_fields_are_named() {
        let err = |c: HealthCheck| HealthSpec::from_proto(&c).unwrap_err().to_string();
        assert_eq!(
            err(http(0)),
            "health_check.http.port: must be 1-65535, not 0"
        );
        assert_eq!(
            err(http(70000)),
            "health_check.http.port: must be 1-65535, not 70000"
        );
        let mut c = http(80);
        c.interval_seconds = Some(-1.0);
        assert_eq!(
            err(c),
            "health_check.interval_seconds: must be a non-negative number of seconds, not -1"
        );
        let mut c = http(80);
        c.r#type = Some(7);
        assert!(err(c).starts_with("health_check.type: 7 is not a valid health check type"));
        let mut c = http(80);
        c.r#type = None;
        assert!(err(c).starts_with("health_check.type: missing"));
        let mut c = http(80);
        c.http.as_mut().unwrap().path = Some("health".into());
        assert!(err(c).starts_with("health_check.http.path:"));
        let mut c = http(80);
        c.http.as_mut().unwrap().scheme = Some("https".into());
        assert!(err(c).starts_with("health_check.http.scheme: https is not supported"));
        let tcp = HealthCheck {
            r#type: Some(Type::Tcp as i32),
            ..Default::default()
        };
        assert_eq!(
            err(tcp),
            "health_check.tcp: required for a TCP health check"
        );
        let cmd = HealthCheck {
            r#type: Some(Type::Command as i32),
            command: Some(CommandInfo::default()),
            ..Default::default()
        };
        assert_eq!(
            err(cmd),
            "health_check.command.value: the command to run is missing"
        );
        let tcp = HealthCheck {
            r#type: Some(Type::Tcp as i32),
            tcp: Some(TcpCheckInfo {
                port: 8080,
                ..Default::default()
            }),
            timeout_seconds: Some(f64::NAN),
            ..Default::default()
        };
        assert!(err(tcp).starts_with("health_check.timeout_seconds: must be a non-negative"));
    }
}
