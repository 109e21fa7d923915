//! The framework's local state store (`--state-dir`): its framework id and
//! its task records, so a restarted framework resubscribes with the same id
//! and keeps every task's port and IP.
//!
//! ```text
//! <dir>/lock                 flock held while the framework runs, holder's pid inside
//! <dir>/framework.json       {"version": 1, "framework_id": "..."}
//! <dir>/tasks/<task>.json    {"version": 1, "task": {TaskRecord}}
//! <dir>/definitions/<id>.json {"version": 1, "definition": {StoredDefinition}}
//! ```
//!
//! Every write is atomic and durable ([`atomic`]); the scheduler's hot path
//! queues record changes for a background thread that writes them in
//! batches ([`StateStore::queue_task`], [`StateStore::flush`]). A corrupt or newer file
//! is an error naming it, never a silent reset. OVN NB stays the source of
//! truth for network rows; this store only remembers what the framework did.
//!
//! With `--zk` the same store keeps the framework id and the definitions in
//! ZooKeeper instead ([`zk`], [`StateStore::open_zk`]), shared by the
//! instances of an HA framework, and keeps no task records: the NB's task
//! ports are the records a new leader adopts.

mod atomic;
mod definitions;
mod lock;
mod record;
mod writer;
pub mod zk;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use mesos_proto::v1::{FrameworkId, TaskId};

use crate::tasks::TemplateId;
use serde::de::DeserializeOwned;
use tracing::info;

pub use definitions::{DeploymentRecord, FileApplied, Source, StoredDefinition};
#[cfg(test)]
pub use record::PortRecord;
use record::{task_file_name, FrameworkFile, TaskFile, Versioned};
pub use record::{TaskRecord, FORMAT_VERSION};

/// File holding the framework id.
pub const FRAMEWORK_FILE: &str = "framework.json";
/// Directory holding one file per task record.
pub const TASKS_DIR: &str = "tasks";
/// Directory holding one file per definition.
pub const DEFINITIONS_DIR: &str = "definitions";

/// Why the state store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state dir (or its `tasks/`) could not be created or listed.
    #[error("cannot use state dir {}", .dir.display())]
    Dir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Another process holds the state dir's lock: two frameworks must not
    /// share one state dir. Stop the other one or use another `--state-dir`.
    #[error("state dir {} is in use by another ovn-mesos process ({})", .dir.display(), holder(.pid))]
    Locked { dir: PathBuf, pid: Option<u32> },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {}", .path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A state file could not be read.
    #[error("cannot read state file {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A state file is not what this store writes; it is left untouched
    /// for an operator to inspect (never reset silently).
    #[error("state file {} is corrupt: {reason}; fix or move it away, then restart", .path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// A state file was written by a newer ovn-mesos.
    #[error("state file {} has format version {found}; this ovn-mesos reads version {FORMAT_VERSION}", .path.display())]
    UnsupportedVersion { path: PathBuf, found: u32 },
    /// A state file could not be written or removed (disk full, read-only);
    /// the previous content is intact.
    #[error("cannot write state file {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// ZooKeeper refused or failed a read or a write of the shared state.
    #[error("cannot use the ZooKeeper state {znode}")]
    ZooKeeper {
        znode: String,
        #[source]
        source: zookeeper_client::Error,
    },
    /// A znode of the shared state is not what this store writes; it is
    /// left untouched for an operator to inspect.
    #[error("ZooKeeper state {znode} is corrupt: {reason}; fix or delete it, then restart")]
    ZnodeCorrupt { znode: String, reason: String },
    /// A definition too large for a znode (ZooKeeper's 1 MiB).
    #[error("{znode} would hold {bytes} bytes; ZooKeeper takes at most {max}")]
    TooLarge {
        znode: String,
        bytes: usize,
        max: usize,
    },
    /// The writer of the shared state stopped after a failed write (the
    /// instance is stepping down).
    #[error("the ZooKeeper state {state} is no longer written by this instance (a write failed)")]
    ZkWriterGone { state: String },
}

impl StateError {
    /// The stored state is not what this store reads (corrupt, or written
    /// by a newer ovn-mesos): an operator must look.
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            StateError::Corrupt { .. }
                | StateError::ZnodeCorrupt { .. }
                | StateError::UnsupportedVersion { .. }
        )
    }
}

fn holder(pid: &Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "pid unknown".into(),
    }
}

/// The open, locked state dir (or the shared state in ZooKeeper), with
/// its content in memory.
#[derive(Debug)]
pub struct StateStore {
    backend: Backend,
    framework_id: Option<FrameworkId>,
    tasks: BTreeMap<TaskId, TaskRecord>,
    definitions: BTreeMap<TemplateId, StoredDefinition>,
}

