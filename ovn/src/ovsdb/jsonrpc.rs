//! JSON-RPC 1.0 as ovsdb-server speaks it (RFC 7047 section 4): requests,
//! responses and notifications (a request whose id is null), and the stream
//! framing: the server writes JSON values back to back with no delimiter, so
//! [`FrameDecoder`] collects bytes from any number of reads and yields each
//! complete value. A cheap bracket scanner finds where a top-level value ends so
//! a large message arriving in many reads is parsed once, not once per read; the
//! values are then parsed with serde_json's `StreamDeserializer`.

use serde_json::{json, Value};

use super::error::Error;

/// One JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A call that expects a response with the same id.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// The answer to a request: exactly one of `result`/`error` is non-null.
    Response {
        id: Value,
        result: Value,
        error: Value,
    },
    /// A one-way message (`update2`, `update3`, `locked` ...): id is null.
    Notification { method: String, params: Value },
}

impl Message {
    /// Interprets a JSON value as a message.
    pub fn from_json(v: Value) -> Result<Message, Error> {
        let Value::Object(mut o) = v else {
            return Err(Error::Protocol(format!(
                "message is not an object: {}",
                short(&v)
            )));
        };
        let id = o.remove("id").unwrap_or(Value::Null);
        if let Some(method) = o.remove("method") {
            let Value::String(method) = method else {
                return Err(Error::Protocol(format!("method is not a string: {method}")));
            };
            let params = o.remove("params").unwrap_or(Value::Array(vec![]));
            return Ok(if id.is_null() {
                Message::Notification { method, params }
            } else {
                Message::Request { id, method, params }
            });
        }
        if o.contains_key("result") || o.contains_key("error") {
            return Ok(Message::Response {
                id,
                result: o.remove("result").unwrap_or(Value::Null),
                error: o.remove("error").unwrap_or(Value::Null),
            });
        }
        Err(Error::Protocol(format!(
            "neither a request nor a response: {}",
            short(&Value::Object(o))
        )))
    }

    /// The message's JSON form.
    pub fn to_json(&self) -> Value {
        match self {
            Message::Request { id, method, params } => {
                json!({"id": id, "method": method, "params": params})
            }
            Message::Response { id, result, error } => {
                json!({"id": id, "result": result, "error": error})
            }
            Message::Notification { method, params } => {
                json!({"id": null, "method": method, "params": params})
            }
        }
    }

    /// The bytes to write on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_json()).expect("a serde_json::Value always serializes")
    }
}

/// A value shortened for error messages.
pub(crate) fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 200 {
        let mut cut = 197;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// Splits a byte stream into JSON values.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// How far `buf` has been scanned.
    scanned: usize,
    /// Nesting depth at `scanned`.
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// End offsets (exclusive) of complete top-level values in `buf`.
    complete: usize,
}

impl FrameDecoder {
    pub fn new() -> Self {
        FrameDecoder::default()
    }

    /// Appends bytes read from the socket.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that do not yet form a complete value.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Returns every complete value buffered so far, keeping an incomplete tail
    /// for the next read. A syntax error is an [`Error::Protocol`]; the stream
    /// cannot be resynchronised after one, so the caller must drop the connection.
    pub fn decode(&mut self) -> Result<Vec<Value>, Error> {
        self.scan()?;
        if self.complete == 0 {
            return Ok(Vec::new());
        }
        let mut values = Vec::new();
        let mut stream =
            serde_json::Deserializer::from_slice(&self.buf[..self.complete]).into_iter::<Value>();
        loop {
            match stream.next() {
                Some(Ok(v)) => values.push(v),
                Some(Err(e)) => return Err(Error::Protocol(format!("invalid JSON: {e}"))),
                None => break,
            }
        }
        let used = self.complete;
        self.buf.drain(..used);
        self.scanned -= used;
        self.complete = 0;
        Ok(values)
    }

