//! Malformed input is an error, never a panic: bad JSON text, values of the
//! wrong type, unknown enum names, bad base64, garbage RecordIO headers,
//! truncated protobuf, and random or mutated bytes.

mod common;

use mesos_proto::recordio::{self, RecordIoDecoder};
use mesos_proto::v1::scheduler::{Call, Event};
use mesos_proto::v1::{executor, Address, MasterInfo, TimeInfo};
use mesos_proto::{from_json_slice, to_json, to_json_vec, Encoding, JsonError};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// The kind of error a malformed JSON input must give.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Syntax,
    Mismatch,
}

fn kind(error: &JsonError) -> Option<Kind> {
    match error {
        JsonError::Syntax { .. } => Some(Kind::Syntax),
        JsonError::Mismatch { .. } => Some(Kind::Mismatch),
        _ => None,
    }
}

#[test]
fn malformed_scheduler_calls_are_errors() {
    let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
    let table: Vec<(&str, Vec<u8>, Kind)> = vec![
        ("unfinished JSON", br#"{"type": "#.to_vec(), Kind::Syntax),
        ("trailing garbage", br#"{} {}"#.to_vec(), Kind::Syntax),
        ("invalid UTF-8", vec![b'"', 0xff, 0xfe, b'"'], Kind::Syntax),
        ("empty body", Vec::new(), Kind::Syntax),
        (
            "nesting beyond the parser limit",
            deep.into_bytes(),
            Kind::Syntax,
        ),
        (
            "array instead of object",
            br#"[1, 2]"#.to_vec(),
            Kind::Mismatch,
        ),
        (
            "string instead of object",
            br#""SUBSCRIBE""#.to_vec(),
            Kind::Mismatch,
        ),
        (
            "unknown enum name",
            br#"{"type": "SUBSCRIBES"}"#.to_vec(),
            Kind::Mismatch,
        ),
        (
            "array for an enum",
            br#"{"type": [1]}"#.to_vec(),
            Kind::Mismatch,
        ),
        (
            "unknown enum name in a repeated message",
            br#"{"subscribe": {"framework_info": {"user": "u", "name": "n",
                "capabilities": [{"type": "TELEPATHY"}]}}}"#
                .to_vec(),
            Kind::Mismatch,
        ),
        (
            "bad base64",
            br#"{"acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"},
                "uuid": "not base64!"}}"#
                .to_vec(),
            Kind::Mismatch,
        ),
        (
            "string for a message",
            br#"{"subscribe": "x"}"#.to_vec(),
            Kind::Mismatch,
        ),
        (
            "number for a string",
            br#"{"subscribe": {"framework_info": {"user": "u", "name": 5}}}"#.to_vec(),
            Kind::Mismatch,
        ),
        (
            "text for a double",
            br#"{"decline": {"filters": {"refuse_seconds": "soon"}}}"#.to_vec(),
            Kind::Mismatch,
        ),
        (
            "text for a bool",
            br#"{"subscribe": {"framework_info": {"user": "u", "name": "n",
                "checkpoint": "yes"}}}"#
                .to_vec(),
            Kind::Mismatch,
        ),
        (
            "object for a repeated field",
            br#"{"decline": {"offer_ids": {"value": "o"}}}"#.to_vec(),
            Kind::Mismatch,
        ),
        (
            "fractional int64",
            br#"{"kill": {"task_id": {"value": "t"},
                "kill_policy": {"grace_period": {"nanoseconds": 1.5}}}}"#
                .to_vec(),
            Kind::Mismatch,
        ),
        (
            "two members of a oneof",
            br#"{"subscribe": {"framework_info": {"user": "u", "name": "n"},
                "offer_constraints": {"role_constraints": {"*": {"groups": [
                {"attribute_constraints": [{"selector": {"attribute_name": "rack"},
                "predicate": {"exists": {}, "not_exists": {}}}]}]}}}}}"#
                .to_vec(),
            Kind::Mismatch,
        ),
    ];
    for (what, input, expected) in table {
        let error = from_json_slice::<Call>(&input).expect_err(&format!("{what} must be an error"));
        assert_eq!(kind(&error), Some(expected), "{what}: {error}");
        assert!(
            error.to_string().contains("mesos.v1.scheduler.Call"),
            "{what}: error names the message type: {error}"
        );
    }
}

