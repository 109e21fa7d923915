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

mod atomic;
mod definitions;
mod lock;
mod record;
mod writer;

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
}

fn holder(pid: &Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "pid unknown".into(),
    }
}

/// The open, locked state dir, with its content in memory.
#[derive(Debug)]
pub struct StateStore {
    dir: PathBuf,
    tasks_dir: PathBuf,
    /// Declared before the lock: dropping the store writes what is queued
    /// before the lock is released.
    writer: writer::Writer,
    _lock: lock::DirLock,
    framework_id: Option<FrameworkId>,
    tasks: BTreeMap<TaskId, TaskRecord>,
    definitions_dir: PathBuf,
    definitions: BTreeMap<TemplateId, StoredDefinition>,
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
            writer: writer::Writer::new(tasks_dir.clone()),
            dir,
            tasks_dir,
            _lock: lock,
            framework_id,
            tasks,
            definitions_dir,
            definitions,
        })
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
        write_json(&self.dir, FRAMEWORK_FILE, &file)?;
        info!(framework_id = %id, "framework id saved");
        self.framework_id = Some(id.clone());
        Ok(())
    }

    /// Forgets the framework id (after TEARDOWN: the next run registers anew).
    pub fn clear_framework_id(&mut self) -> Result<(), StateError> {
        atomic::remove_durably(&self.dir, FRAMEWORK_FILE).map_err(|source| StateError::Write {
            path: self.dir.join(FRAMEWORK_FILE),
            source,
        })?;
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
        let name = task_file_name(&record.task_id);
        let file = TaskFile {
            version: FORMAT_VERSION,
            task: record,
        };
        write_json(&self.tasks_dir, &name, &file)?;
        tracing::debug!(task = %file.task.task_id, state = file.task.state.as_str_name(), "task record saved");
        self.tasks.insert(file.task.task_id.clone(), file.task);
        Ok(())
    }

    /// Deletes a task's record; returns it if there was one.
    pub fn remove_task(&mut self, id: &TaskId) -> Result<Option<TaskRecord>, StateError> {
        self.flush()?;
        let name = task_file_name(id);
        atomic::remove_durably(&self.tasks_dir, &name).map_err(|source| StateError::Write {
            path: self.tasks_dir.join(&name),
            source,
        })?;
        Ok(self.tasks.remove(id))
    }

    /// Adds or replaces a task's record now and queues its file for the
    /// background writer (a record equal to the stored one is not
    /// rewritten). Durable once [`StateStore::flush`] returns; a failure is
    /// logged by the writer and reported by the next flush.
    pub fn queue_task(&mut self, record: TaskRecord) -> Result<(), StateError> {
        if self.tasks.get(&record.task_id) == Some(&record) {
            return Ok(());
        }
        let name = task_file_name(&record.task_id);
        let file = TaskFile {
            version: FORMAT_VERSION,
            task: record,
        };
        let bytes = json_bytes(&self.tasks_dir.join(&name), &file)?;
        self.tasks.insert(file.task.task_id.clone(), file.task);
        if let Err((name, bytes)) = self.writer.queue(name, Some(bytes)) {
            let bytes = bytes.unwrap_or_default();
            atomic::write_atomic(&self.tasks_dir, &name, &bytes).map_err(|source| {
                StateError::Write {
                    path: self.tasks_dir.join(&name),
                    source,
                }
            })?;
        }
        Ok(())
    }

    /// Removes a task's record now and queues the removal of its file;
    /// returns the record if there was one.
    pub fn queue_removal(&mut self, id: &TaskId) -> Result<Option<TaskRecord>, StateError> {
        let name = task_file_name(id);
        if let Err((name, _)) = self.writer.queue(name, None) {
            atomic::remove_durably(&self.tasks_dir, &name).map_err(|source| StateError::Write {
                path: self.tasks_dir.join(&name),
                source,
            })?;
        }
        Ok(self.tasks.remove(id))
    }

    /// Waits until every queued change is on disk; the first file that
    /// could not be written, if any (the others were).
    pub fn flush(&mut self) -> Result<(), StateError> {
        match self.writer.flush().into_iter().next() {
            None => Ok(()),
            Some((name, source)) => Err(StateError::Write {
                path: self.tasks_dir.join(name),
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
        write_json(
            &self.definitions_dir,
            &definition_file_name(&file.definition.id),
            &file,
        )?;
        self.definitions
            .insert(file.definition.id.clone(), file.definition);
        Ok(())
    }

    /// Removes a definition's file durably.
    pub fn remove_definition(&mut self, id: &TemplateId) -> Result<(), StateError> {
        let name = definition_file_name(id);
        atomic::remove_durably(&self.definitions_dir, &name).map_err(|source| {
            StateError::Write {
                path: self.definitions_dir.join(&name),
                source,
            }
        })?;
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
