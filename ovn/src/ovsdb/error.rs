//! Errors of the OVSDB client. Each variant says when it happens; RFC 7047
//! operation errors get one typed [`OpErrorKind`] per error string (as libovsdb's
//! `ovsdb/error.go` does), carrying the failing operation's index, name and
//! table. [`Error::is_retryable`] tells a level-triggered caller whether
//! recomputing the change from a fresh cache and trying again can succeed.

use std::fmt;
use std::io;

use serde_json::Value;

use super::datum::DatumError;
use super::operation::Expect;

/// The RFC 7047 error strings an operation (or a commit) can fail with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpErrorKind {
    /// "referential integrity violation": a reference to a missing row.
    ReferentialIntegrityViolation,
    /// "constraint violation": a value out of range, a duplicate index value, too many rows.
    ConstraintViolation,
    /// "resources exhausted".
    ResourcesExhausted,
    /// "I/O error": the server could not write its database.
    IoError,
    /// "duplicate uuid-name": two inserts in one transaction share a uuid-name.
    DuplicateUuidName,
    /// "duplicate uuid": a fixed-uuid insert whose row already exists (a retried insert).
    DuplicateUuid,
    /// "domain error": e.g. division by zero in a mutation.
    DomainError,
    /// "range error": a mutation's result is out of the column's range.
    RangeError,
    /// "timed out": a `wait` operation's condition did not hold.
    TimedOut,
    /// "not supported".
    NotSupported,
    /// "aborted": an `abort` operation.
    Aborted,
    /// "not owner": a lock is not held.
    NotOwner,
    /// "permission error": role-based access control refused the change.
    PermissionError,
    /// "syntax error": the server could not parse the operation (a client bug).
    SyntaxError,
    /// Any other error string.
    Other(String),
}

impl OpErrorKind {
    /// Maps an RFC 7047 `"error"` string to its kind.
    pub fn from_rfc(s: &str) -> OpErrorKind {
        match s {
            "referential integrity violation" => OpErrorKind::ReferentialIntegrityViolation,
            "constraint violation" => OpErrorKind::ConstraintViolation,
            "resources exhausted" => OpErrorKind::ResourcesExhausted,
            "I/O error" => OpErrorKind::IoError,
            "duplicate uuid-name" | "duplicate uuid name" => OpErrorKind::DuplicateUuidName,
            "duplicate uuid" => OpErrorKind::DuplicateUuid,
            "domain error" => OpErrorKind::DomainError,
            "range error" => OpErrorKind::RangeError,
            "timed out" => OpErrorKind::TimedOut,
            "not supported" => OpErrorKind::NotSupported,
            "aborted" => OpErrorKind::Aborted,
            "not owner" => OpErrorKind::NotOwner,
            "permission error" => OpErrorKind::PermissionError,
            "syntax error" => OpErrorKind::SyntaxError,
            other => OpErrorKind::Other(other.to_owned()),
        }
    }

    /// The error string as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            OpErrorKind::ReferentialIntegrityViolation => "referential integrity violation",
            OpErrorKind::ConstraintViolation => "constraint violation",
            OpErrorKind::ResourcesExhausted => "resources exhausted",
            OpErrorKind::IoError => "I/O error",
            OpErrorKind::DuplicateUuidName => "duplicate uuid-name",
            OpErrorKind::DuplicateUuid => "duplicate uuid",
            OpErrorKind::DomainError => "domain error",
            OpErrorKind::RangeError => "range error",
            OpErrorKind::TimedOut => "timed out",
            OpErrorKind::NotSupported => "not supported",
            OpErrorKind::Aborted => "aborted",
            OpErrorKind::NotOwner => "not owner",
            OpErrorKind::PermissionError => "permission error",
            OpErrorKind::SyntaxError => "syntax error",
            OpErrorKind::Other(s) => s,
        }
    }
}

