//! Establishing a usable connection: connect, check in `_Server` that the
//! server serves the database (and, for a clustered one, is connected to the
//! cluster and, with `leader_only`, its leader), fetch and check the schema,
//! start `monitor_cond` on the configured tables and load the snapshot. Remotes
//! are tried round-robin with jittered exponential backoff between rounds.

use std::sync::Arc;

use rand::Rng;
use serde_json::{json, Map};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, timeout_at, Instant};
use tracing::debug;

use super::stopped;
use crate::ovsdb::cache::Cache;
use crate::ovsdb::config::ClientConfig;
use crate::ovsdb::connection::{Connection, Notification};
use crate::ovsdb::error::Error;
use crate::ovsdb::remote::{format_remotes, Remote};
use crate::ovsdb::schema::Schema;
use crate::ovsdb::server::{self, DATA_MONITOR_ID};

/// A connection ready to be used: schema fetched, snapshot loaded.
pub struct Established {
    pub(super) conn: Arc<Connection>,
    pub(super) remote: Remote,
    pub(super) index: usize,
    pub(super) schema: Arc<Schema>,
    pub(super) cache: Cache,
    pub(super) server: Cache,
    pub(super) notifications: mpsc::UnboundedReceiver<Notification>,
}

impl Established {
    /// The schema fetched from the server.
    pub fn schema(&self) -> Arc<Schema> {
        self.schema.clone()
    }
}

/// Connects to `remote` and makes it usable, or says why it is not.
async fn establish(
    config: &ClientConfig,
    remote: &Remote,
    index: usize,
) -> Result<Established, Error> {
    let db = config.database.as_str();
    let (ntx, notifications) = mpsc::unbounded_channel();
    let conn = Arc::new(Connection::open(remote, config.probe_interval, ntx).await?);

    let mut server = Cache::default();
    match conn
        .request("monitor_cond", server::monitor_params(db))
        .await
    {
        Ok(snapshot) => {
            server.apply_update2(&snapshot)?;
            match server::status(&server, db) {
                None => {
                    return Err(Error::NoDatabase {
                        db: db.to_owned(),
                        remote: remote.to_string(),
                    })
                }
                Some(status) => {
                    if let Some(reason) = status.unusable_reason(config.leader_only) {
                        return Err(Error::NoServer {
                            remotes: remote.to_string(),
                            last: reason,
                        });
                    }
                }
            }
        }
        // A server without `_Server` only serves standalone databases.
        Err(Error::Rpc { error, .. }) if error["error"] == "unknown database" => {
            debug!(%remote, "no _Server database; assuming a standalone server");
        }
        Err(e) => return Err(e),
    }

    let schema = match conn.request("get_schema", json!([db])).await {
        Ok(s) => Arc::new(Schema::from_json(&s)?),
        Err(Error::Rpc { error, .. }) if error["error"] == "unknown database" => {
            return Err(Error::NoDatabase {
                db: db.to_owned(),
                remote: remote.to_string(),
            });
        }
        Err(e) => return Err(e),
    };
    for (table, columns) in &config.tables {
        schema.check_columns(table, columns.as_deref())?;
    }

    let mut cache = Cache::new(schema.clone(), &config.tables);
    if !config.tables.is_empty() {
        let mut requests = Map::new();
        for (table, columns) in &config.tables {
            let request = match columns {
                Some(cols) => json!([{"columns": cols}]),
                None => json!([{}]),
            };
            requests.insert(table.clone(), request);
        }
        let snapshot = conn
            .request("monitor_cond", json!([db, DATA_MONITOR_ID, requests]))
            .await?;
        cache.apply_update2(&snapshot)?;
    }
    Ok(Established {
        conn,
        remote: remote.clone(),
        index,
        schema,
        cache,
        server,
        notifications,
    })
}

/// Tries the remotes round-robin from `start` until one is usable, `deadline`
/// passes (then [`Error::NoServer`]) or the client stops (`None`). Schema and
/// missing-database errors are configuration errors and end the search.
pub async fn connect_any(
    config: &ClientConfig,
    start: usize,
    deadline: Option<Instant>,
    stop: &mut watch::Receiver<bool>,
) -> Option<Result<Established, Error>> {
    let n = config.remotes.len();
    let mut backoff = config.backoff_min;
    let mut last = String::from("no remote tried");
    for round in 0u64.. {
        for step in 0..n {
            let index = (start + step) % n;
            let remote = &config.remotes[index];
            let attempt_deadline = Instant::now() + config.connect_timeout;
            let attempt_deadline = deadline.map_or(attempt_deadline, |d| d.min(attempt_deadline));
            let attempt = tokio::select! {
                _ = stopped(stop) => return None,
                r = timeout_at(attempt_deadline, establish(config, remote, index)) => r,
            };
            match attempt {
                Ok(Ok(est)) => return Some(Ok(est)),
                Ok(Err(e @ (Error::Schema(_) | Error::NoDatabase { .. }))) => return Some(Err(e)),
                Ok(Err(Error::NoServer { last: reason, .. })) => {
                    last = format!("{remote}: {reason}")
                }
                Ok(Err(e)) => last = format!("{remote}: {e}"),
                Err(_) => last = format!("{remote}: no answer within {:?}", config.connect_timeout),
            }
            debug!(%remote, round, reason = %last, "OVSDB server not usable");
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Some(Err(no_server(config, last)));
            }
        }
        let jitter = rand::rng().random_range(0.75..1.25);
        let mut pause = backoff.mul_f64(jitter);
        if let Some(d) = deadline {
            pause = pause.min(d.saturating_duration_since(Instant::now()));
        }
        tokio::select! {
            _ = stopped(stop) => return None,
            _ = sleep(pause) => {}
        }
        backoff = (backoff * 2).min(config.backoff_max);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(Err(no_server(config, last)));
        }
    }
    unreachable!("the retry loop only ends by returning")
}

fn no_server(config: &ClientConfig, last: String) -> Error {
    Error::NoServer {
        remotes: format_remotes(&config.remotes),
        last,
    }
}
