//! The OVSDB client: reads from the monitored cache, writes as transactions
//! whose every result is checked, and waits after each commit until the cache
//! shows the transaction's effect (read-your-writes). [`Client::ensure`] is the
//! level-triggered write: it computes the change from the current cache, and
//! after a lost reply or a leader change recomputes it from the resynced cache,
//! so a change that did commit becomes a no-op instead of a duplicate.
//! [`Client::ensure_committed`] is the same write returning at the commit,
//! with the wait for the cache ([`Committed::visible`]) left to the caller.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};
use tracing::{debug, warn};

use super::cache::Cache;
use super::config::ClientConfig;
use super::error::{Error, OpErrorKind};
use super::fence::{fixed_names, Fence};
use super::leader::LeaderFence;
use super::operation::{Operation, Txn};
use super::remote::{format_remotes, Remote};
use super::result::{OpResult, Plan};
use super::schema::Schema;
use super::session::{self, Shared};
use crate::report::Chain;

/// A handle on one OVSDB session; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The last handle is gone: stop the session task.
        self.shared.stop.send_replace(true);
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("database", &self.inner.shared.config.database)
            .field("remote", &self.current_remote())
            .field("connected", &self.is_connected())
            .finish()
    }
}

/// Removes a fence from the session when the transaction is over.
struct FenceGuard {
    shared: Arc<Shared>,
    fence: Arc<Fence>,
}

impl Drop for FenceGuard {
    fn drop(&mut self) {
        self.shared
            .fences
            .lock()
            .expect("fences lock")
            .retain(|f| !Arc::ptr_eq(f, &self.fence));
    }
}

/// A committed transaction whose writes the cache may not show yet
/// ([`Client::ensure_committed`]).
#[must_use = "await `visible` before reading the written rows"]
pub struct Committed {
    /// `None` when there is nothing to wait for (another database, no write).
    guard: Option<FenceGuard>,
    deadline: Instant,
}

impl fmt::Debug for Committed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Committed")
            .field("waits", &self.guard.is_some())
            .finish()
    }
}

impl Committed {
    /// A commit with nothing left to wait for.
    pub fn seen() -> Committed {
        Committed {
            guard: None,
            deadline: Instant::now(),
        }
    }

    /// Waits until the cache shows the transaction's writes; [`Error::Timeout`]
    /// after the client's `write_visible_timeout` from the commit.
    pub async fn visible(self) -> Result<(), Error> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        let mut version = guard.shared.cache_version.subscribe();
        while !guard.fence.is_done() {
            if timeout_at(self.deadline, version.changed()).await.is_err() {
                return Err(Error::Timeout {
                    what: format!(
                        "the cache to show the committed transaction: {}",
                        guard.fence.waiting_for()
                    ),
                });
            }
        }
        Ok(())
    }
}

/// An error of a transaction sent with the leader guard first, in terms of
/// the caller's transaction: the guard's failure is [`Error::Fenced`], the
/// other operations' indexes shift back by one.
fn unshift(e: Error, leader: &LeaderFence) -> Error {
    match e {
        Error::Op {
            index: 0,
            kind: OpErrorKind::TimedOut,
            ..
        } => Error::Fenced {
            table: leader.table.clone(),
            key: leader.key.clone(),
            epoch: leader.epoch,
        },
        Error::Op {
            index,
            op,
            table,
            kind,
            details,
        } => Error::Op {
            index: index.saturating_sub(1),
            op,
            table,
            kind,
            details,
        },
        Error::Count {
            index,
            op,
            table,
            count,
            expect,
        } => Error::Count {
            index: index.saturating_sub(1),
            op,
            table,
            count,
            expect,
        },
        other => other,
    }
}

