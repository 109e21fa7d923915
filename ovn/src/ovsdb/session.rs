//! The long-lived session behind a [`super::Client`]: once a connection is
//! established (see [`establish`]) and installed, its reader task applies
//! notifications to the shared cache as they arrive (resolving read-your-write
//! fences on the spot), and a background task, when the connection dies or the
//! server stops being the leader, reconnects across the remotes round-robin
//! and replaces the cache with a fresh snapshot (full resync).

mod establish;

pub use establish::{connect_any, Established};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;
use tokio::time::{timeout, timeout_at, Instant};
use tracing::{debug, info, warn};

use super::cache::Cache;
use super::config::ClientConfig;
use super::connection::{Connection, Notification};
use super::error::Error;
use super::fence::Fence;
use super::remote::Remote;
use super::schema::Schema;
use super::server::{self, DATA_MONITOR_ID, SERVER_MONITOR_ID};
use crate::report::Chain;

/// Whether a session is up, and how many times one was established.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionState {
    pub generation: u64,
    pub connected: bool,
}

/// The live connection and where it goes.
pub struct Live {
    pub conn: Arc<Connection>,
    pub remote: Remote,
}

/// State shared by the client handles and the session task.
pub struct Shared {
    pub config: ClientConfig,
    pub cache: RwLock<Cache>,
    /// Bumped after every change to `cache`.
    pub cache_version: watch::Sender<u64>,
    pub schema: RwLock<Arc<Schema>>,
    pub live: Mutex<Option<Live>>,
    pub session: watch::Sender<SessionState>,
    pub reconnects: AtomicU64,
    /// Read-your-writes fences of transactions in flight.
    pub fences: Mutex<Vec<Arc<Fence>>>,
    /// The leader epoch every write is guarded on, if any.
    pub leader: Mutex<Option<super::LeaderFence>>,
    pub stop: watch::Sender<bool>,
}

impl Shared {
    pub fn new(config: ClientConfig, schema: Arc<Schema>) -> Shared {
        Shared {
            config,
            cache: RwLock::new(Cache::default()),
            cache_version: watch::channel(0).0,
            schema: RwLock::new(schema),
            live: Mutex::new(None),
            session: watch::channel(SessionState::default()).0,
            reconnects: AtomicU64::new(0),
            fences: Mutex::new(Vec::new()),
            leader: Mutex::new(None),
            stop: watch::channel(false).0,
        }
    }

    /// Changes the cache under its lock, lets pending fences observe the result
    /// and wakes the waiters.
    pub fn update_cache<R>(&self, f: impl FnOnce(&mut Cache) -> R) -> R {
        let r = {
            let mut cache = self.cache.write().expect("cache lock");
            let r = f(&mut cache);
            for fence in self.fences.lock().expect("fences lock").iter() {
                fence.observe(&cache);
            }
            r
        };
        self.cache_version.send_modify(|v| *v += 1);
        r
    }

    pub fn live_conn(&self) -> Option<(Arc<Connection>, Remote)> {
        let live = self.live.lock().expect("live lock");
        live.as_ref().map(|l| (l.conn.clone(), l.remote.clone()))
    }
}

/// Makes `est` the live session: replaces schema and cache, publishes the
/// connection, and from then on applies its notifications in its reader task.
pub fn install(shared: &Arc<Shared>, est: &mut Established) {
    *shared.schema.write().expect("schema lock") = est.schema.clone();
    let fresh = std::mem::take(&mut est.cache);
    let rows: usize = fresh.table_names().map(|t| fresh.len(t)).sum();
    // Publish the session while the cache lock is held: whoever sees the new
    // cache sees the session up, and whoever sees the session up and then
    // reads the cache gets the new one.
    shared.update_cache(|c| {
        *c = fresh;
        *shared.live.lock().expect("live lock") = Some(Live {
            conn: est.conn.clone(),
            remote: est.remote.clone(),
        });
        shared.session.send_modify(|s| {
            s.generation += 1;
            s.connected = true;
        });
    });
    // Notifications queued since the snapshot are applied first, in order.
    let weak = Arc::downgrade(shared);
    let mut server = std::mem::take(&mut est.server);
    est.conn.handle_notifications(
        &mut est.notifications,
        Box::new(move |n| {
            let Some(shared) = weak.upgrade() else {
                return Ok(());
            };
            match handle(&shared, &mut server, n) {
                Ok(None) => Ok(()),
                Ok(Some(reason)) => Err(reason),
                Err(e) => Err(format!("bad update, resyncing: {e}")),
            }
        }),
    );
    info!(remote = %est.remote, db = %shared.config.database, rows, "OVSDB session established");
}