    /// Advances the bracket scanner over new bytes, recording where the last
    /// complete top-level value ends.
    fn scan(&mut self) -> Result<(), Error> {
        let mut i = self.scanned;
        while i < self.buf.len() {
            let b = self.buf[i];
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' if self.depth > 0 => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        if self.depth == 0 {
                            return Err(self.unexpected(i));
                        }
                        self.depth -= 1;
                        if self.depth == 0 {
                            self.complete = i + 1;
                        }
                    }
                    b' ' | b'\t' | b'\r' | b'\n' => {}
                    _ if self.depth == 0 => return Err(self.unexpected(i)),
                    _ => {}
                }
            }
            i += 1;
        }
        self.scanned = i;
        Ok(())
    }

    fn unexpected(&self, at: usize) -> Error {
        let end = (at + 40).min(self.buf.len());
        Error::Protocol(format!(
            "expected a JSON object or array, got {:?}",
            String::from_utf8_lossy(&self.buf[at..end])
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Value> {
        vec![
            json!({"id": 1, "result": [{"uuid": ["uuid", "0e972987-26bf-44ad-835c-0fc1d0c9322a"]}], "error": null}),
            json!({"id": null, "method": "update2", "params": ["mon", {"T": {"u": {"modify": {"s": "a \"quoted\" ] } [ { brace\\"}}}}]}),
            json!({"id": "echo", "method": "echo", "params": []}),
            json!({"id": 2, "result": null, "error": {"error": "unknown database", "details": "ünïcode ✓"}}),
        ]
    }

    fn wire(values: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            out.extend(serde_json::to_vec(v).unwrap());
            if i % 2 == 1 {
                out.extend(b"\n ");
            }
        }
        out
    }

    #[test]
    fn many_messages_in_one_read_are_all_returned_in_order() {
        let mut d = FrameDecoder::new();
        d.extend(&wire(&sample()));
        assert_eq!(d.decode().unwrap(), sample());
        assert_eq!(d.decode().unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn a_stream_split_at_every_byte_yields_the_same_messages() {
        let bytes = wire(&sample());
        for cut in 0..=bytes.len() {
            let mut d = FrameDecoder::new();
            d.extend(&bytes[..cut]);
            let mut got = d.decode().unwrap();
            d.extend(&bytes[cut..]);
            got.extend(d.decode().unwrap());
            assert_eq!(got, sample(), "split at byte {cut}");
        }
    }

    #[test]
    fn a_stream_fed_one_byte_at_a_time_yields_each_message_once_complete() {
        let bytes = wire(&sample());
        let mut d = FrameDecoder::new();
        let mut got = Vec::new();
        for b in &bytes {
            d.extend(std::slice::from_ref(b));
            got.extend(d.decode().unwrap());
        }
        assert_eq!(got, sample());
        assert_eq!(
            d.pending_bytes(),
            2,
            "only the trailing newline and space are left"
        );
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        for bad in [
            &b"hello"[..],
            b"}",
            b"{\"a\": tru}",
            b"[1,,2]",
            b"{\"a\":1} 5",
        ] {
            let mut d = FrameDecoder::new();
            d.extend(bad);
            assert!(
                matches!(d.decode(), Err(Error::Protocol(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn an_incomplete_value_waits_for_more_bytes() {
        let mut d = FrameDecoder::new();
        d.extend(b"{\"id\": 1, \"result\": [1, 2");
        assert!(d.decode().unwrap().is_empty());
        d.extend(b"]}");
        assert_eq!(
            d.decode().unwrap(),
            vec![json!({"id": 1, "result": [1, 2]})]
        );
    }

    #[test]
    fn messages_classify_by_id_and_method() {
        let kinds: Vec<Message> = sample()
            .into_iter()
            .map(|v| Message::from_json(v).unwrap())
            .collect();
        assert!(
            matches!(&kinds[0], Message::Response { id, error, .. } if *id == json!(1) && error.is_null())
        );
        assert!(matches!(&kinds[1], Message::Notification { method, .. } if method == "update2"));
        assert!(matches!(&kinds[2], Message::Request { method, .. } if method == "echo"));
        assert!(
            matches!(&kinds[3], Message::Response { error, .. } if error["error"] == "unknown database")
        );
        assert!(Message::from_json(json!({"id": 1})).is_err());
        assert!(Message::from_json(json!([1])).is_err());
    }

    #[test]
    fn messages_round_trip_through_json() {
        let m = Message::Request {
            id: json!(7),
            method: "transact".into(),
            params: json!(["db"]),
        };
        assert_eq!(
            Message::from_json(serde_json::from_slice(&m.to_bytes()).unwrap()).unwrap(),
            m
        );
        let n = Message::Notification {
            method: "update2".into(),
            params: json!([]),
        };
        assert_eq!(n.to_json()["id"], Value::Null);
    }
}