impl Client {
    /// Connects to a usable server (for a clustered database, with `leader_only`,
    /// the leader), fetches and checks the schema, loads the monitored tables,
    /// and starts the background task that keeps the session. Gives up with
    /// [`Error::NoServer`] after `connect_timeout`; an unknown table is
    /// [`Error::Schema`].
    pub async fn connect(config: ClientConfig) -> Result<Client, Error> {
        if config.remotes.is_empty() {
            return Err(Error::BadRemote {
                remote: String::new(),
                reason: "no remote given".into(),
            });
        }
        let deadline = Instant::now() + config.connect_timeout;
        let (_stop_tx, mut stop) = tokio::sync::watch::channel(false);
        let mut est = session::connect_any(&config, 0, Some(deadline), &mut stop)
            .await
            .ok_or(Error::NotConnected)??;
        let shared = Arc::new(Shared::new(config, est.schema()));
        session::install(&shared, &mut est);
        let task = tokio::spawn(session::run(shared.clone(), est));
        Ok(Client {
            inner: Arc::new(Handle {
                shared,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Commits `txn` (`ovsdb-client transact`) and checks every result: an
    /// operation error is [`Error::Op`], a failed commit [`Error::Commit`], a row
    /// count its `Expect` rejects [`Error::Count`]. On success, waits until the
    /// cache shows the transaction's inserts, deletes, updates and set/map
    /// mutations of monitored rows, so the caller's next read sees its writes.
    pub async fn transact(&self, txn: &Txn) -> Result<Vec<OpResult>, Error> {
        let (results, committed) = self.commit(txn).await?;
        committed.visible().await?;
        Ok(results)
    }

    /// [`Client::transact`] up to the server's answer: the results, and the
    /// wait for the cache to show the writes, to be awaited later.
    async fn commit(&self, txn: &Txn) -> Result<(Vec<OpResult>, Committed), Error> {
        if txn.is_empty() {
            return Ok((Vec::new(), Committed::seen()));
        }
        let shared = &self.inner.shared;
        let (conn, remote) = shared.live_conn().ok_or(Error::NotConnected)?;
        let ours = txn.database == shared.config.database;
        let fence = Arc::new(Fence::default());
        let guard = ours.then(|| {
            let cache = shared.cache.read().expect("cache lock");
            fence.add(txn, &fixed_names(txn), &cache);
            shared
                .fences
                .lock()
                .expect("fences lock")
                .push(fence.clone());
            FenceGuard {
                shared: shared.clone(),
                fence: fence.clone(),
            }
        });
        let started = Instant::now();
        // A fenced client's transaction starts with the leader guard.
        let leader = ours
            .then(|| shared.leader.lock().expect("leader lock").clone())
            .flatten();
        let wire = leader.as_ref().map(|l| l.guarded(txn));
        let sent = wire.as_ref().unwrap_or(txn);
        let mut plan = Plan::new(sent);
        let params = std::mem::take(&mut plan.params);
        let reply = conn.request("transact", params).await;
        debug!(db = %txn.database, ops = txn.len(), %remote, ok = reply.is_ok(),
               elapsed_us = started.elapsed().as_micros() as u64, "transact");
        let results = match (plan.check(sent, &reply?), &leader) {
            (Ok(results), None) => results,
            (Ok(mut results), Some(_)) => {
                results.remove(0);
                results
            }
            (Err(e), None) => return Err(e),
            (Err(e), Some(l)) => return Err(unshift(e, l)),
        };
        if ours {
            let mut names = fixed_names(txn);
            for ((op, _), r) in txn.ops.iter().zip(&results) {
                if let (
                    Operation::Insert {
                        uuid_name: Some(n), ..
                    },
                    Some(u),
                ) = (op, r.uuid)
                {
                    names.insert(n.clone(), u);
                }
            }
            fence.add(txn, &names, &shared.cache.read().expect("cache lock"));
        }
        let committed = Committed {
            guard,
            deadline: Instant::now() + shared.config.write_visible_timeout,
        };
        Ok((results, committed))
    }

    /// Guards every later transaction on this client's database with
    /// `fence` (a `wait` that the leader epoch is still `fence.epoch`), or
    /// stops guarding with `None`. A write refused by the guard fails with
    /// [`Error::Fenced`] and is not retried.
    pub fn set_leader_fence(&self, fence: Option<LeaderFence>) {
        *self.shared().leader.lock().expect("leader lock") = fence;
    }

    /// Level-triggered write: `build` computes the transaction from the current
    /// cache (`None` = nothing to do) and the caller's value `T` that goes
    /// with it (what the transaction does, for a report), and the
    /// transaction is committed. After a retryable failure (reply lost, not
    /// connected, leader changed, a failed `wait` guard) it waits for the
    /// session to come back and the cache to resync, then builds again, until
    /// `ensure_deadline`; a change that did commit is then seen in the cache
    /// and not redone. A `duplicate uuid` on a fixed-uuid insert whose row is
    /// in the cache also means "already applied". `build` runs under the
    /// cache lock: it must be quick and must not call the client.
    ///
    /// The outer `Err` is the write's failure; `Ok(Err(e))` is the build's
    /// own refusal `e`, returned at once with nothing written; `Ok(Ok(value))`
    /// is the value of the last build, whose transaction (if any) committed
    /// and shows in the cache.
    pub async fn ensure<T, E, F>(&self, what: &str, build: F) -> Result<Result<T, E>, Error>
    where
        F: FnMut(&Cache) -> Result<(Option<Txn>, T), E>,
    {
        Ok(self
            .ensure_inner(what, build, true)
            .await?
            .map(|(value, _seen)| value))
    }

    /// [`Client::ensure`] that returns once the server committed, before the
    /// cache shows the writes: the caller acts on the commit at once (the
    /// rows exist in the database) and awaits [`Committed::visible`] before
    /// its next read of them.
    pub async fn ensure_committed<T, E, F>(
        &self,
        what: &str,
        build: F,
    ) -> Result<Result<(T, Committed), E>, Error>
    where
        F: FnMut(&Cache) -> Result<(Option<Txn>, T), E>,
    {
        self.ensure_inner(what, build, false).await
    }

    /// The retry loop of [`Client::ensure`]; with `wait`, a write that does
    /// not show in the cache in time is retried like a lost reply.
    async fn ensure_inner<T, E, F>(
        &self,
        what: &str,
        mut build: F,
        wait: bool,
    ) -> Result<Result<(T, Committed), E>, Error>
    where
        F: FnMut(&Cache) -> Result<(Option<Txn>, T), E>,
    {
        let shared = self.shared();
        let deadline = Instant::now() + shared.config.ensure_deadline;
        let mut after_duplicate = false;
        for attempt in 1u32.. {
            let generation = shared.session.borrow().generation;
            let built = self.read(|c| {
                let (txn, value) = build(c)?;
                // Rebuilt after "duplicate uuid": inserting a row that exists means
                // the earlier attempt committed.
                let applied = after_duplicate
                    && txn.as_ref().is_some_and(|t| {
                        t.ops.iter().any(|(op, _)| match op {
                            Operation::Insert {
                                table,
                                uuid: Some(u),
                                ..
                            } => c.contains(table, u),
                            _ => false,
                        })
                    });
                Ok((if applied { None } else { txn }, value))
            });
            let (txn, value) = match built {
                Ok(built) => built,
                Err(refused) => return Ok(Err(refused)),
            };
            let Some(txn) = txn else {
                return Ok(Ok((value, Committed::seen())));
            };
            let outcome = match self.commit(&txn).await {
                Ok((_, committed)) if wait => committed.visible().await.map(|()| Committed::seen()),
                Ok((_, committed)) => Ok(committed),
                Err(e) => Err(e),
            };
            let err = match outcome {
                Ok(committed) => return Ok(Ok((value, committed))),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(err);
            }
            if let Error::Op {
                kind: OpErrorKind::DuplicateUuid,
                index,
                ..
            } = &err
            {
                let Some((
                    Operation::Insert {
                        table,
                        uuid: Some(u),
                        ..
                    },
                    _,
                )) = txn.ops.get(*index)
                else {
                    return Err(err);
                };
                let (table, u) = (table.clone(), *u);
                debug!(what, %table, uuid = %u, "fixed-uuid row exists; checking it is ours");
                let wait = deadline.min(Instant::now() + shared.config.write_visible_timeout);
                if !self.wait_for(wait, |c| c.contains(&table, &u)).await {
                    return Err(err);
                }
                after_duplicate = true;
            } else if err.is_disconnect() {
                warn!(what, attempt, error = %Chain(&err), "write interrupted; waiting for the OVSDB session to resync");
                if !session::wait_session(shared, generation, deadline).await {
                    return Err(err);
                }
            } else if err.is_retryable() {
                debug!(what, attempt, error = %Chain(&err), "retrying write on a fresh cache");
                if matches!(
                    err,
                    Error::Op {
                        kind: OpErrorKind::TimedOut,
                        ..
                    }
                ) {
                    // A guard failed: the cache is behind the server; let it catch up.
                    let version = *shared.cache_version.borrow();
                    let until = deadline
                        .min(Instant::now() + Duration::from_millis(10u64 << attempt.min(6)));
                    let mut rx = shared.cache_version.subscribe();
                    let _ = timeout_at(until, rx.wait_for(|v| *v != version)).await;
                }
            } else {
                return Err(err);
            }
        }
        unreachable!("the retry loop only ends by returning")
    }

    /// Runs `f` on the cache under its read lock (never held across an await).
    /// `f` must not call back into the client (the lock is not reentrant).
    pub fn read<R>(&self, f: impl FnOnce(&Cache) -> R) -> R {
        f(&self.shared().cache.read().expect("cache lock"))
    }

    async fn wait_for(&self, deadline: Instant, mut cond: impl FnMut(&Cache) -> bool) -> bool {
        let mut version = self.shared().cache_version.subscribe();
        loop {
            version.borrow_and_update();
            if self.read(&mut cond) {
                return true;
            }
            if timeout_at(deadline, version.changed()).await.is_err() {
                return false;
            }
        }
    }

    /// Waits until `cond` holds on the cache, re-checking after every change;
    /// [`Error::Timeout`] names `what`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl FnMut(&Cache) -> bool,
    ) -> Result<(), Error> {
        if self.wait_for(Instant::now() + timeout, cond).await {
            Ok(())
        } else {
            Err(Error::Timeout {
                what: what.to_owned(),
            })
        }
    }

    /// The schema of the current session.
    pub fn schema(&self) -> Arc<Schema> {
        self.shared().schema.read().expect("schema lock").clone()
    }

    /// True while a session is established.
    pub fn is_connected(&self) -> bool {
        self.shared().session.borrow().connected
    }

    /// The server of the current session.
    pub fn current_remote(&self) -> Option<Remote> {
        self.shared().live_conn().map(|(_, r)| r)
    }

    /// The configured remotes, comma-separated.
    pub fn remotes(&self) -> String {
        format_remotes(&self.shared().config.remotes)
    }

    /// How many times the session was re-established after the first connect.
    pub fn reconnects(&self) -> u64 {
        self.shared().reconnects.load(Ordering::Relaxed)
    }

    /// Round-trips an `echo` request (`ovsdb-client` liveness check).
    pub async fn echo(&self) -> Result<(), Error> {
        let (conn, _) = self.shared().live_conn().ok_or(Error::NotConnected)?;
        conn.request("echo", json!(["ovn-mesos"])).await.map(drop)
    }

    /// Stops the background task and closes the connection.
    pub async fn close(&self) {
        self.shared().stop.send_replace(true);
        let task = self.inner.task.lock().expect("task lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn a_client_can_be_shared_between_tasks() {
        shareable::<Client>();
    }

    #[tokio::test]
    async fn connecting_without_remotes_is_a_bad_remote() {
        let mut config = ClientConfig::new("unix:/x.sock", "db").unwrap();
        config.remotes.clear();
        assert!(matches!(
            Client::connect(config).await,
            Err(Error::BadRemote { .. })
        ));
    }
}
