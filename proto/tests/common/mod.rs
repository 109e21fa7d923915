//! Helpers shared by the integration tests: a JSON -> message -> JSON and
//! message -> protobuf -> message round trip that must be lossless, and
//! checks of enum values and field numbers against the descriptor set.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

use std::fmt::Debug;

use mesos_proto::{descriptor_pool, from_json, to_json, Encoding};
use prost::{Message, Name};
use serde_json::Value;

/// Decodes `json` as `M`, checks that encoding it again gives exactly
/// `json` (same keys, same value types) and that its protobuf encoding
/// decodes to the same message; returns the message.
pub fn round_trip<M>(json: &Value) -> M
where
    M: Message + Name + Default + PartialEq + Debug,
{
    let message: M = from_json(json)
        .unwrap_or_else(|e| panic!("{} must decode from {json}: {e}", M::full_name()));
    let again = to_json(&message).unwrap_or_else(|e| panic!("{} must encode: {e}", M::full_name()));
    assert_eq!(&again, json, "{} JSON round trip", M::full_name());

    let bytes = Encoding::Protobuf
        .encode(&message)
        .expect("protobuf encode");
    let decoded: M = Encoding::Protobuf
        .decode(&bytes)
        .unwrap_or_else(|e| panic!("{} protobuf round trip: {e}", M::full_name()));
    assert_eq!(decoded, message, "{} protobuf round trip", M::full_name());
    message
}

/// A 16-byte status update uuid and its standard base64 form.
pub const UUID_BYTES: [u8; 16] = [
    0x6b, 0x1f, 0x0e, 0x9a, 0x52, 0x3d, 0x4c, 0x8e, 0x9f, 0xfe, 0x01, 0x7a, 0xc3, 0x44, 0xb0, 0x2d,
];

/// [`UUID_BYTES`] in standard base64, as Mesos JSON carries it.
pub const UUID_BASE64: &str = "ax8OmlI9TI6f/gF6w0SwLQ==";

/// Checks that enum `full_name` has exactly the `(name, number)` values.
pub fn assert_enum(full_name: &str, values: &[(&str, i32)]) {
    let pool = descriptor_pool().expect("descriptor pool");
    let desc = pool
        .get_enum_by_name(full_name)
        .unwrap_or_else(|| panic!("enum {full_name} is declared"));
    let mut actual: Vec<(String, i32)> = desc
        .values()
        .map(|v| (v.name().to_string(), v.number()))
        .collect();
    let mut expected: Vec<(String, i32)> =
        values.iter().map(|(n, v)| ((*n).to_string(), *v)).collect();
    actual.sort();
    expected.sort();
    assert_eq!(actual, expected, "values of {full_name}");
}

/// Checks that message `full_name` has fields `(name, number)` (and
/// possibly others).
pub fn assert_fields(full_name: &str, fields: &[(&str, u32)]) {
    let pool = descriptor_pool().expect("descriptor pool");
    let desc = pool
        .get_message_by_name(full_name)
        .unwrap_or_else(|| panic!("message {full_name} is declared"));
    for (name, number) in fields {
        let field = desc
            .get_field_by_name(name)
            .unwrap_or_else(|| panic!("{full_name}.{name} is declared"));
        assert_eq!(field.number(), *number, "{full_name}.{name}");
    }
}