impl fmt::Display for OpErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the OVSDB client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A remote string could not be parsed (or names an unsupported transport).
    #[error("bad OVSDB remote {remote:?}: {reason}")]
    BadRemote { remote: String, reason: String },

    /// Opening the socket to one remote failed.
    #[error("cannot connect to {remote}")]
    Connect {
        remote: String,
        #[source]
        source: io::Error,
    },

    /// No remote was reachable, served the database, or (clustered) was the leader
    /// before the deadline; `last` is the last reason seen.
    #[error("no usable OVSDB server among {remotes}: {last}")]
    NoServer { remotes: String, last: String },

    /// The server does not have the database.
    #[error("database {db} is not served by {remote}")]
    NoDatabase { db: String, remote: String },

    /// There is no live connection right now (nothing was sent).
    #[error("not connected to an OVSDB server")]
    NotConnected,

    /// The connection died after the request was sent and before its reply came.
    #[error("connection lost before the reply to {method}; the request may or may not have taken effect")]
    ReplyLost { method: String },

    /// A bounded wait ran out.
    #[error("timed out waiting for {what}")]
    Timeout { what: String },

    /// The peer sent something that is not valid JSON-RPC.
    #[error("malformed JSON-RPC from the server: {0}")]
    Protocol(String),

    /// The server answered a request with a JSON-RPC error object.
    #[error("{method} failed: {error}")]
    Rpc { method: String, error: Value },

    /// Operation `index` of a transaction failed; the transaction was not committed.
    #[error(
        "operation {index} ({op}{}) failed: {kind}: {details}",
        table_suffix(table)
    )]
    Op {
        index: usize,
        op: &'static str,
        table: Option<String>,
        kind: OpErrorKind,
        details: String,
    },

    /// The client's leader fence failed: the database's leader epoch is no
    /// longer this client's (another instance leads now). Nothing was
    /// written; not retryable: the caller must stop writing.
    #[error("fenced: {table} {key} is no longer {epoch} (another instance leads)")]
    Fenced {
        table: String,
        key: String,
        epoch: u64,
    },

    /// Every operation succeeded but the commit failed (e.g. a duplicate index value
    /// or a dangling reference detected at commit); nothing was committed.
    #[error("transaction failed to commit: {kind}: {details}")]
    Commit { kind: OpErrorKind, details: String },

    /// An update/mutate/delete/select matched a row count its [`Expect`] rejects.
    /// When the operation needed a row and none matched, its `wait` guard made
    /// the server abort the transaction (nothing committed; `count` is 0); any
    /// other mismatch is found in the results, after the commit.
    #[error("operation {index} ({op} on {table}) matched {count} row(s), expected {expect}")]
    Count {
        index: usize,
        op: &'static str,
        table: String,
        count: u64,
        expect: Expect,
    },

    /// A value from the server is not a valid OVSDB datum.
    #[error(transparent)]
    Datum(#[from] DatumError),

    /// The schema is malformed, or the configuration names a table or column it lacks.
    #[error("schema: {0}")]
    Schema(String),
}

fn table_suffix(table: &Option<String>) -> String {
    table
        .as_ref()
        .map(|t| format!(" on {t}"))
        .unwrap_or_default()
}

impl Error {
    /// True when retrying (after the session is re-established and the cache
    /// resynced, with the change recomputed from the fresh cache) can succeed:
    /// lost connections, timeouts, leader changes, and a failed `wait` guard.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::ReplyLost { .. }
            | Error::NotConnected
            | Error::Connect { .. }
            | Error::NoServer { .. }
            | Error::Timeout { .. } => true,
            Error::Rpc { error, .. } => rpc_error_is_transient(error),
            Error::Op { kind, .. } => *kind == OpErrorKind::TimedOut,
            Error::Commit { kind, details } => is_cluster_error(kind.as_str(), details),
            Error::BadRemote { .. }
            | Error::Fenced { .. }
            | Error::NoDatabase { .. }
            | Error::Protocol(_)
            | Error::Count { .. }
            | Error::Datum(_)
            | Error::Schema(_) => false,
        }
    }

    /// True when the error means the connection is gone (the caller should wait
    /// for the session to come back before retrying).
    pub fn is_disconnect(&self) -> bool {
        match self {
            Error::ReplyLost { .. }
            | Error::NotConnected
            | Error::Connect { .. }
            | Error::NoServer { .. } => true,
            Error::Rpc { error, .. } => rpc_error_is_transient(error),
            Error::Commit { kind, details } => is_cluster_error(kind.as_str(), details),
            _ => false,
        }
    }
}

/// ovsdb-server answers with "not leader"-style errors while a cluster changes
/// its leader, and with "cluster error" commits when the Raft log could not be
/// appended; both go away on another server or a little later.
fn rpc_error_is_transient(error: &Value) -> bool {
    let text = match error {
        Value::String(s) => s.clone(),
        Value::Object(o) => format!(
            "{} {}",
            o.get("error").and_then(Value::as_str).unwrap_or_default(),
            o.get("details").and_then(Value::as_str).unwrap_or_default()
        ),
        other => other.to_string(),
    };
    is_cluster_error(&text, "")
}

