//! Why talking to the Mesos master failed, and whether trying again (after
//! a backoff, resubscribing with the same framework id) can help.
//!
//! The one answer that must stop the framework from retrying is that the
//! master removed it (TEARDOWN or an expired `failover_timeout`): its id is
//! then dead and must be forgotten. Real Mesos says so in an ERROR event
//! ("Framework has been removed") or a 403 body; [`classify_master_message`]
//! recognises those texts. With a `zk://` master, an empty group
//! ([`MesosError::NoMaster`]), a ZooKeeper failure and a change of leader
//! are all retryable.

use std::time::Duration;

/// The HTTP status of a call the master accepted for an asynchronous call.
pub(crate) const ACCEPTED: u16 = 202;
/// The HTTP status of a synchronous call or of the SUBSCRIBE stream.
pub(crate) const OK: u16 = 200;
/// The HTTP status a non-leading master answers with (Location: the leader).
pub(crate) const TEMPORARY_REDIRECT: u16 = 307;
/// The HTTP status of a master without a leader, or still recovering.
pub(crate) const SERVICE_UNAVAILABLE: u16 = 503;
/// The HTTP status of a call from a framework that is not subscribed.
pub(crate) const FORBIDDEN: u16 = 403;

/// Longest response body kept in [`MesosError::Status`].
pub(crate) const MAX_BODY_CHARS: usize = 2048;

/// Why a subscription or a call to the Mesos master failed.
#[derive(Debug, thiserror::Error)]
pub enum MesosError {
    /// The master string is not `host:port`, `http://host:port[/path]` or
    /// `https://...`. Not retryable: the configuration is wrong.
    #[error("invalid Mesos master address {master:?}: {reason}")]
    InvalidMaster {
        /// The configured master.
        master: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No TCP (or TLS) connection could be made to the master: it is down,
    /// not listening or unreachable. Retryable.
    #[error("cannot connect to the Mesos master at {master}")]
    Connect {
        /// The URL that was tried.
        master: String,
        /// The HTTP client's reason.
        #[source]
        source: reqwest::Error,
    },
    /// The connection broke while sending a call or reading its answer
    /// (or the event stream). Retryable.
    #[error("{call} request to the Mesos master at {master} failed")]
    Request {
        /// The call's type (`"SUBSCRIBE"`, `"ACCEPT"` ...).
        call: &'static str,
        /// The URL used.
        master: String,
        /// The HTTP client's reason.
        #[source]
        source: reqwest::Error,
    },
    /// The master did not answer a call (or SUBSCRIBED) within the request
    /// timeout. Retryable.
    #[error("the Mesos master did not answer {call} within {after:?}")]
    Timeout {
        /// The call's type.
        call: &'static str,
        /// The timeout that expired.
        after: Duration,
    },
    /// The master answered a call with an unexpected HTTP status (400 bad
    /// call or wrong stream id, 403 framework not subscribed, 5xx ...).
    /// Retryable for 5xx, 3xx and 403 "not subscribed" (resubscribe), not
    /// for other 4xx.
    #[error("the Mesos master answered {call} with HTTP {status}: {body}")]
    Status {
        /// The call's type.
        call: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of the response body (Mesos puts the reason there).
        body: String,
    },
    /// The masters kept redirecting (307) SUBSCRIBE more than 3 times, or
    /// sent a redirect without a usable `Location`. Retryable: a leader
    /// election may be in progress.
    #[error(
        "the Mesos master at {master} redirected SUBSCRIBE too often or without a usable Location"
    )]
    Redirects {
        /// The last master that redirected.
        master: String,
    },
    /// The master answered 503: no leading master is elected yet, or the
    /// leader is still recovering. Retryable.
    #[error("the Mesos master at {master} has no leader yet (HTTP 503)")]
    NoLeader {
        /// The master that answered.
        master: String,
    },
    /// The master's answer or an event could not be decoded (broken
    /// RecordIO framing, an undecodable event, a stream without
    /// `Mesos-Stream-Id` or not starting with SUBSCRIBED). Retryable.
    #[error("cannot understand the Mesos master: {0}")]
    Decode(String),
    /// A call could not be built or encoded (an update to acknowledge
    /// without an agent id ...). Not retryable: the same call fails again.
    #[error("invalid scheduler call: {0}")]
    InvalidCall(String),
    /// The master closed the event stream (failover to another scheduler
    /// instance, TEARDOWN, master restart). Retryable.
    #[error("the Mesos master closed the event stream")]
    StreamEnded,
    /// No event at all (not even a HEARTBEAT) arrived for `missed_heartbeats`
    /// heartbeat intervals: the stream is dead though the connection looks
    /// open. Retryable.
    #[error("no event from the Mesos master for {after:?}: the stream is dead")]
    HeartbeatTimeout {
        /// How long the stream was silent.
        after: Duration,
    },
    /// The master sent an ERROR event (e.g. "Framework failed over" when
    /// another scheduler instance subscribed with this id, or an invalid
    /// framework info). Retryable.
    #[error("the Mesos master sent an error: {0}")]
    MasterError(String),
    /// The master removed this framework (TEARDOWN, or its
    /// `failover_timeout` expired): an ERROR event or a 403 said so. The
    /// framework id is dead and must be forgotten; not retryable with it.
    #[error("the Mesos master removed the framework: {0}")]
    FrameworkRemoved(String),
    /// No Mesos master is registered in the ZooKeeper group of a `zk://`
    /// master: its path is missing or has no `json.info_` member (or the
    /// one subscribed to left it). Retryable: a master may register.
    #[error("no Mesos master registered under {url}")]
    NoMaster {
        /// The `zk://` URL.
        url: String,
    },
    /// ZooKeeper cannot tell who leads: no session or no answer for the
    /// detector's timeout, a refused read, or a leader whose znode holds
    /// no usable MasterInfo. Retryable.
    #[error("cannot find the leading Mesos master in {url}: {reason}")]
    Detector {
        /// The `zk://` URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// ZooKeeper names another leading master than the one subscribed to:
    /// the subscription ends so that the framework fails over to the new
    /// leader. Retryable.
    #[error("the leading Mesos master changed from {from} to {to}")]
    LeaderChanged {
        /// The master subscribed to, `host:port`.
        from: String,
        /// The new leader, `host:port`.
        to: String,
    },
}

