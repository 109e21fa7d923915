//! What a scheduler needs to reach Mesos: the master's address, the body
//! encoding, the framework info to subscribe with, how many heartbeats may
//! be missed before the stream counts as dead, and the timeout of each call.

use std::time::Duration;

use mesos_proto::v1::FrameworkInfo;
use mesos_proto::Encoding;

/// Heartbeats that may be missed before the stream counts as dead (the
/// scheduler HTTP API docs: "about 5").
pub const DEFAULT_MISSED_HEARTBEATS: u32 = 5;

/// Default timeout of one call (and of SUBSCRIBE until SUBSCRIBED arrives).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Heartbeat interval assumed when SUBSCRIBED does not give one (the
/// master's default for scheduler streams, 15 s).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// How to connect to the Mesos master.
#[derive(Debug, Clone)]
pub struct MesosConfig {
    /// `host:port`, `http://host:port[/prefix]` or `https://...`;
    /// `/api/v1/scheduler` is appended.
    pub master: String,
    /// Encoding of calls and events: protobuf by default, JSON on request.
    pub encoding: Encoding,
    /// The framework info to subscribe with; its `id` is replaced by the
    /// framework id given to [`subscribe`](super::subscribe).
    pub framework: FrameworkInfo,
    /// The stream is dead after `missed_heartbeats * heartbeat_interval`
    /// without any event (at least one interval).
    pub missed_heartbeats: u32,
    /// Timeout of each call, and of SUBSCRIBE until SUBSCRIBED arrives
    /// (not of the event stream).
    pub request_timeout: Duration,
}

impl MesosConfig {
    /// A config with the defaults: protobuf, 5 missed heartbeats, 10 s calls.
    pub fn new(master: impl Into<String>, framework: FrameworkInfo) -> Self {
        MesosConfig {
            master: master.into(),
            encoding: Encoding::Protobuf,
            framework,
            missed_heartbeats: DEFAULT_MISSED_HEARTBEATS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// How long the stream may stay silent: `missed_heartbeats` (at
    /// least one) times the master's heartbeat interval in seconds (15 s
    /// when it is missing or not a positive finite number).
    pub fn heartbeat_timeout(&self, heartbeat_interval_seconds: Option<f64>) -> Duration {
        let interval = heartbeat_interval_seconds
            .filter(|s| s.is_finite() && *s > 0.0)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .unwrap_or(DEFAULT_HEARTBEAT_INTERVAL);
        interval.saturating_mul(self.missed_heartbeats.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MesosConfig {
        MesosConfig::new("m:5050", FrameworkInfo::default())
    }

    #[test]
    fn the_defaults_are_protobuf_five_heartbeats_and_ten_seconds() {
        let config = config();
        assert_eq!(config.encoding, Encoding::Protobuf);
        assert_eq!(config.missed_heartbeats, 5);
        assert_eq!(config.request_timeout, Duration::from_secs(10));
    }

    #[test]
    fn the_heartbeat_timeout_is_missed_heartbeats_times_the_interval() {
        let mut config = config();
        assert_eq!(
            config.heartbeat_timeout(Some(15.0)),
            Duration::from_secs(75)
        );
        assert_eq!(config.heartbeat_timeout(Some(0.2)), Duration::from_secs(1));
        config.missed_heartbeats = 0;
        assert_eq!(config.heartbeat_timeout(Some(2.0)), Duration::from_secs(2));
    }

    #[test]
    fn a_missing_or_silly_interval_means_fifteen_seconds() {
        let config = config();
        for interval in [
            None,
            Some(0.0),
            Some(-1.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
        ] {
            assert_eq!(
                config.heartbeat_timeout(interval),
                Duration::from_secs(75),
                "{interval:?}"
            );
        }
    }
}