fn is_cluster_error(kind: &str, details: &str) -> bool {
    let text = format!("{kind} {details}").to_ascii_lowercase();
    text.contains("not leader")
        || text.contains("cluster error")
        || text.contains("leadership")
        || text.contains("not connected to cluster")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// Every error string ovsdb-server uses, with its kind.
    pub(crate) const RFC_STRINGS: [(&str, OpErrorKind); 15] = [
        (
            "referential integrity violation",
            OpErrorKind::ReferentialIntegrityViolation,
        ),
        ("constraint violation", OpErrorKind::ConstraintViolation),
        ("resources exhausted", OpErrorKind::ResourcesExhausted),
        ("I/O error", OpErrorKind::IoError),
        ("duplicate uuid-name", OpErrorKind::DuplicateUuidName),
        ("duplicate uuid name", OpErrorKind::DuplicateUuidName),
        ("duplicate uuid", OpErrorKind::DuplicateUuid),
        ("domain error", OpErrorKind::DomainError),
        ("range error", OpErrorKind::RangeError),
        ("timed out", OpErrorKind::TimedOut),
        ("not supported", OpErrorKind::NotSupported),
        ("aborted", OpErrorKind::Aborted),
        ("not owner", OpErrorKind::NotOwner),
        ("permission error", OpErrorKind::PermissionError),
        ("syntax error", OpErrorKind::SyntaxError),
    ];

    #[test]
    fn every_rfc_error_string_has_its_own_kind_and_prints_back() {
        for (s, kind) in RFC_STRINGS {
            assert_eq!(OpErrorKind::from_rfc(s), kind, "{s}");
            if s != "duplicate uuid name" {
                assert_eq!(kind.to_string(), s);
            }
        }
        assert_eq!(
            OpErrorKind::from_rfc("bogus trouble"),
            OpErrorKind::Other("bogus trouble".into())
        );
    }

    #[test]
    fn connection_losses_and_timeouts_are_retryable() {
        assert!(Error::ReplyLost {
            method: "transact".into()
        }
        .is_retryable());
        assert!(Error::NotConnected.is_retryable());
        assert!(Error::Timeout { what: "x".into() }.is_retryable());
        assert!(Error::NoServer {
            remotes: "a".into(),
            last: "b".into()
        }
        .is_retryable());
        assert!(Error::Connect {
            remote: "unix:/x".into(),
            source: io::Error::from(io::ErrorKind::ConnectionRefused)
        }
        .is_retryable());
    }

    #[test]
    fn only_a_failed_wait_is_a_retryable_operation_error() {
        let op = |kind| Error::Op {
            index: 0,
            op: "wait",
            table: Some("T".into()),
            kind,
            details: String::new(),
        };
        assert!(op(OpErrorKind::TimedOut).is_retryable());
        assert!(!op(OpErrorKind::ConstraintViolation).is_retryable());
        assert!(!op(OpErrorKind::DuplicateUuid).is_retryable());
        assert!(!Error::Count {
            index: 1,
            op: "mutate",
            table: "T".into(),
            count: 0,
            expect: Expect::Exactly(1)
        }
        .is_retryable());
        assert!(!Error::Commit {
            kind: OpErrorKind::ReferentialIntegrityViolation,
            details: String::new()
        }
        .is_retryable());
    }

    #[test]
    fn not_leader_rpc_errors_are_retryable_and_unknown_database_is_not() {
        let rpc = |error| Error::Rpc {
            method: "transact".into(),
            error,
        };
        assert!(rpc(json!({"error": "not leader"})).is_retryable());
        assert!(rpc(json!("not leader")).is_retryable());
        assert!(
            !rpc(json!({"error": "unknown database", "details": "no OVN_Nope"})).is_retryable()
        );
    }

    #[test]
    fn the_message_names_the_operation_and_table() {
        let e = Error::Op {
            index: 2,
            op: "insert",
            table: Some("Logical_Switch_Port".into()),
            kind: OpErrorKind::ConstraintViolation,
            details: "5000 is not in the valid range".into(),
        };
        assert_eq!(
            e.to_string(),
            "operation 2 (insert on Logical_Switch_Port) failed: constraint violation: 5000 is not in the valid range"
        );
    }
}