impl MesosError {
    /// Whether resubscribing (or repeating the call) after a backoff can
    /// succeed: everything but [`MesosError::FrameworkRemoved`], an invalid
    /// master or call, and 4xx answers other than 403 "not subscribed".
    pub fn is_retryable(&self) -> bool {
        match self {
            MesosError::FrameworkRemoved(_)
            | MesosError::InvalidMaster { .. }
            | MesosError::InvalidCall(_) => false,
            MesosError::Status { status, .. } => {
                !(400..500).contains(status) || *status == FORBIDDEN
            }
            MesosError::Connect { .. }
            | MesosError::Request { .. }
            | MesosError::Timeout { .. }
            | MesosError::Redirects { .. }
            | MesosError::NoLeader { .. }
            | MesosError::Decode(_)
            | MesosError::StreamEnded
            | MesosError::HeartbeatTimeout { .. }
            | MesosError::MasterError(_)
            | MesosError::NoMaster { .. }
            | MesosError::Detector { .. }
            | MesosError::LeaderChanged { .. } => true,
        }
    }

    /// Whether the master handed the framework to another scheduler that
    /// subscribed with its id (the ERROR "Framework failed over").
    pub fn is_failed_over(&self) -> bool {
        matches!(self, MesosError::MasterError(m) if m.contains("failed over"))
    }

    /// Whether the master removed the framework, so its id must be
    /// forgotten before subscribing again.
    pub fn is_framework_removed(&self) -> bool {
        matches!(self, MesosError::FrameworkRemoved(_))
    }

    /// The error for an HTTP status other than success: 503 is
    /// [`MesosError::NoLeader`], a 403 whose body says the framework was
    /// removed is [`MesosError::FrameworkRemoved`], anything else
    /// [`MesosError::Status`].
    pub(crate) fn from_status(call: &'static str, master: &str, status: u16, body: &str) -> Self {
        let body: String = body.trim().chars().take(MAX_BODY_CHARS).collect();
        if status == SERVICE_UNAVAILABLE {
            return MesosError::NoLeader {
                master: master.to_string(),
            };
        }
        if status == FORBIDDEN && says_framework_removed(&body) {
            return MesosError::FrameworkRemoved(body);
        }
        MesosError::Status { call, status, body }
    }

    /// The error for a failed HTTP exchange: [`MesosError::Connect`] when
    /// no connection was made, [`MesosError::Timeout`] when the client's
    /// timeout fired, else [`MesosError::Request`].
    pub(crate) fn from_reqwest(
        call: &'static str,
        master: &str,
        timeout: Duration,
        source: reqwest::Error,
    ) -> Self {
        if source.is_connect() {
            MesosError::Connect {
                master: master.to_string(),
                source,
            }
        } else if source.is_timeout() {
            MesosError::Timeout {
                call,
                after: timeout,
            }
        } else {
            MesosError::Request {
                call,
                master: master.to_string(),
                source,
            }
        }
    }
}

