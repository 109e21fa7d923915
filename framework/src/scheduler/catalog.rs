//! The definitions in force and how they change: through the API (apply,
//! scale, delete, cancel) and from the task files of `--tasks` (at start
//! and on SIGHUP). Pure: each change is computed from the stored
//! definitions and returned as the entries to write; the driver resolves
//! the result against the NB, writes it durably, and only then hands it to
//! the core and answers.
//!
//! How the files and the API combine (also in `docs/usage.md`):
//!
//! 1. The state dir holds every definition in force; the API's changes
//!    are written there before they are answered.
//! 2. At start and on SIGHUP, each task file is compared with what was
//!    last applied from it. An unchanged file changes nothing, so the API's
//!    changes since stand (an update, a scale, a delete). A new or edited
//!    file is applied like `ovn-mesos apply`, except its instance count,
//!    which is taken only when the file's own count changed (a scale
//!    through the API survives an edit of the command).
//! 3. A definition whose last change came from a file that `--tasks` no
//!    longer has is deleted. One last changed through the API is never
//!    deleted by the files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use crate::state::{DeploymentRecord, FileApplied, Source, StoredDefinition};
use crate::tasks::{parse_task_value, TaskDefinition, TemplateId, LABEL_INSTANCES};

/// The name a definition sent through the API is known by in messages.
pub const API_SOURCE: &str = "request body";

/// What a change did to one definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// Changed what its tasks run: a deployment replaces them.
    Updated,
    /// Only the instance count (or how it deploys) changed.
    Scaled,
    Unchanged,
    Deleted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Scaled => "scaled",
            Outcome::Unchanged => "unchanged",
            Outcome::Deleted => "deleted",
        }
    }
}

/// Why a change through the API is refused (one line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Invalid(String),
    #[error("no definition {0}")]
    Unknown(String),
    #[error("{0}")]
    Conflict(String),
}

/// One definition to write (`Some`) or remove (`None`), with what it is.
#[derive(Debug, Clone)]
pub struct Change {
    pub id: TemplateId,
    pub stored: Option<StoredDefinition>,
    pub outcome: Outcome,
}

impl Change {
    /// Whether it removes the entry `stored` under its id: a delete, or a
    /// tombstone whose file is gone too.
    pub fn removes(&self, stored: Option<&StoredDefinition>) -> bool {
        match (&self.stored, self.outcome) {
            (Some(_), _) => false,
            (None, Outcome::Deleted) => true,
            (None, Outcome::Unchanged) => stored.is_some_and(|d| d.deleted),
            (None, _) => false,
        }
    }
}

/// The instance count a task file's JSON asks for (1 when it says none).
fn instances_label(body: &Value) -> Option<u32> {
    body.get("labels")?
        .get("labels")?
        .as_array()?
        .iter()
        .find(|l| l.get("key").and_then(Value::as_str) == Some(LABEL_INSTANCES))
        .and_then(|l| l.get("value")?.as_str()?.trim().parse().ok())
}

/// Parses a stored definition, with its instance count in force.
pub fn parse_stored(d: &StoredDefinition, file: &Path) -> Result<TaskDefinition, String> {
    let (mut definition, _) = parse_task_value(file, d.body.clone()).map_err(|p| p.to_string())?;
    definition.instances = d.instances;
    Ok(definition)
}

/// The definitions in force (not deleted), parsed. The file each names is
/// its task file when it came from one, else `api:<id>`. `known` gives a
/// definition parsed before (the ones in force now): one with the same
/// body and file is taken from it instead of parsed again, so a change
/// parses only what it changed.
pub fn in_force<'a, 'k>(
    definitions: impl IntoIterator<Item = &'a StoredDefinition>,
    known: impl Fn(&TemplateId) -> Option<&'k TaskDefinition>,
) -> Result<Vec<TaskDefinition>, String> {
    definitions
        .into_iter()
        .filter(|d| !d.deleted)
        .map(|d| {
            let file = origin(d);
            match known(&d.id).filter(|k| k.file == file && *k.body == d.body) {
                Some(known) => {
                    let mut definition = known.clone();
                    definition.instances = d.instances;
                    Ok(definition)
                }
                None => parse_stored(d, &file),
            }
        })
        .collect()
}

/// The name a stored definition goes by in messages and views.
pub fn origin(d: &StoredDefinition) -> PathBuf {
    match (&d.source, &d.file) {
        (Source::File, Some(f)) => f.path.clone(),
        _ => PathBuf::from(format!("api:{}", d.id)),
    }
}

/// The deployments under way, by definition.
pub fn deployments<'a>(
    definitions: impl IntoIterator<Item = &'a StoredDefinition>,
) -> BTreeMap<TemplateId, DeploymentRecord> {
    definitions
        .into_iter()
        .filter(|d| !d.deleted)
        .filter_map(|d| Some((d.id.clone(), d.deployment.clone()?)))
        .collect()
}

