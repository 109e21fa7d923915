//! The definitions in force, kept in the state dir: one file per
//! definition, `definitions/<id>.json`, each written durably before the
//! change it holds is answered ([`super::StateStore::put_definition`]).
//! A definition remembers what it is (the task file's JSON as last
//! applied), its instance count (a scale changes only this), where its
//! last change came from, the task file content last applied from
//! `--tasks` (so an unchanged file does not undo an API change), the
//! definition it replaced (a cancel goes back to it) and the deployment
//! under way.

use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tasks::TemplateId;

/// Where a definition's last change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A task file of `--tasks` (at start or on SIGHUP).
    File,
    /// The HTTP API (`ovn-mesos apply`, `scale`, `cancel`).
    Api,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::File => "file",
            Source::Api => "api",
        }
    }
}

/// What `--tasks` last applied for a definition: the file and its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileApplied {
    pub path: PathBuf,
    pub content: Value,
}

/// A deployment under way: the tasks of other versions than `to` are
/// being replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// `<definition>@<first 8 digits of the new version>`.
    pub id: String,
    /// The version replaced (none for a new definition).
    pub from: Option<String>,
    pub to: String,
    #[serde(with = "super::record::unix_ms")]
    pub started_at: SystemTime,
}

/// One definition as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDefinition {
    pub id: TemplateId,
    /// The task file's JSON as last applied.
    pub body: Value,
    /// The instance count in force (the body's, unless scaled since).
    pub instances: u32,
    pub source: Source,
    /// What `--tasks` last applied under this id, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileApplied>,
    /// The body this one replaced by a deployment (a cancel returns to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRecord>,
    /// Deleted through the API while `--tasks` still had its file: kept
    /// so that the unchanged file does not bring it back at the next
    /// start (a changed file does).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// `definitions/<id>.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct DefinitionFile {
    pub version: u32,
    pub definition: StoredDefinition,
}