/// Where the state is kept.
#[derive(Debug)]
enum Backend {
    Dir(DirBackend),
    ZooKeeper(zk::ZkBackend),
}

/// The state dir.
#[derive(Debug)]
struct DirBackend {
    dir: PathBuf,
    tasks_dir: PathBuf,
    /// Declared before the lock: dropping the store writes what is queued
    /// before the lock is released.
    writer: writer::Writer,
    _lock: lock::DirLock,
    definitions_dir: PathBuf,
}

impl StateStore {
    /// Opens (creating when missing) and locks the state dir, deletes
    /// temporary files a crash left, and reads every record.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StateError> {
        let dir = dir.as_ref().to_owned();
        let tasks_dir = dir.join(TASKS_DIR);
        let definitions_dir = dir.join(DEFINITIONS_DIR);
        let dir_error = |d: &Path| {
            let d = d.to_owned();
            move |source| StateError::Dir { dir: d, source }
        };
        fs::create_dir_all(&tasks_dir).map_err(dir_error(&tasks_dir))?;
        fs::create_dir_all(&definitions_dir).map_err(dir_error(&definitions_dir))?;
        let lock = lock::DirLock::acquire(&dir)?;
        for d in [&dir, &tasks_dir, &definitions_dir] {
            let removed = atomic::remove_temp_files(d).map_err(dir_error(d))?;
            if removed > 0 {
                info!(dir = %d.display(), removed, "removed temporary state files left by a crash");
            }
        }
        let framework_id = match read_json::<FrameworkFile>(&dir.join(FRAMEWORK_FILE))? {
            Some(file) => Some(file.framework_id),
            None => None,
        };
        let mut tasks = BTreeMap::new();
        for entry in fs::read_dir(&tasks_dir).map_err(dir_error(&tasks_dir))? {
            let path = entry.map_err(dir_error(&tasks_dir))?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Some(file) = read_json::<TaskFile>(&path)? else {
                continue;
            };
            let expected = task_file_name(&file.task.task_id);
            if path.file_name().is_none_or(|n| *n != *expected) {
                return Err(StateError::Corrupt {
                    path,
                    reason: format!(
                        "it holds task {}, expected in {expected}",
                        file.task.task_id
                    ),
                });
            }
            tasks.insert(file.task.task_id.clone(), file.task);
        }
        let mut definitions = BTreeMap::new();
        for entry in fs::read_dir(&definitions_dir).map_err(dir_error(&definitions_dir))? {
            let path = entry.map_err(dir_error(&definitions_dir))?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Some(file) = read_json::<definitions::DefinitionFile>(&path)? else {
                continue;
            };
            let d = file.definition;
            let expected = definition_file_name(&d.id);
            if path.file_name().is_none_or(|n| *n != *expected) {
                return Err(StateError::Corrupt {
                    path,
                    reason: format!("it holds definition {}, expected in {expected}", d.id),
                });
            }
            definitions.insert(d.id.clone(), d);
        }
        info!(dir = %dir.display(), framework_id = ?framework_id.as_ref().map(|f| f.as_str()), tasks = tasks.len(), definitions = definitions.len(), "state loaded");
        Ok(StateStore {
            backend: Backend::Dir(DirBackend {
                writer: writer::Writer::new(tasks_dir.clone()),
                dir,
                tasks_dir,
                _lock: lock,
                definitions_dir,
            }),
            framework_id,
            tasks,
            definitions,
        })
    }

    /// Opens the shared state under the ZooKeeper znode `path` (creating
    /// `<path>/state` when missing) for the holder of `lock`, the leader:
    /// every write is guarded by the lock. `failed` gets the reason of
    /// the first write that failed, after which nothing more is written.
    pub async fn open_zk(
        lock: std::sync::Arc<zookeeper_client::OwnedLockClient>,
        path: &str,
        failed: tokio::sync::watch::Sender<Option<String>>,
    ) -> Result<Self, StateError> {
        let loaded = zk::open(lock, path, failed).await?;
        info!(state = %loaded.backend.state, framework_id = ?loaded.framework_id.as_ref().map(|f| f.as_str()), definitions = loaded.definitions.len(), "shared state loaded from ZooKeeper");
        Ok(StateStore {
            backend: Backend::ZooKeeper(loaded.backend),
            framework_id: loaded.framework_id,
            tasks: BTreeMap::new(),
            definitions: loaded.definitions,
        })
    }

    /// Where the state is: the state dir, or the ZooKeeper znode.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Dir(d) => d.dir.display().to_string(),
            Backend::ZooKeeper(z) => format!("zookeeper {}", z.state),
        }
    }

    /// Runs `then` once every change made so far is durable: at once for
    /// the state dir (its writes are synchronous), after the queued writes
    /// for ZooKeeper; never if one of those failed.
    pub fn then(&self, then: Box<dyn FnOnce() + Send>) {
        match &self.backend {
            Backend::Dir(_) => then(),
            Backend::ZooKeeper(z) => z.then(then),
        }
    }

    /// Waits for the ZooKeeper writes queued so far (at a graceful stop);
    /// nothing to wait for with a state dir.
    pub async fn settle(&self) {
        if let Backend::ZooKeeper(z) = &self.backend {
            z.flush().await;
        }
    }

    /// The framework id the master gave at the first SUBSCRIBED.
    pub fn framework_id(&self) -> Option<&FrameworkId> {
        self.framework_id.as_ref()
    }

    /// Remembers the framework id (written before it is used).
    pub fn set_framework_id(&mut self, id: &FrameworkId) -> Result<(), StateError> {
        if self.framework_id.as_ref() == Some(id) {
            return Ok(());
        }
        let file = FrameworkFile {
            version: FORMAT_VERSION,
            framework_id: id.clone(),
        };
        match &self.backend {
            Backend::Dir(d) => write_json(&d.dir, FRAMEWORK_FILE, &file)?,
            Backend::ZooKeeper(z) => {
                let znode = z.framework_znode();
                let bytes = compact_bytes(&znode, &file)?;
                z.put(znode, bytes)?;
            }
        }
        info!(framework_id = %id, "framework id saved");
        self.framework_id = Some(id.clone());
        Ok(())
    }

    /// Forgets the framework id (after TEARDOWN: the next run registers anew).
    pub fn clear_framework_id(&mut self) -> Result<(), StateError> {
        match &self.backend {
            Backend::Dir(d) => {
                atomic::remove_durably(&d.dir, FRAMEWORK_FILE).map_err(|source| {
                    StateError::Write {
                        path: d.dir.join(FRAMEWORK_FILE),
                        source,
                    }
                })?;
            }
            Backend::ZooKeeper(z) => z.delete(z.framework_znode())?,
        }
        self.framework_id = None;
        Ok(())
    }

    /// Writes (adds or replaces) a task's record now, durably; a record
    /// equal to the stored one is not rewritten. (The scheduler queues its
    /// records instead: [`StateStore::queue_task`].)
    #[cfg(test)]
    pub fn put_task(&mut self, record: TaskRecord) -> Result<(), StateError> {
        if self.tasks.get(&record.task_id) == Some(&record) {
            return Ok(());
        }
        self.flush()?;
        let Backend::Dir(d) = &self.backend else {
            return Ok(());
        };
        let name = task_file_name(&record.task_id);
        let file = TaskFile {
            version: FORMAT_VERSION,
            task: record,
        };
        write_json(&d.tasks_dir, &name, &file)?;
        tracing::debug!(task = %file.task.task_id, state = file.task.state.as_str_name(), "task record saved");
        self.tasks.insert(file.task.task_id.clone(), file.task);
        Ok(())
    }

    /// Deletes a task's record; returns it if there was one.
    pub fn remove_task(&mut self, id: &TaskId) -> Result<Option<TaskRecord>, StateError> {
        self.flush()?;
        if let Backend::Dir(d) = &self.backend {
            let name = task_file_name(id);
            atomic::remove_durably(&d.tasks_dir, &name).map_err(|source| StateError::Write {
                path: d.tasks_dir.join(&name),
                source,
            })?;
        }
        Ok(self.tasks.remove(id))
    }

    /// Adds or replaces a task's record now and queues its file for the
    /// background writer (a record equal to the stored one is not
    /// rewritten). Durable once [`StateStore::flush`] returns; a failure is
    /// logged by the writer and reported by the next flush. The ZooKeeper
    /// state keeps no task records (the NB's task ports are the records).
    pub fn queue_task(&mut self, record: TaskRecord) -> Result<(), StateError> {
        let Backend::Dir(d) = &mut self.backend else {
            return Ok(());
        };
        if self.tasks.get(&record.task_id) == Some(&record) {
            return Ok(());
        }
        let name = task_file_name(&record.task_id);
        let file = TaskFile {
            version: FORMAT_VERSION,
            task: record,
        };
        let bytes = json_bytes(&d.tasks_dir.join(&name), &file)?;
        self.tasks.insert(file.task.task_id.clone(), file.task);
        if let Err((name, bytes)) = d.writer.queue(name, Some(bytes)) {
            let bytes = bytes.unwrap_or_default();
            atomic::write_atomic(&d.tasks_dir, &name, &bytes).map_err(|source| {
                StateError::Write {
                    path: d.tasks_dir.join(&name),
                    source,
                }
            })?;
        }
        Ok(())
    }

    /// Removes a task's record now and queues the removal of its file;
    /// returns the record if there was one.
    pub fn queue_removal(&mut self, id: &TaskId) -> Result<Option<TaskRecord>, StateError> {
        let Backend::Dir(d) = &mut self.backend else {
            return Ok(None);
        };
        let name = task_file_name(id);
        if let Err((name, _)) = d.writer.queue(name, None) {
            atomic::remove_durably(&d.tasks_dir, &name).map_err(|source| StateError::Write {
                path: d.tasks_dir.join(&name),
                source,
            })?;
        }
        Ok(self.tasks.remove(id))
    }

    /// Waits until every queued change is on disk; the first file that
    /// could not be written, if any (the others were).
    pub fn flush(&mut self) -> Result<(), StateError> {
        let Backend::Dir(d) = &mut self.backend else {
            return Ok(());
        };
        match d.writer.flush().into_iter().next() {
            None => Ok(()),
            Some((name, source)) => Err(StateError::Write {
                path: d.tasks_dir.join(name),
                source,
            }),
        }
    }

    /// One task's record.
    #[cfg(test)]
    pub fn task(&self, id: &TaskId) -> Option<&TaskRecord> {
        self.tasks.get(id)
    }

    /// Every task record, ordered by task id.
    pub fn tasks(&self) -> impl ExactSizeIterator<Item = &TaskRecord> {
        self.tasks.values()
    }

    /// Every stored definition (deleted ones included), by id.
    pub fn definitions(&self) -> &BTreeMap<TemplateId, StoredDefinition> {
        &self.definitions
    }

    /// Writes (adds or replaces) a definition now, durably; one equal to
    /// the stored one is not rewritten.
    pub fn put_definition(&mut self, definition: StoredDefinition) -> Result<(), StateError> {
        if self.definitions.get(&definition.id) == Some(&definition) {
            return Ok(());
        }
        let file = definitions::DefinitionFile {
            version: FORMAT_VERSION,
            definition,
        };
        match &self.backend {
            Backend::Dir(d) => write_json(
                &d.definitions_dir,
                &definition_file_name(&file.definition.id),
                &file,
            )?,
            Backend::ZooKeeper(z) => {
                let znode = z.definition_znode(&file.definition.id);
                let bytes = compact_bytes(&znode, &file)?;
                z.put(znode, bytes)?;
            }
        }
        self.definitions
            .insert(file.definition.id.clone(), file.definition);
        Ok(())
    }

    /// Removes a definition's file durably.
    pub fn remove_definition(&mut self, id: &TemplateId) -> Result<(), StateError> {
        match &self.backend {
            Backend::Dir(d) => {
                let name = definition_file_name(id);
                atomic::remove_durably(&d.definitions_dir, &name).map_err(|source| {
                    StateError::Write {
                        path: d.definitions_dir.join(&name),
                        source,
                    }
                })?;
            }
            Backend::ZooKeeper(z) => z.delete(z.definition_znode(id))?,
        }
        self.definitions.remove(id);
        Ok(())
    }
}