fn deployment(
    id: &TemplateId,
    from: Option<String>,
    to: &str,
    now: SystemTime,
) -> DeploymentRecord {
    DeploymentRecord {
        id: format!("{id}@{}", &to[..to.len().min(8)]),
        from,
        to: to.to_owned(),
        started_at: now,
    }
}

/// A definition `body` applied with `source`: created, updated (a new
/// version: a deployment starts), scaled or unchanged. `instances` is the
/// count to use (the body's for the API).
fn replace(
    existing: Option<&StoredDefinition>,
    parsed: &TaskDefinition,
    instances: u32,
    source: Source,
    file: Option<FileApplied>,
    now: SystemTime,
) -> Change {
    let id = parsed.template();
    let body = (*parsed.body).clone();
    let Some(old) = existing.filter(|d| !d.deleted) else {
        let stored = StoredDefinition {
            id: id.clone(),
            body,
            instances,
            source,
            file: file.or_else(|| existing.and_then(|d| d.file.clone())),
            previous: None,
            deployment: Some(deployment(&id, None, &parsed.version, now)),
            deleted: false,
        };
        return Change {
            id,
            stored: Some(stored),
            outcome: Outcome::Created,
        };
    };
    let old_version = crate::tasks::version_of(&old.body);
    let mut stored = old.clone();
    stored.source = source;
    if file.is_some() {
        stored.file = file;
    }
    let outcome = if old_version != parsed.version {
        stored.previous = Some(old.body.clone());
        stored.deployment = Some(deployment(&id, Some(old_version), &parsed.version, now));
        Outcome::Updated
    } else if old.body != body || old.instances != instances {
        Outcome::Scaled
    } else {
        Outcome::Unchanged
    };
    stored.body = body;
    stored.instances = instances;
    if outcome == Outcome::Unchanged && stored == *old {
        return Change {
            id,
            stored: None,
            outcome,
        };
    }
    Change {
        id,
        stored: Some(stored),
        outcome,
    }
}

/// An apply through the API (`POST /v1/definitions`): the body is a task
/// file's JSON. `expected` is the id of the path (`PUT
/// /v1/definitions/{id}`), which must match.
pub fn apply(
    stored: &BTreeMap<TemplateId, StoredDefinition>,
    body: &[u8],
    expected: Option<&str>,
    now: SystemTime,
) -> Result<Change, Refusal> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| Refusal::Invalid(format!("invalid JSON: {e}")))?;
    let (parsed, _) = parse_task_value(Path::new(API_SOURCE), value)
        .map_err(|p| Refusal::Invalid(problem_line(&p)))?;
    if let Some(expected) = expected {
        if parsed.task_id.value != expected {
            return Err(Refusal::Invalid(format!(
                "task_id.value: the body defines {}, the path names {expected}",
                parsed.task_id.value
            )));
        }
    }
    let instances = parsed.instances;
    Ok(replace(
        stored.get(&parsed.template()),
        &parsed,
        instances,
        Source::Api,
        None,
        now,
    ))
}

/// A problem of a request body, without the file name.
pub fn problem_line(p: &crate::tasks::Problem) -> String {
    match &p.field {
        Some(field) => format!("{field}: {}", p.message),
        None => p.message.clone(),
    }
}

/// A scale through the API.
pub fn scale(
    stored: &BTreeMap<TemplateId, StoredDefinition>,
    id: &str,
    instances: u32,
) -> Result<Change, Refusal> {
    let old = live(stored, id)?;
    if instances > crate::tasks::MAX_INSTANCES {
        return Err(Refusal::Invalid(format!(
            "instances: {instances} is above {}",
            crate::tasks::MAX_INSTANCES
        )));
    }
    if old.instances == instances {
        return Ok(Change {
            id: old.id.clone(),
            stored: None,
            outcome: Outcome::Unchanged,
        });
    }
    let mut new = old.clone();
    new.instances = instances;
    new.source = Source::Api;
    Ok(Change {
        id: old.id.clone(),
        stored: Some(new),
        outcome: Outcome::Scaled,
    })
}

/// A delete through the API: the definition goes (a tombstone stays when
/// `--tasks` applied it, so the unchanged file does not bring it back).
pub fn delete(
    stored: &BTreeMap<TemplateId, StoredDefinition>,
    id: &str,
) -> Result<Change, Refusal> {
    let old = live(stored, id)?;
    let tombstone = old.file.as_ref().map(|_| StoredDefinition {
        deleted: true,
        deployment: None,
        previous: None,
        source: Source::Api,
        ..old.clone()
    });
    Ok(Change {
        id: old.id.clone(),
        stored: tombstone,
        outcome: Outcome::Deleted,
    })
}