#[test]
fn out_of_range_integers_are_errors() {
    for input in [
        json!({"nanoseconds": "99999999999999999999"}),
        json!({"nanoseconds": 1e30}),
        json!({"nanoseconds": "twelve"}),
    ] {
        let error = mesos_proto::from_json::<TimeInfo>(&input).expect_err("out of range");
        assert_eq!(kind(&error), Some(Kind::Mismatch), "{input}: {error}");
    }
    let error = mesos_proto::from_json::<Address>(&json!({"port": -1i64 << 40}))
        .expect_err("int32 overflow");
    assert_eq!(kind(&error), Some(Kind::Mismatch), "{error}");
    let error = mesos_proto::from_json::<MasterInfo>(&json!({"id": "m", "port": -1}))
        .expect_err("negative uint32");
    assert_eq!(kind(&error), Some(Kind::Mismatch), "{error}");
}

#[test]
fn garbage_recordio_headers_are_errors() {
    let table: [&[u8]; 11] = [
        b"abc\n",
        b"-5\nhello",
        b" 5\nhello",
        b"5 \nhello",
        b"\nhello",
        b"5\r\nhello",
        b"0x10\n",
        b"1e3\n",
        b"+5\nhello",
        b"123456789012345678901\n",
        b"99999999999999999999\n",
    ];
    for input in table {
        let mut decoder = RecordIoDecoder::new();
        decoder.push(input);
        let outcome = drain(&mut decoder);
        assert!(
            outcome.is_err(),
            "{:?} must be an error",
            String::from_utf8_lossy(input)
        );
    }
}

/// Reads every record, then checks the stream ended cleanly.
fn drain(decoder: &mut RecordIoDecoder) -> Result<(), recordio::RecordIoError> {
    while decoder.next_record()?.is_some() {}
    decoder.finish()
}

fn sample_update() -> Event {
    mesos_proto::from_json(&json!({
        "type": "UPDATE",
        "update": {"status": {
            "task_id": {"value": "web-1"}, "state": "TASK_RUNNING",
            "uuid": common::UUID_BASE64, "message": "running on node1",
            "container_status": {"network_infos": [{"ip_addresses": [{"ip_address": "10.0.1.5"}]}]}
        }}
    }))
    .expect("sample event")
}

#[test]
fn every_truncation_of_a_protobuf_event_is_an_error_or_a_different_event() {
    let event = sample_update();
    let bytes = event.encode_to_vec();
    let mut errors = 0;
    for cut in 0..bytes.len() {
        match Encoding::Protobuf.decode::<Event>(&bytes[..cut]) {
            Err(_) => errors += 1,
            Ok(partial) => assert_ne!(partial, event, "prefix of {cut} bytes"),
        }
    }
    assert!(errors > bytes.len() / 2, "most cuts land inside a field");
    let error = Encoding::Protobuf
        .decode::<Event>(&bytes[..bytes.len() - 1])
        .expect_err("cut inside the last string");
    assert!(
        error.to_string().contains("mesos.v1.scheduler.Event"),
        "{error}"
    );
}

#[test]
fn random_bytes_never_panic_any_decoder() {
    let mut rng = StdRng::seed_from_u64(0x006d_6573_6f73);
    for _ in 0..3000 {
        let len = rng.random_range(0..200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if let Ok(event) = Event::decode(bytes.as_slice()) {
            to_json(&event).expect("a decoded event can be written as JSON");
        }
        if let Ok(event) = executor::Event::decode(bytes.as_slice()) {
            to_json(&event).expect("a decoded event can be written as JSON");
        }
        if let Ok(call) = from_json_slice::<Call>(&bytes) {
            to_json(&call).expect("a decoded call can be written as JSON");
        }
        let mut decoder = RecordIoDecoder::with_max_record_len(1024);
        decoder.push(&bytes);
        while let Ok(Some(_)) = decoder.next_record() {}
    }
}

#[test]
fn mutated_json_and_protobuf_never_panic() {
    let event = sample_update();
    let json = to_json_vec(&event).expect("json");
    let proto = event.encode_to_vec();
    let mut rng = StdRng::seed_from_u64(42);
    for _ in 0..3000 {
        for (original, is_json) in [(&json, true), (&proto, false)] {
            let mut bytes = original.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            let decoded = if is_json {
                Encoding::Json.decode::<Event>(&bytes).ok()
            } else {
                Encoding::Protobuf.decode::<Event>(&bytes).ok()
            };
            if let Some(event) = decoded {
                to_json(&event).expect("a decoded event can be written as JSON");
            }
            let framed = recordio::encode(&bytes);
            let mut decoder = RecordIoDecoder::new();
            decoder.push(&framed);
            assert_eq!(
                decoder.next_record().expect("framed record").as_deref(),
                Some(bytes.as_slice())
            );
        }
    }
}