fn uninstall(shared: &Shared) {
    *shared.live.lock().expect("live lock") = None;
    shared.session.send_modify(|s| s.connected = false);
}

/// Runs the session until the client stops: serves `est` (already
/// installed), then reconnects and installs the next one.
pub async fn run(shared: Arc<Shared>, mut est: Established) {
    let mut stop = shared.stop.subscribe();
    loop {
        let reason = serve(&est, &mut stop).await;
        uninstall(&shared);
        est.conn.close(&reason);
        if *stop.borrow() {
            debug!(remote = %est.remote, "OVSDB session stopped");
            return;
        }
        warn!(remote = %est.remote, db = %shared.config.database, %reason, "OVSDB connection lost; reconnecting");
        let started = Instant::now();
        let next = (est.index + 1) % shared.config.remotes.len();
        est = loop {
            match connect_any(&shared.config, next, None, &mut stop).await {
                None => return,
                Some(Ok(new)) => break new,
                // Only configuration errors (schema, database gone) end
                // connect_any without a deadline: keep trying, slowly.
                Some(Err(e)) => {
                    warn!(error = %Chain(&e), "OVSDB reconnect failed; retrying");
                    if timeout(shared.config.backoff_max, stopped(&mut stop))
                        .await
                        .is_ok()
                    {
                        return;
                    }
                }
            }
        };
        // Counted before the new cache is visible, so whoever sees it also
        // sees the reconnect.
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
        install(&shared, &mut est);
        warn!(remote = %est.remote, after_ms = started.elapsed().as_millis() as u64, "OVSDB reconnected; cache resynced");
    }
}

/// Waits until the connection must be dropped (it closed: lost, or its reader
/// found the server unusable or an update bad) or the client stops; returns why.
async fn serve(est: &Established, stop: &mut watch::Receiver<bool>) -> String {
    tokio::select! {
        biased;
        _ = stopped(stop) => "client closed".to_owned(),
        reason = est.conn.closed() => reason,
    }
}

/// Applies one notification; `Some(reason)` when the server became unusable.
fn handle(shared: &Shared, server: &mut Cache, n: Notification) -> Result<Option<String>, Error> {
    let (id, updates, v2) = match (n.method.as_str(), n.params.as_array()) {
        ("update2", Some(p)) if p.len() == 2 => (&p[0], &p[1], true),
        ("update3", Some(p)) if p.len() == 3 => (&p[0], &p[2], true),
        ("update", Some(p)) if p.len() == 2 => (&p[0], &p[1], false),
        _ => {
            debug!(method = %n.method, "ignoring notification");
            return Ok(None);
        }
    };
    let apply = |c: &mut Cache| {
        if v2 {
            c.apply_update2(updates)
        } else {
            c.apply_update(updates)
        }
    };
    if id == DATA_MONITOR_ID {
        let rows = shared.update_cache(apply)?;
        debug!(rows, "applied update");
    } else if id == SERVER_MONITOR_ID {
        apply(server)?;
        let db = &shared.config.database;
        return Ok(match server::status(server, db) {
            None => Some(format!("the server no longer serves {db}")),
            Some(s) => s.unusable_reason(shared.config.leader_only),
        });
    } else {
        debug!(monitor = %id, "update for an unknown monitor");
    }
    Ok(None)
}

