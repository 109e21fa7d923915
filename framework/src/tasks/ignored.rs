//! The parts of a task file ovn-mesos does not use, found before the file is
//! parsed: keys that are no TaskInfo field at all (the seed's `"roles": "*"`:
//! Mesos' field is `role`), which Mesos JSON drops silently, and TaskInfo
//! fields the framework ignores (a container image, an executor, a
//! `check`). Each becomes a [`Warning`].

use std::path::Path;

use mesos_proto::v1::{container_info, TaskInfo};
use prost_reflect::{Kind, MessageDescriptor};
use serde_json::Value;

use super::Warning;

/// Deepest nesting walked; deeper input is refused by the JSON parser.
const MAX_DEPTH: usize = 100;

/// A warning for every key of `value` (a TaskInfo object) that names no
/// field, by JSON path (`resources[0].roles`).
pub(super) fn unknown_keys(file: &Path, value: &Value) -> Vec<Warning> {
    let Ok(desc) = mesos_proto::json::descriptor::<TaskInfo>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(value, &desc, "", 0, &mut |path| {
        out.push(Warning::field(file, path, "not a TaskInfo field; ignored"));
    });
    out
}

fn walk(
    value: &Value,
    desc: &MessageDescriptor,
    path: &str,
    depth: usize,
    found: &mut dyn FnMut(String),
) {
    let Value::Object(object) = value else {
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    for (key, field_value) in object {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let Some(field) = desc
            .get_field_by_name(key)
            .or_else(|| desc.get_field_by_json_name(key))
        else {
            found(here);
            continue;
        };
        if field.is_map() {
            continue;
        }
        let Kind::Message(inner) = field.kind() else {
            continue;
        };
        match field_value {
            Value::Array(items) if field.is_list() => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &inner, &format!("{here}[{i}]"), depth + 1, found);
                }
            }
            other => walk(other, &inner, &here, depth + 1, found),
        }
    }
}

/// A warning for every TaskInfo field that is valid Mesos but unused by
/// ovn-mesos: tasks run as commands under the ovn-mesos executor, on the
/// agent's filesystem, in a network namespace of their own.
pub(super) fn unused_fields(file: &Path, task: &TaskInfo) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |field: &str, message: String| out.push(Warning::field(file, field, message));
    if !task.agent_id.value.is_empty() {
        warn(
            "agent_id",
            format!(
                "{:?} ignored: the agent comes from the offer",
                task.agent_id.value
            ),
        );
    }
    if task.executor.is_some() {
        warn(
            "executor",
            "ignored: ovn-mesos runs every task under its own executor".into(),
        );
    }
    if task.check.is_some() {
        warn("check", "ignored: not supported by ovn-mesos".into());
    }
    if let Some(container) = &task.container {
        if container.r#type == container_info::Type::Docker as i32 {
            warn(
                "container.type",
                "DOCKER ignored: the task runs as a command on the agent".into(),
            );
        }
        if let Some(docker) = &container.docker {
            warn(
                "container.docker",
                format!(
                    "image {:?} ignored: the task runs as a command on the agent",
                    docker.image
                ),
            );
        }
        if let Some(image) = container.mesos.as_ref().and_then(|m| m.image.as_ref()) {
            let name = image
                .docker
                .as_ref()
                .map(|d| d.name.clone())
                .or_else(|| image.appc.as_ref().map(|a| a.name.clone()))
                .unwrap_or_default();
            warn(
                "container.mesos.image",
                format!(
                    "image {name:?} ignored: the task runs as a command on the agent's filesystem"
                ),
            );
        }
        if !container.volumes.is_empty() {
            warn(
                "container.volumes",
                "ignored: not supported by ovn-mesos".into(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_unknown_key_is_reported_by_its_json_path() {
        let value = json!({
            "name": "t",
            "roles": "x",
            "resources": [{"name": "cpus", "roles": "*"}, {"name": "mem"}],
            "container": {"network_infos": [{"name": "ovn", "colour": "red"}]}
        });
        let mut fields: Vec<_> = unknown_keys(Path::new("f"), &value)
            .into_iter()
            .filter_map(|w| w.field)
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "container.network_infos[0].colour",
                "resources[0].roles",
                "roles"
            ]
        );
    }

    #[test]
    fn known_keys_give_no_warning() {
        let value = json!({
            "name": "t", "task_id": {"value": "1"},
            "labels": {"labels": [{"key": "a", "value": "b"}]},
            "limits": {"cpus": {"value": 1.0}}
        });
        assert!(unknown_keys(Path::new("f"), &value).is_empty());
    }

    #[test]
    fn a_docker_image_is_named_in_its_warning() {
        let task: TaskInfo = mesos_proto::from_json_value(json!({
            "name": "t",
            "container": {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "nginx"}}}}
        }))
        .unwrap();
        let warnings = unused_fields(Path::new("f"), &task);
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            warnings[0].to_string(),
            "f: container.mesos.image: image \"nginx\" ignored: the task runs as a command on the agent's filesystem"
        );
    }
}
