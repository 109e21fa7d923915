//! The `_Server` database every ovsdb-server has (ovsdb-server(5)): one
//! `Database` row per served database with its `model` (standalone, clustered,
//! relay) and, when clustered, whether this server is `connected` to the
//! cluster and is its `leader`. The client monitors that row to pick the Raft
//! leader and to notice when the leader it talks to stops being one, as
//! `ovn-nbctl` does with `--leader-only` (its default).

use serde_json::{json, Value};

use super::cache::Cache;
use super::datum::Row;

/// The database ovsdb-server describes itself in.
pub const SERVER_DB: &str = "_Server";
/// The monitor id of the `_Server.Database` monitor.
pub const SERVER_MONITOR_ID: &str = "ovn-mesos:_Server";
/// The monitor id of the data monitor.
pub const DATA_MONITOR_ID: &str = "ovn-mesos:data";

/// How a database is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Model {
    Standalone,
    Clustered,
    Relay,
    Other(String),
}

/// What one server says about one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseStatus {
    pub name: String,
    pub model: Model,
    /// Clustered: this server is part of a cluster with a quorum.
    pub connected: bool,
    /// Clustered: this server is the Raft leader.
    pub leader: bool,
}

impl DatabaseStatus {
    fn from_row(row: &Row) -> DatabaseStatus {
        let model = match row.get("model").and_then(|d| d.as_str()) {
            Some("standalone") | None => Model::Standalone,
            Some("clustered") => Model::Clustered,
            Some("relay") => Model::Relay,
            Some(other) => Model::Other(other.to_owned()),
        };
        let flag = |c: &str| row.get(c).and_then(|d| d.as_bool()).unwrap_or(false);
        DatabaseStatus {
            name: row
                .get("name")
                .and_then(|d| d.as_str())
                .unwrap_or_default()
                .to_owned(),
            model,
            connected: flag("connected"),
            leader: flag("leader"),
        }
    }

    /// Why this server must not be used for the database, or `None` if it may.
    pub fn unusable_reason(&self, leader_only: bool) -> Option<String> {
        if self.model != Model::Clustered {
            return None;
        }
        if !self.connected {
            return Some(format!(
                "clustered database {} is not connected to its cluster here",
                self.name
            ));
        }
        if leader_only && !self.leader {
            return Some(format!(
                "this server is not the leader of clustered database {}",
                self.name
            ));
        }
        None
    }
}

/// The `monitor_cond` params that watch the `Database` row of `db`.
pub fn monitor_params(db: &str) -> Value {
    json!([
        SERVER_DB,
        SERVER_MONITOR_ID,
        {"Database": [{
            "columns": ["name", "model", "connected", "leader"],
            "where": [["name", "==", db]]
        }]}
    ])
}

/// The status of `db` in a cache of `_Server.Database` rows.
pub fn status(server: &Cache, db: &str) -> Option<DatabaseStatus> {
    server
        .table("Database")
        .map(|(_, row)| DatabaseStatus::from_row(row))
        .find(|s| s.name == db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn server_cache(row: Value) -> Cache {
        let mut c = Cache::default();
        c.apply_update2(&json!({"Database": {Uuid::from_u128(1).to_string(): {"initial": row}}}))
            .unwrap();
        c
    }

    #[test]
    fn a_standalone_database_is_always_usable() {
        let c = server_cache(
            json!({"name": "OVN_Northbound", "model": "standalone", "connected": true}),
        );
        let s = status(&c, "OVN_Northbound").unwrap();
        assert_eq!(s.model, Model::Standalone);
        assert_eq!(s.unusable_reason(true), None);
    }

    #[test]
    fn a_follower_is_usable_only_without_leader_only() {
        let c = server_cache(
            json!({"name": "OVN_Northbound", "model": "clustered", "connected": true, "leader": false}),
        );
        let s = status(&c, "OVN_Northbound").unwrap();
        assert!(s.unusable_reason(true).unwrap().contains("not the leader"));
        assert_eq!(s.unusable_reason(false), None);
    }

    #[test]
    fn a_disconnected_member_is_never_usable() {
        let c =
            server_cache(json!({"name": "OVN_Northbound", "model": "clustered", "leader": true}));
        assert!(status(&c, "OVN_Northbound")
            .unwrap()
            .unusable_reason(false)
            .is_some());
    }

    #[test]
    fn losing_leadership_shows_after_a_modify() {
        let mut c = server_cache(
            json!({"name": "OVN_Northbound", "model": "clustered", "connected": true, "leader": true}),
        );
        assert_eq!(
            status(&c, "OVN_Northbound").unwrap().unusable_reason(true),
            None
        );
        c.apply_update2(
            &json!({"Database": {Uuid::from_u128(1).to_string(): {"modify": {"leader": false}}}}),
        )
        .unwrap();
        assert!(status(&c, "OVN_Northbound")
            .unwrap()
            .unusable_reason(true)
            .is_some());
        assert_eq!(status(&c, "Other"), None);
    }
}
