//! Presence of proto2 `required` fields in a call body.
//!
//! prost turns required fields into plain values, so a decoded call cannot
//! tell "absent" from "empty". Mesos refuses a call whose required fields
//! are missing (`Call.IsInitialized()`), so the body is checked against the
//! descriptor before decoding: protobuf bodies through a dynamic decode,
//! JSON bodies by walking the object. Errors list the missing paths like
//! protobuf's `InitializationErrorString()` (`acknowledge.uuid`).

use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, ReflectMessage, Value as DynValue};
use serde_json::Value;

/// Missing required fields of a protobuf body, as dotted paths.
pub fn missing_in_protobuf(descriptor: &MessageDescriptor, body: &[u8]) -> Vec<String> {
    match DynamicMessage::decode(descriptor.clone(), body) {
        Ok(message) => {
            let mut missing = Vec::new();
            walk_dynamic(&message, "", &mut missing);
            missing
        }
        // Malformed bodies are reported by the typed decode.
        Err(_) => Vec::new(),
    }
}

fn walk_dynamic(message: &DynamicMessage, prefix: &str, missing: &mut Vec<String>) {
    for field in message.descriptor().fields() {
        let path = format!("{prefix}{}", field.name());
        let is_required = field.cardinality() == prost_reflect::Cardinality::Required;
        if is_required && !message.has_field(&field) {
            missing.push(path);
            continue;
        }
        if !matches!(field.kind(), Kind::Message(_)) || !message.has_field(&field) {
            continue;
        }
        match message.get_field(&field).as_ref() {
            DynValue::Message(child) => walk_dynamic(child, &format!("{path}."), missing),
            DynValue::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let DynValue::Message(child) = item {
                        walk_dynamic(child, &format!("{path}[{i}]."), missing);
                    }
                }
            }
            // Map values are not required-checked (protobuf does, but no
            // Mesos map holds messages with required fields we accept).
            _ => {}
        }
    }
}

/// Missing required fields of a Mesos JSON body, as dotted paths.
pub fn missing_in_json(descriptor: &MessageDescriptor, value: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    walk_json(descriptor, value, "", &mut missing, 0);
    missing
}

fn walk_json(
    descriptor: &MessageDescriptor,
    value: &Value,
    prefix: &str,
    missing: &mut Vec<String>,
    depth: usize,
) {
    let Some(object) = value.as_object() else {
        return;
    };
    if depth > mesos_proto::json::MAX_DEPTH {
        return;
    }
    for field in descriptor.fields() {
        let path = format!("{prefix}{}", field.name());
        let present = object.get(field.name()).filter(|v| !v.is_null());
        let is_required = field.cardinality() == prost_reflect::Cardinality::Required;
        let Some(present) = present else {
            if is_required {
                missing.push(path);
            }
            continue;
        };
        let Kind::Message(child) = field.kind() else {
            continue;
        };
        if field.is_map() {
            continue;
        }
        match present {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk_json(&child, item, &format!("{path}[{i}]."), missing, depth + 1);
                }
            }
            other => walk_json(&child, other, &format!("{path}."), missing, depth + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use mesos_proto::v1::scheduler::{call, Call};
    use mesos_proto::v1::{AgentId, TaskId};
    use prost::{Message, Name};
    use serde_json::json;

    use super::*;

    fn call_descriptor() -> MessageDescriptor {
        mesos_proto::descriptor_pool()
            .expect("pool")
            .get_message_by_name(&Call::full_name())
            .expect("Call descriptor")
    }

    #[test]
    fn a_json_acknowledge_without_uuid_is_reported() {
        let body = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": "f"},
                          "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"}}});
        assert_eq!(
            missing_in_json(&call_descriptor(), &body),
            vec!["acknowledge.uuid"]
        );
    }

    #[test]
    fn nested_lists_are_walked() {
        let body = json!({"type": "RECONCILE", "framework_id": {"value": "f"},
                          "reconcile": {"tasks": [{"task_id": {"value": "t"}}, {"agent_id": {"value": "a"}}]}});
        assert_eq!(
            missing_in_json(&call_descriptor(), &body),
            vec!["reconcile.tasks[1].task_id"]
        );
    }

    #[test]
    fn a_complete_protobuf_call_has_nothing_missing() {
        let call = Call {
            framework_id: Some("f".into()),
            r#type: Some(call::Type::Acknowledge as i32),
            acknowledge: Some(call::Acknowledge {
                agent_id: AgentId::from("a"),
                task_id: TaskId::from("t"),
                uuid: vec![1; 16],
            }),
            ..Default::default()
        };
        assert!(missing_in_protobuf(&call_descriptor(), &call.encode_to_vec()).is_empty());
    }

    #[test]
    fn a_protobuf_body_missing_a_required_message_is_reported() {
        // `Call.Subscribe` with no `framework_info` (field 1): empty message.
        let call = Call {
            r#type: Some(call::Type::Subscribe as i32),
            ..Default::default()
        };
        let mut bytes = call.encode_to_vec();
        // Append field 3 (subscribe) as an empty length-delimited message.
        bytes.extend_from_slice(&[0x1a, 0x00]);
        assert_eq!(
            missing_in_protobuf(&call_descriptor(), &bytes),
            vec!["subscribe.framework_info"]
        );
    }
}
