//! A RecordIO stream of real scheduler events (JSON and protobuf records,
//! an empty record and a large one) decodes to the same records however
//! the bytes are chunked: split at every byte boundary, fed one byte at a
//! time, cut at random, or read through the `tokio_util` codec from a
//! reader that returns a few bytes per read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::StreamExt;
use mesos_proto::codec::RecordIoCodec;
use mesos_proto::recordio::{self, RecordIoDecoder};
use mesos_proto::v1::scheduler::Event;
use mesos_proto::Encoding;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::FramedRead;

fn events() -> Vec<Event> {
    let offers: Vec<serde_json::Value> = (0..40)
        .map(|i| {
            json!({
                "id": {"value": format!("offer-{i}")},
                "framework_id": {"value": "fw-1"},
                "agent_id": {"value": format!("agent-{i}")},
                "hostname": format!("node{i}"),
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}}]
            })
        })
        .collect();
    [
        json!({"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": "fw-1"},
                                                    "heartbeat_interval_seconds": 15.0}}),
        json!({"type": "HEARTBEAT"}),
        json!({"type": "OFFERS", "offers": {"offers": offers}}),
        json!({"type": "UPDATE", "update": {"status": {"task_id": {"value": "t"},
               "state": "TASK_RUNNING", "uuid": "ax8OmlI9TI6f/gF6w0SwLQ=="}}}),
        json!({"type": "ERROR", "error": {"message": "Framework failed over"}}),
    ]
    .iter()
    .map(|json| mesos_proto::from_json(json).expect("event fixture"))
    .collect()
}

/// The records of the stream: each event as JSON and as protobuf, plus an
/// empty record in the middle.
fn records() -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    for event in events() {
        records.push(Encoding::Json.encode(&event).expect("json"));
        records.push(Encoding::Protobuf.encode(&event).expect("protobuf"));
    }
    records.insert(3, Vec::new());
    assert!(records.iter().any(|r| r.len() > 2000), "one large record");
    records
}

fn stream(records: &[Vec<u8>]) -> Vec<u8> {
    records.iter().flat_map(|r| recordio::encode(r)).collect()
}

/// Feeds `chunks` in order and collects every record, checking the stream
/// ends on a record boundary.
fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Bytes> {
    let mut decoder = RecordIoDecoder::new();
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        while let Some(record) = decoder.next_record().expect("valid stream") {
            out.push(record);
        }
    }
    decoder.finish().expect("stream ends between records");
    assert_eq!(decoder.buffered_len(), 0);
    out
}

#[test]
fn a_split_at_every_byte_boundary_yields_the_same_records() {
    let records = records();
    let bytes = stream(&records);
    for at in 0..=bytes.len() {
        let (head, tail) = bytes.split_at(at);
        assert_eq!(decode_chunks([head, tail]), records, "split at byte {at}");
    }
}

#[test]
fn one_byte_at_a_time_yields_the_same_records() {
    let records = records();
    let bytes = stream(&records);
    assert_eq!(decode_chunks(bytes.chunks(1)), records);
}

#[test]
fn random_chunkings_yield_the_same_records() {
    let records = records();
    let bytes = stream(&records);
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..200 {
        let mut chunks = Vec::new();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rng.random_range(1..=rest.len().min(700)));
            chunks.push(chunk);
            rest = tail;
        }
        assert_eq!(decode_chunks(chunks), records);
    }
}

#[test]
fn decoded_records_are_the_original_events() {
    let bytes = stream(&records());
    let decoded = decode_chunks([bytes.as_slice()]);
    let expected = events();
    let mut events = decoded.iter().filter(|r| !r.is_empty());
    for event in &expected {
        let json = events.next().expect("json record");
        let proto = events.next().expect("protobuf record");
        assert_eq!(&Encoding::Json.decode::<Event>(json).expect("json"), event);
        assert_eq!(
            &Encoding::Protobuf.decode::<Event>(proto).expect("pb"),
            event
        );
    }
}

/// An `AsyncRead` that hands out at most `step` bytes per read.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let end = (self.at + self.step)
            .min(self.data.len())
            .min(self.at + buf.remaining());
        let at = self.at;
        buf.put_slice(&self.data[at..end]);
        self.at = end;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn the_codec_reads_the_same_records_from_a_trickling_reader() {
    let records = records();
    for step in [1, 2, 7, 64, 4096] {
        let reader = Trickle {
            data: stream(&records),
            at: 0,
            step,
        };
        let mut framed = FramedRead::new(reader, RecordIoCodec::new());
        let mut out = Vec::new();
        while let Some(record) = framed.next().await {
            out.push(record.expect("valid record"));
        }
        assert_eq!(out, records, "{step} bytes per read");
    }
}
