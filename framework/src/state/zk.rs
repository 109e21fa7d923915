//! The shared state in ZooKeeper (`ovn-mesos run --zk`): what a new
//! leader cannot derive from the NB or from Mesos.
//!
//! ```text
//! <path>/state/framework-id            {"version": 1, "framework_id": "..."}
//! <path>/state/definitions/<id>.json   {"version": 1, "definition": {StoredDefinition}}
//! ```
//!
//! The deployments under way are part of their definitions. Task records
//! are not kept: the task ports' `external_ids` in the NB (framework, task,
//! service, agent, hostname, version) are the record a new leader adopts.
//!
//! Every write is guarded by the leader's lock node
//! ([`zk::OwnedLockClient`]): a multi-op with a check that the node exists,
//! so an instance that lost its lock writes nothing. The event loop never
//! awaits ZooKeeper: writes are queued for a task that sends them in
//! order, and an answer that must follow a write (an API change of a
//! definition) is queued behind it ([`super::StateStore::then`]). The
//! first failed write ends the writer and is reported on its `failed`
//! channel: the leader then steps down, and the next one reads what did
//! land.

use std::collections::BTreeMap;
use std::sync::Arc;

use mesos_proto::v1::FrameworkId;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error};
use zookeeper_client as zk;

use super::definitions::{DefinitionFile, StoredDefinition};
use super::record::{FrameworkFile, Versioned, FORMAT_VERSION};
use super::StateError;
use crate::tasks::TemplateId;
use ovn::report::Chain;

/// The znode holding the framework id, under the state znode.
pub const FRAMEWORK_ZNODE: &str = "framework-id";
/// The znode holding one child per definition, under the state znode.
pub const DEFINITIONS_ZNODE: &str = "definitions";

/// The pause before a write interrupted by a lost connection is sent again.
const RESEND_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// The largest znode ZooKeeper takes by default (`jute.maxbuffer`, 1 MiB),
/// less room for the request around it.
pub const MAX_ZNODE_BYTES: usize = 1_000_000;

/// One queued job of the writer.
enum Job {
    /// Create or replace a znode's data.
    Put { znode: String, bytes: Vec<u8> },
    /// Delete a znode (a missing one is fine).
    Delete { znode: String },
    /// Run once everything queued before is written.
    Then(Box<dyn FnOnce() + Send>),
    /// Answer once everything queued before is written.
    Flush(oneshot::Sender<()>),
}

/// The writer's end the store holds.
#[derive(Debug)]
pub(super) struct ZkBackend {
    /// `<path>/state`.
    pub(super) state: String,
    tx: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Put { znode, .. } => write!(f, "Put({znode})"),
            Job::Delete { znode } => write!(f, "Delete({znode})"),
            Job::Then(_) => f.write_str("Then"),
            Job::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// What [`open`] read.
pub(super) struct Loaded {
    pub backend: ZkBackend,
    pub framework_id: Option<FrameworkId>,
    pub definitions: BTreeMap<TemplateId, StoredDefinition>,
}

fn zk_error(znode: &str) -> impl FnOnce(zk::Error) -> StateError + '_ {
    move |source| StateError::ZooKeeper {
        znode: znode.to_owned(),
        source,
    }
}

/// Creates `<path>/state` when missing, reads it, and starts the writer
/// guarded by `lock`. `failed` gets the reason of the first failed write.
pub(super) async fn open(
    lock: Arc<zk::OwnedLockClient>,
    path: &str,
    failed: watch::Sender<Option<String>>,
) -> Result<Loaded, StateError> {
    let client = lock.client();
    let state = format!("{path}/state");
    let definitions_znode = format!("{state}/{DEFINITIONS_ZNODE}");
    let dir = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client
        .mkdir(&definitions_znode, &dir)
        .await
        .map_err(zk_error(&definitions_znode))?;
    let framework_znode = format!("{state}/{FRAMEWORK_ZNODE}");
    let framework_id = match client.get_data(&framework_znode).await {
        Ok((bytes, _)) => Some(parse::<FrameworkFile>(&framework_znode, &bytes)?.framework_id),
        Err(zk::Error::NoNode) => None,
        Err(e) => return Err(zk_error(&framework_znode)(e)),
    };
    let mut names = client
        .list_children(&definitions_znode)
        .await
        .map_err(zk_error(&definitions_znode))?;
    names.sort();
    let mut definitions = BTreeMap::new();
    for name in names {
        let znode = format!("{definitions_znode}/{name}");
        let bytes = match client.get_data(&znode).await {
            Ok((bytes, _)) => bytes,
            // Deleted since the listing (by an operator: the leader holds
            // the lock).
            Err(zk::Error::NoNode) => continue,
            Err(e) => return Err(zk_error(&znode)(e)),
        };
        let d = parse::<DefinitionFile>(&znode, &bytes)?.definition;
        let expected = super::definition_file_name(&d.id);
        if name != expected {
            return Err(StateError::ZnodeCorrupt {
                znode,
                reason: format!("it holds definition {}, expected in {expected}", d.id),
            });
        }
        definitions.insert(d.id.clone(), d);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(write(lock, rx, failed));
    Ok(Loaded {
        backend: ZkBackend { state, tx },
        framework_id,
        definitions,
    })
}

/// A znode's versioned JSON.
fn parse<T: DeserializeOwned>(znode: &str, bytes: &[u8]) -> Result<T, StateError> {
    let corrupt = |e: serde_json::Error| StateError::ZnodeCorrupt {
        znode: znode.to_owned(),
        reason: e.to_string(),
    };
    let Versioned { version } = serde_json::from_slice(bytes).map_err(corrupt)?;
    if version != FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            path: znode.into(),
            found: version,
        });
    }
    serde_json::from_slice(bytes).map_err(corrupt)
}