/// Waits until a session newer than `generation` is up, or `deadline`.
pub async fn wait_session(shared: &Shared, generation: u64, deadline: Instant) -> bool {
    let mut rx = shared.session.subscribe();
    let up = timeout_at(deadline, async {
        rx.wait_for(|s| s.connected && s.generation > generation)
            .await
            .is_ok()
    })
    .await;
    up == Ok(true)
}

/// Resolves once the client is stopping.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::datum::Datum;
    use crate::ovsdb::schema::tests::sample;
    use serde_json::{json, Value};
    use uuid::Uuid;

    const LS: &str = "Logical_Switch";

    fn shared() -> Shared {
        let config = ClientConfig::new("unix:/nowhere.sock", "OVN_Northbound")
            .unwrap()
            .monitor(LS);
        let schema = Arc::new(sample());
        let shared = Shared::new(config.clone(), schema.clone());
        *shared.cache.write().unwrap() = Cache::new(schema, &config.tables);
        shared
    }

    fn note(method: &str, params: Value) -> Notification {
        Notification {
            method: method.into(),
            params,
        }
    }

    fn insert(name: &str) -> Value {
        json!({LS: {Uuid::new_v4().to_string(): {"insert": {"name": name}}}})
    }

    #[test]
    fn update2_update3_and_update_reach_the_data_cache() {
        let s = shared();
        let mut server = Cache::default();
        let version = *s.cache_version.borrow();
        for n in [
            note("update2", json!([DATA_MONITOR_ID, insert("a")])),
            note(
                "update3",
                json!([DATA_MONITOR_ID, Uuid::nil().to_string(), insert("b")]),
            ),
            note(
                "update",
                json!([DATA_MONITOR_ID, {LS: {Uuid::new_v4().to_string(): {"new": {"name": "c"}}}}]),
            ),
        ] {
            assert_eq!(handle(&s, &mut server, n).unwrap(), None);
        }
        let cache = s.cache.read().unwrap();
        for name in ["a", "b", "c"] {
            assert_eq!(
                cache.find(LS, "name", &Datum::string(name)).len(),
                1,
                "{name}"
            );
        }
        assert_eq!(*s.cache_version.borrow(), version + 3);
    }

    #[test]
    fn other_monitors_and_methods_are_ignored_and_bad_updates_are_errors() {
        let s = shared();
        let mut server = Cache::default();
        assert_eq!(
            handle(
                &s,
                &mut server,
                note("update2", json!(["someone-else", insert("x")]))
            )
            .unwrap(),
            None
        );
        assert_eq!(
            handle(&s, &mut server, note("locked", json!(["lock"]))).unwrap(),
            None
        );
        assert_eq!(s.cache.read().unwrap().len(LS), 0);
        assert!(handle(
            &s,
            &mut server,
            note("update2", json!([DATA_MONITOR_ID, {LS: 5}]))
        )
        .is_err());
    }

    #[test]
    fn losing_leadership_or_the_database_row_is_a_reason_to_leave() {
        let s = shared();
        let mut server = Cache::default();
        let row = Uuid::new_v4().to_string();
        let initial = json!({"Database": {&row: {"initial": {
            "name": "OVN_Northbound", "model": "clustered", "connected": true, "leader": true}}}});
        server.apply_update2(&initial).unwrap();
        let demoted =
            json!([SERVER_MONITOR_ID, {"Database": {&row: {"modify": {"leader": false}}}}]);
        let reason = handle(&s, &mut server, note("update2", demoted))
            .unwrap()
            .unwrap();
        assert!(reason.contains("not the leader"), "{reason}");
        let gone = json!([SERVER_MONITOR_ID, {"Database": {&row: {"delete": null}}}]);
        let reason = handle(&s, &mut server, note("update2", gone))
            .unwrap()
            .unwrap();
        assert!(reason.contains("no longer serves"), "{reason}");
    }
}