/// A definition's file name, escaped like a task record's.
fn definition_file_name(id: &TemplateId) -> String {
    task_file_name(&TaskId::new(id.as_str()))
}

/// Reads a versioned JSON state file; `None` when it does not exist.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    let corrupt = |e: serde_json::Error| StateError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let Versioned { version } = serde_json::from_slice(&bytes).map_err(corrupt)?;
    if version != FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            path: path.to_owned(),
            found: version,
        });
    }
    serde_json::from_slice(&bytes).map(Some).map_err(corrupt)
}

fn write_json<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> Result<(), StateError> {
    let path = dir.join(name);
    let bytes = json_bytes(&path, value)?;
    atomic::write_atomic(dir, name, &bytes).map_err(|source| StateError::Write { path, source })
}

/// A znode's content: compact JSON (a znode holds at most 1 MiB).
fn compact_bytes<T: serde::Serialize>(znode: &str, value: &T) -> Result<Vec<u8>, StateError> {
    serde_json::to_vec(value).map_err(|e| StateError::ZnodeCorrupt {
        znode: znode.to_owned(),
        reason: format!("cannot serialize: {e}"),
    })
}

/// A state file's content: pretty JSON and a final newline.
fn json_bytes<T: serde::Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, StateError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| StateError::Write {
        path: path.to_owned(),
        source: io::Error::other(e),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests;
