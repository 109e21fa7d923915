//! [`TemplateId`]: the name of a task template, which is a task file's
//! `task_id.value` (or its `name`). Every task launched from the file gets
//! an id `<template>.<uuid>` ([`crate::launch::new_task_id`]), so the
//! template of any task id can be read back ([`TemplateId::of_task`]).

use std::fmt;

use mesos_proto::v1::TaskId;
use serde::{Deserialize, Serialize};

/// A task template's id (the definition's task id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TemplateId(String);

impl TemplateId {
    pub fn new(id: impl Into<String>) -> TemplateId {
        TemplateId(id.into())
    }

    /// The template a task id was made from: the id before its last dot
    /// (the whole id when it has none).
    pub fn of_task(task: &TaskId) -> TemplateId {
        let id = task.as_str();
        TemplateId::new(id.rsplit_once('.').map_or(id, |(t, _)| t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TemplateId {
    fn from(id: &str) -> TemplateId {
        TemplateId::new(id)
    }
}

impl From<&TaskId> for TemplateId {
    /// The template whose id is this task id (a definition's `task_id`).
    fn from(id: &TaskId) -> TemplateId {
        TemplateId::new(id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_of_a_task_is_its_id_before_the_last_dot() {
        assert_eq!(
            TemplateId::of_task(&TaskId::new("nginxcoke.0f3a")).as_str(),
            "nginxcoke"
        );
        assert_eq!(
            TemplateId::of_task(&TaskId::new("web.v2.0f3a")).as_str(),
            "web.v2"
        );
        assert_eq!(TemplateId::of_task(&TaskId::new("plain")).as_str(), "plain");
    }

    #[test]
    fn it_is_written_as_a_plain_string() {
        let id = TemplateId::new("apachecoke");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"apachecoke\"");
        let back: TemplateId = serde_json::from_str("\"apachecoke\"").unwrap();
        assert_eq!(back, id);
    }
}