/// Cancels the deployment of a definition: it goes back to the definition
/// it replaced (with today's instance count), whose tasks are kept; the
/// new version's tasks are taken out the same way.
pub fn cancel(
    stored: &BTreeMap<TemplateId, StoredDefinition>,
    id: &str,
    now: SystemTime,
) -> Result<(Change, String), Refusal> {
    let old = live(stored, id)?;
    let Some(running) = &old.deployment else {
        return Err(Refusal::Conflict(format!(
            "no deployment of {id} is under way"
        )));
    };
    let Some(previous) = &old.previous else {
        return Err(Refusal::Conflict(format!(
            "deployment {} created {id}: there is nothing to go back to (delete it instead)",
            running.id
        )));
    };
    let (parsed, _) = parse_task_value(&origin(old), previous.clone())
        .map_err(|p| Refusal::Invalid(p.to_string()))?;
    let mut change = replace(Some(old), &parsed, old.instances, Source::Api, None, now);
    if let Some(new) = &mut change.stored {
        // Going back does not offer a way forward again.
        new.previous = None;
    }
    Ok((change, running.id.clone()))
}

fn live<'a>(
    stored: &'a BTreeMap<TemplateId, StoredDefinition>,
    id: &str,
) -> Result<&'a StoredDefinition, Refusal> {
    stored
        .get(&TemplateId::new(id))
        .filter(|d| !d.deleted)
        .ok_or_else(|| Refusal::Unknown(id.to_owned()))
}

/// The task files of `--tasks` applied by the rule of the module's doc:
/// the changes to write, in id order.
pub fn apply_files(
    stored: &BTreeMap<TemplateId, StoredDefinition>,
    files: &[TaskDefinition],
    now: SystemTime,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut named = BTreeSet::new();
    for parsed in files {
        let id = parsed.template();
        named.insert(id.clone());
        let existing = stored.get(&id);
        let applied = existing.and_then(|d| d.file.as_ref());
        let file = FileApplied {
            path: parsed.file.clone(),
            content: (*parsed.body).clone(),
        };
        if applied.is_some_and(|a| a.content == *parsed.body) {
            // Unchanged since it was last applied: what the API did stands.
            if let Some(d) = existing.filter(|d| d.file.as_ref() != Some(&file)) {
                // Only the path moved.
                let mut moved = d.clone();
                moved.file = Some(file);
                changes.push(Change {
                    id,
                    stored: Some(moved),
                    outcome: Outcome::Unchanged,
                });
            }
            continue;
        }
        let instances = match (existing.filter(|d| !d.deleted), applied) {
            (Some(d), Some(a)) if instances_label(&a.content) == instances_label(&parsed.body) => {
                d.instances
            }
            _ => parsed.instances,
        };
        let change = replace(
            existing,
            parsed,
            instances,
            Source::File,
            Some(file.clone()),
            now,
        );
        let change = match change.stored {
            Some(_) => change,
            // Unchanged as a definition, but the file's content is new.
            None => {
                let mut d = existing.cloned().expect("an unchanged definition exists");
                d.file = Some(file);
                d.source = Source::File;
                Change {
                    id: change.id,
                    stored: Some(d),
                    outcome: Outcome::Unchanged,
                }
            }
        };
        changes.push(change);
    }
    for (id, d) in stored {
        if named.contains(id) {
            continue;
        }
        if d.deleted {
            // The file that was deleted through the API is gone too.
            changes.push(Change {
                id: id.clone(),
                stored: None,
                outcome: Outcome::Unchanged,
            });
        } else if d.source == Source::File {
            changes.push(Change {
                id: id.clone(),
                stored: None,
                outcome: Outcome::Deleted,
            });
        }
    }
    changes
}

/// The stored definitions after `changes`.
pub fn after(
    stored: &BTreeMap<TemplateId, StoredDefinition>,
    changes: &[Change],
) -> BTreeMap<TemplateId, StoredDefinition> {
    overlay(stored, changes)
        .into_iter()
        .map(|(id, d)| (id.clone(), d.clone()))
        .collect()
}

/// What [`after`] gives, borrowed: the stored definitions with `changes`
/// laid over them, nothing cloned.
pub fn overlay<'a>(
    stored: &'a BTreeMap<TemplateId, StoredDefinition>,
    changes: &'a [Change],
) -> BTreeMap<&'a TemplateId, &'a StoredDefinition> {
    let mut next: BTreeMap<&TemplateId, &StoredDefinition> = stored.iter().collect();
    for c in changes {
        if let Some(d) = &c.stored {
            next.insert(&c.id, d);
        } else if c.removes(next.get(&c.id).copied()) {
            next.remove(&c.id);
        }
    }
    next
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