/// The error for the message of an ERROR event: [`MesosError::FrameworkRemoved`]
/// when it says the framework was removed or torn down or its failover
/// timeout expired, else [`MesosError::MasterError`].
pub fn classify_master_message(message: &str) -> MesosError {
    if says_framework_removed(message) {
        MesosError::FrameworkRemoved(message.to_string())
    } else {
        MesosError::MasterError(message.to_string())
    }
}

/// Whether a master's text says the framework is gone for good (Mesos:
/// "Framework has been removed", "Framework ... torn down", "failover
/// timeout"). "Framework failed over" is not removal: another instance of
/// this framework took over.
fn says_framework_removed(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "removed",
        "torn down",
        "teardown",
        "tore down",
        "failover timeout",
    ]
    .iter()
    .any(|phrase| message.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_messages_are_framework_removed() {
        for message in [
            "Framework has been removed",
            "Framework 1234-0001 removed",
            "Framework was torn down",
            "Framework failover timeout expired",
            "Received TEARDOWN call",
        ] {
            let error = classify_master_message(message);
            assert!(error.is_framework_removed(), "{message}: {error:?}");
            assert!(!error.is_retryable(), "{message}");
        }
    }

    #[test]
    fn other_master_errors_are_retryable() {
        for message in ["Framework failed over", "Invalid FrameworkInfo: no user"] {
            let error = classify_master_message(message);
            assert!(
                matches!(error, MesosError::MasterError(ref m) if m == message),
                "{error:?}"
            );
            assert!(error.is_retryable(), "{message}");
        }
    }

    #[test]
    fn a_503_means_no_leader_and_is_retryable() {
        let error = MesosError::from_status("SUBSCRIBE", "http://m:5050", 503, "");
        assert!(matches!(error, MesosError::NoLeader { ref master } if master == "http://m:5050"));
        assert!(error.is_retryable());
    }

    #[test]
    fn a_403_not_subscribed_is_retryable_but_a_403_removed_is_not() {
        let disconnected = MesosError::from_status(
            "ACCEPT",
            "http://m:5050",
            403,
            "Framework is not subscribed",
        );
        assert!(
            matches!(disconnected, MesosError::Status { status: 403, .. }),
            "{disconnected:?}"
        );
        assert!(disconnected.is_retryable());
        let removed =
            MesosError::from_status("ACCEPT", "http://m:5050", 403, "Framework has been removed");
        assert!(removed.is_framework_removed(), "{removed:?}");
        assert!(!removed.is_retryable());
    }

    #[test]
    fn other_4xx_are_not_retryable_and_5xx_are() {
        let bad =
            MesosError::from_status("KILL", "http://m:5050", 400, "Framework cannot be found");
        assert!(!bad.is_retryable());
        assert!(bad.to_string().contains("KILL"), "{bad}");
        assert!(
            bad.to_string().contains("Framework cannot be found"),
            "{bad}"
        );
        let server = MesosError::from_status("KILL", "http://m:5050", 500, "oops");
        assert!(server.is_retryable());
    }

    #[test]
    fn a_long_body_is_cut() {
        let body = "x".repeat(MAX_BODY_CHARS * 2);
        let MesosError::Status { body, .. } = MesosError::from_status("DECLINE", "m", 400, &body)
        else {
            panic!("expected Status");
        };
        assert_eq!(body.len(), MAX_BODY_CHARS);
    }

    #[test]
    fn stream_failures_are_retryable() {
        assert!(MesosError::StreamEnded.is_retryable());
        assert!(MesosError::HeartbeatTimeout {
            after: Duration::from_secs(75)
        }
        .is_retryable());
        assert!(MesosError::Decode("bad record".into()).is_retryable());
        assert!(!MesosError::InvalidCall("no agent id".into()).is_retryable());
    }

    #[test]
    fn zookeeper_errors_are_retryable_one_liners() {
        let url = "zk://127.0.0.1:2181/mesos".to_string();
        let errors = [
            MesosError::NoMaster { url: url.clone() },
            MesosError::Detector {
                url: url.clone(),
                reason: "no answer from ZooKeeper for 10s: no session".into(),
            },
            MesosError::LeaderChanged {
                from: "10.0.0.1:5050".into(),
                to: "10.0.0.2:5050".into(),
            },
        ];
        for error in errors {
            assert!(error.is_retryable(), "{error}");
            assert!(!error.to_string().contains('\n'), "{error}");
        }
        assert_eq!(
            MesosError::NoMaster { url }.to_string(),
            "no Mesos master registered under zk://127.0.0.1:2181/mesos"
        );
    }
}
