//! Constructors and conversions for the Mesos identifier messages
//! (`FrameworkID`, `TaskID` ...): each is a message with one `value`
//! string, so `TaskId::from("web-1")`, `TaskId::new(name)`, `id.as_str()`
//! and `format!("{id}")` make them easy to build and log.
//!
//! The generated id types also derive `Eq`, `Hash` and `Ord` (see
//! `build.rs`), so they can be map keys.

use std::fmt;

use crate::v1::{
    AgentId, ContainerId, ExecutorId, FrameworkId, OfferId, OperationId, ResourceProviderId, TaskId,
};

macro_rules! string_id {
    ($($id:ident),* $(,)?) => {$(
        impl $id {
            /// The id's string value.
            pub fn as_str(&self) -> &str {
                &self.value
            }
        }

        impl From<&str> for $id {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }

        impl From<String> for $id {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.value)
            }
        }
    )*};
}

macro_rules! plain_id_constructor {
    ($($id:ident),* $(,)?) => {$(
        impl $id {
            /// Builds the id from its string value.
            pub fn new(value: impl Into<String>) -> Self {
                Self { value: value.into() }
            }
        }
    )*};
}

plain_id_constructor!(
    FrameworkId,
    OfferId,
    AgentId,
    TaskId,
    ExecutorId,
    ResourceProviderId,
    OperationId,
);

string_id!(
    FrameworkId,
    OfferId,
    AgentId,
    TaskId,
    ExecutorId,
    ContainerId,
    ResourceProviderId,
    OperationId,
);

impl ContainerId {
    /// Builds a top-level container id (no parent).
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            parent: None,
        }
    }

    /// Builds the id of a container nested in `parent`.
    pub fn nested(value: impl Into<String>, parent: ContainerId) -> Self {
        Self {
            value: value.into(),
            parent: Some(Box::new(parent)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn an_id_is_built_from_a_str_or_a_string() {
        assert_eq!(TaskId::from("web-1").value, "web-1");
        assert_eq!(FrameworkId::from(String::from("fw")).as_str(), "fw");
        assert_eq!(AgentId::new("a1"), AgentId::from("a1"));
    }

    #[test]
    fn an_id_displays_as_its_value() {
        assert_eq!(ExecutorId::from("exec-9").to_string(), "exec-9");
        assert_eq!(format!("{}", OfferId::from("o-1")), "o-1");
    }

    #[test]
    fn ids_can_be_set_members() {
        let set: HashSet<TaskId> = ["a", "b", "a"].into_iter().map(TaskId::from).collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn a_nested_container_id_keeps_its_parent() {
        let child = ContainerId::nested("child", ContainerId::from("top"));
        assert_eq!(child.as_str(), "child");
        assert_eq!(
            child.parent.as_deref().map(ContainerId::as_str),
            Some("top")
        );
    }
}
