//! Mesos JSON for every generated message, through prost-reflect's
//! `DynamicMessage` and the embedded descriptor set.
//!
//! Mesos JSON differs from proto3 canonical JSON: field names are the
//! `.proto` names (`task_id`, not `taskId`), 64-bit integers are numbers
//! (strings are accepted on input), enums are value names, bytes are
//! standard base64, wrapper messages stay nested
//! (`{"labels":{"labels":[...]}}`) and unknown keys are ignored. An unknown
//! enum *name* is an error, as it is for the Mesos master.
//!
//! Unknown keys are removed (guided by the descriptor) before strict
//! deserialisation, so that prost-reflect's lenient mode cannot also
//! swallow bad enum names.

use prost::{Message, Name};
use prost_reflect::{
    DeserializeOptions, DynamicMessage, Kind, MessageDescriptor, SerializeOptions,
};
use serde_json::Value;

use crate::descriptor_pool;

/// Deepest message nesting accepted: prost's own decode limit.
pub const MAX_DEPTH: usize = 100;

/// Why a message could not be written as or read from Mesos JSON.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The embedded descriptor set could not be decoded (a build defect).
    #[error("the Mesos descriptor set is unusable: {reason}")]
    Descriptors {
        /// What prost-reflect reported.
        reason: String,
    },
    /// The Rust type's `prost::Name` is not in the Mesos descriptor set
    /// (a message type from another crate).
    #[error("message type {type_name} is not in the Mesos descriptor set")]
    UnknownMessageType {
        /// Full protobuf name asked for.
        type_name: String,
    },
    /// The input is not JSON text at all (or has trailing garbage).
    #[error("invalid JSON text for {type_name}")]
    Syntax {
        /// Message type being decoded.
        type_name: String,
        /// serde_json's reason, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON does not fit the message: a wrong value type, an unknown
    /// enum name, bad base64, an out-of-range number.
    #[error("JSON does not match {type_name}")]
    Mismatch {
        /// Message type being decoded.
        type_name: String,
        /// prost-reflect's reason.
        #[source]
        source: serde_json::Error,
    },
    /// Messages nest deeper than [`MAX_DEPTH`] levels.
    #[error("JSON for {type_name} nests messages deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// Message type being decoded.
        type_name: String,
    },
    /// Converting between the generated and the dynamic message failed
    /// (the descriptor and the generated code disagree).
    #[error("converting {type_name} between generated and dynamic form failed")]
    Transcode {
        /// Message type being converted.
        type_name: String,
        /// prost's reason.
        #[source]
        source: prost::DecodeError,
    },
    /// Writing the JSON failed.
    #[error("writing {type_name} as JSON failed")]
    Serialize {
        /// Message type being encoded.
        type_name: String,
        /// serde_json's reason.
        #[source]
        source: serde_json::Error,
    },
}

/// The options giving Mesos JSON rather than proto3 canonical JSON.
fn serialize_options() -> SerializeOptions {
    SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .use_enum_numbers(false)
        .skip_default_fields(true)
}

/// Looks up the descriptor of `M` by its full protobuf name.
pub fn descriptor<M: Name>() -> Result<MessageDescriptor, JsonError> {
    let type_name = M::full_name();
    descriptor_pool()?
        .get_message_by_name(&type_name)
        .ok_or(JsonError::UnknownMessageType { type_name })
}

/// Converts a generated message into a dynamic one (via its protobuf
/// encoding, which keeps proto2 field presence).
pub fn to_dynamic<M: Message + Name>(message: &M) -> Result<DynamicMessage, JsonError> {
    let desc = descriptor::<M>()?;
    DynamicMessage::decode(desc, message.encode_to_vec().as_slice()).map_err(|source| {
        JsonError::Transcode {
            type_name: M::full_name(),
            source,
        }
    })
}

/// Writes `message` as a Mesos JSON value.
pub fn to_json<M: Message + Name>(message: &M) -> Result<Value, JsonError> {
    to_dynamic(message)?
        .serialize_with_options(serde_json::value::Serializer, &serialize_options())
        .map_err(|source| JsonError::Serialize {
            type_name: M::full_name(),
            source,
        })
}

/// Writes `message` as compact Mesos JSON bytes (an HTTP body).
pub fn to_json_vec<M: Message + Name>(message: &M) -> Result<Vec<u8>, JsonError> {
    let dynamic = to_dynamic(message)?;
    let mut serializer = serde_json::Serializer::new(Vec::new());
    dynamic
        .serialize_with_options(&mut serializer, &serialize_options())
        .map_err(|source| JsonError::Serialize {
            type_name: M::full_name(),
            source,
        })?;
    Ok(serializer.into_inner())
}

/// Writes `message` as a compact Mesos JSON string.
pub fn to_json_string<M: Message + Name>(message: &M) -> Result<String, JsonError> {
    let bytes = to_json_vec(message)?;
    // serde_json writes only UTF-8, so the lossy branch never changes text.
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
}

/// Reads a message from a Mesos JSON value.
pub fn from_json<M: Message + Name + Default>(value: &Value) -> Result<M, JsonError> {
    from_json_value(value.clone())
}

/// Reads a message from an owned Mesos JSON value (no copy).
pub fn from_json_value<M: Message + Name + Default>(mut value: Value) -> Result<M, JsonError> {
    let desc = descriptor::<M>()?;
    if !drop_unknown_keys(&mut value, &desc, 0) {
        return Err(JsonError::TooDeep {
            type_name: M::full_name(),
        });
    }
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    let dynamic =
        DynamicMessage::deserialize_with_options(desc, value, &options).map_err(|source| {
            JsonError::Mismatch {
                type_name: M::full_name(),
                source,
            }
        })?;
    dynamic
        .transcode_to::<M>()
        .map_err(|source| JsonError::Transcode {
            type_name: M::full_name(),
            source,
        })
}