impl ZkBackend {
    /// The framework id's znode.
    pub(super) fn framework_znode(&self) -> String {
        format!("{}/{FRAMEWORK_ZNODE}", self.state)
    }

    /// A definition's znode.
    pub(super) fn definition_znode(&self, id: &TemplateId) -> String {
        format!(
            "{}/{DEFINITIONS_ZNODE}/{}",
            self.state,
            super::definition_file_name(id)
        )
    }

    /// Queues a write of `bytes` to `znode`; more than ZooKeeper takes is
    /// refused here, with nothing queued.
    pub(super) fn put(&self, znode: String, bytes: Vec<u8>) -> Result<(), StateError> {
        if bytes.len() > MAX_ZNODE_BYTES {
            return Err(StateError::TooLarge {
                znode,
                bytes: bytes.len(),
                max: MAX_ZNODE_BYTES,
            });
        }
        self.send(Job::Put { znode, bytes })
    }

    /// Queues the deletion of `znode`.
    pub(super) fn delete(&self, znode: String) -> Result<(), StateError> {
        self.send(Job::Delete { znode })
    }

    /// Runs `then` once every write queued before it landed; never, if one
    /// failed (`then` is dropped).
    pub(super) fn then(&self, then: Box<dyn FnOnce() + Send>) {
        let _ = self.tx.send(Job::Then(then));
    }

    /// Waits until every write queued so far landed or the writer ended.
    pub(super) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    fn send(&self, job: Job) -> Result<(), StateError> {
        self.tx.send(job).map_err(|_| StateError::ZkWriterGone {
            state: self.state.clone(),
        })
    }
}

/// Whether a write may succeed if sent again in the same session: the
/// connection moved to another member while it was in flight.
fn transient(e: &zk::Error) -> bool {
    matches!(
        e,
        zk::Error::ConnectionLoss | zk::Error::Timeout | zk::Error::Custom(_)
    )
}

/// Sends one write: `Some(bytes)` sets the znode, `None` deletes it. Each
/// is idempotent: a create that finds the node made sets it, a delete of
/// a missing node is done.
async fn send_once(
    lock: &zk::OwnedLockClient,
    znode: &str,
    bytes: Option<&[u8]>,
) -> Result<(), zk::Error> {
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    match bytes {
        Some(bytes) => match lock.set_data(znode, bytes, None).await {
            Err(zk::Error::NoNode) => match lock.create(znode, bytes, &persistent).await {
                Err(zk::Error::NodeExists) => lock.set_data(znode, bytes, None).await.map(|_| ()),
                other => other.map(|_| ()),
            },
            other => other.map(|_| ()),
        },
        None => match lock.delete(znode, None).await {
            Ok(()) | Err(zk::Error::NoNode) => Ok(()),
            Err(e) => Err(e),
        },
    }
}

/// The writer: one job after the other, each write guarded by the lock
/// (sent again while the session lives if the connection dropped under
/// it); the first failure ends it.
async fn write(
    lock: Arc<zk::OwnedLockClient>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    failed: watch::Sender<Option<String>>,
) {
    while let Some(job) = rx.recv().await {
        let (znode, bytes) = match job {
            Job::Then(then) => {
                then();
                continue;
            }
            Job::Flush(done) => {
                let _ = done.send(());
                continue;
            }
            Job::Put { znode, bytes } => (znode, Some(bytes)),
            Job::Delete { znode } => (znode, None),
        };
        let result = loop {
            match send_once(&lock, &znode, bytes.as_deref()).await {
                Err(e) if transient(&e) && !lock.client().state().is_terminated() => {
                    debug!(znode, error = %Chain(&e), "ZooKeeper write interrupted; sending it again");
                    tokio::time::sleep(RESEND_PAUSE).await;
                }
                other => break other,
            }
        };
        match result {
            Ok(()) => debug!(znode, "state written to ZooKeeper"),
            Err(e) => {
                let reason = match e {
                    zk::Error::RuntimeInconsistent => {
                        format!("writing {znode}: this instance no longer holds the leader lock")
                    }
                    e => format!("writing {znode}: {}", Chain(&e)),
                };
                error!(reason, "cannot write the shared state; stepping down");
                failed.send_replace(Some(reason));
                return;
            }
        }
    }
}