/// Reads a message from Mesos JSON text.
pub fn from_json_str<M: Message + Name + Default>(text: &str) -> Result<M, JsonError> {
    from_json_slice(text.as_bytes())
}

/// Reads a message from Mesos JSON bytes (an HTTP body or a RecordIO
/// record).
pub fn from_json_slice<M: Message + Name + Default>(bytes: &[u8]) -> Result<M, JsonError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|source| JsonError::Syntax {
        type_name: M::full_name(),
        source,
    })?;
    from_json_value(value)
}

/// Removes, recursively, the keys of `value` that name no field of `desc`.
/// Returns false when messages nest deeper than [`MAX_DEPTH`].
fn drop_unknown_keys(value: &mut Value, desc: &MessageDescriptor, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let Value::Object(object) = value else {
        // Not an object: deserialisation reports the type mismatch.
        return true;
    };
    object.retain(|key, _| {
        desc.get_field_by_name(key).is_some() || desc.get_field_by_json_name(key).is_some()
    });
    for (key, field_value) in object.iter_mut() {
        let Some(field) = desc
            .get_field_by_name(key)
            .or_else(|| desc.get_field_by_json_name(key))
        else {
            continue;
        };
        let ok = if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                continue;
            };
            match entry.map_entry_value_field().kind() {
                Kind::Message(inner) => each_map_value(field_value, &inner, depth),
                _ => true,
            }
        } else if let Kind::Message(inner) = field.kind() {
            match field_value {
                Value::Array(items) if field.is_list() => items
                    .iter_mut()
                    .all(|item| drop_unknown_keys(item, &inner, depth + 1)),
                other => drop_unknown_keys(other, &inner, depth + 1),
            }
        } else {
            true
        };
        if !ok {
            return false;
        }
    }
    true
}

fn each_map_value(value: &mut Value, desc: &MessageDescriptor, depth: usize) -> bool {
    match value {
        Value::Object(entries) => entries
            .values_mut()
            .all(|entry| drop_unknown_keys(entry, desc, depth + 1)),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::v1::{self, value, Labels, Resource};

    #[test]
    fn field_names_are_the_proto_names() {
        let id = v1::TaskId::from("t1");
        let status = v1::TaskStatus {
            task_id: id,
            state: v1::TaskState::TaskRunning as i32,
            ..Default::default()
        };
        let json = to_json(&status).expect("encode");
        assert_eq!(json["task_id"]["value"], "t1");
        assert_eq!(json["state"], "TASK_RUNNING");
        assert!(json.get("taskId").is_none());
    }

    #[test]
    fn int64_is_written_as_a_number_and_read_from_a_string() {
        let time = v1::TimeInfo {
            nanoseconds: 1_700_000_000_123_456_789,
        };
        assert_eq!(
            to_json(&time).expect("encode"),
            json!({"nanoseconds": 1_700_000_000_123_456_789_i64})
        );
        let back: v1::TimeInfo =
            from_json(&json!({"nanoseconds": "1700000000123456789"})).expect("decode");
        assert_eq!(back, time);
    }

    #[test]
    fn unknown_keys_are_ignored_at_every_depth() {
        let resource: Resource = from_json(&json!({
            "name": "cpus", "type": "SCALAR", "roles": "*",
            "scalar": {"value": 0.5, "extra": [1, 2]},
            "reservations": [{"role": "web", "surprise": {"a": 1}}]
        }))
        .expect("decode");
        assert_eq!(resource.scalar, Some(value::Scalar { value: 0.5 }));
        assert_eq!(resource.reservations[0].role.as_deref(), Some("web"));
    }

    #[test]
    fn an_unknown_enum_name_is_an_error() {
        let error = from_json::<Resource>(&json!({"name": "cpus", "type": "SCALARS"}))
            .expect_err("bad enum name");
        assert!(matches!(error, JsonError::Mismatch { .. }), "{error}");
        assert!(error.to_string().contains("mesos.v1.Resource"), "{error}");
    }

    #[test]
    fn text_with_trailing_garbage_is_a_syntax_error() {
        let error = from_json_str::<Labels>(r#"{"labels": []} x"#).expect_err("garbage");
        assert!(matches!(error, JsonError::Syntax { .. }), "{error}");
    }

    #[test]
    fn a_foreign_message_type_is_reported_by_name() {
        #[derive(Clone, PartialEq, prost::Message)]
        struct Foreign {
            #[prost(string, tag = "1")]
            name: String,
        }
        impl Name for Foreign {
            const NAME: &'static str = "Foreign";
            const PACKAGE: &'static str = "elsewhere";
        }
        let error = to_json(&Foreign::default()).expect_err("not a Mesos type");
        assert!(error.to_string().contains("elsewhere.Foreign"), "{error}");
    }

    #[test]
    fn absurdly_deep_nesting_is_an_error_not_a_crash() {
        let mut value = json!({"value": "leaf"});
        for _ in 0..150 {
            value = json!({"value": "x", "parent": value});
        }
        let error = from_json::<v1::ContainerId>(&value).expect_err("too deep");
        assert!(matches!(error, JsonError::TooDeep { .. }), "{error}");
    }
}
