//! The two body encodings of the Mesos HTTP APIs, JSON and protobuf, and
//! how the `Content-Type` and `Accept` headers choose between them.
//!
//! The master and agent read a call in its `Content-Type` (415 for another
//! media type, 400 for none) and stream events in the encoding `Accept`
//! picks: JSON when both are acceptable, 406 when neither is.

use prost::{Message, Name};

use crate::{json, JsonError, APPLICATION_JSON, APPLICATION_PROTOBUF};

/// A body encoding: Mesos JSON or binary protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `application/json`: Mesos JSON (see [`crate::json`]).
    Json,
    /// `application/x-protobuf`: the protobuf wire format.
    Protobuf,
}

/// Why a body could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The JSON body was invalid or did not match the message.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The protobuf body was truncated or malformed.
    #[error("invalid protobuf body for {type_name}")]
    Protobuf {
        /// Message type being decoded.
        type_name: String,
        /// prost's reason.
        #[source]
        source: prost::DecodeError,
    },
}

impl Encoding {
    /// The media type naming this encoding.
    pub const fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => APPLICATION_JSON,
            Encoding::Protobuf => APPLICATION_PROTOBUF,
        }
    }

    /// The encoding a `Content-Type` header names, ignoring parameters
    /// such as `; charset=utf-8`; `None` for any other media type.
    pub fn from_content_type(header: &str) -> Option<Encoding> {
        let media_type = header.split(';').next().unwrap_or_default().trim();
        if media_type.eq_ignore_ascii_case(APPLICATION_JSON) {
            Some(Encoding::Json)
        } else if media_type.eq_ignore_ascii_case(APPLICATION_PROTOBUF) {
            Some(Encoding::Protobuf)
        } else {
            None
        }
    }

    /// The encoding to answer with for an `Accept` header: JSON when it is
    /// acceptable (a missing header accepts everything), else protobuf,
    /// else `None` (answer 406). Ranges with `q=0` refuse their type; the
    /// most specific matching range decides.
    pub fn from_accept(header: Option<&str>) -> Option<Encoding> {
        let Some(header) = header.filter(|h| !h.trim().is_empty()) else {
            return Some(Encoding::Json);
        };
        [Encoding::Json, Encoding::Protobuf]
            .into_iter()
            .find(|encoding| accepts(header, encoding.content_type()))
    }

    /// Encodes `message` as a body in this encoding.
    pub fn encode<M: Message + Name>(self, message: &M) -> Result<Vec<u8>, BodyError> {
        match self {
            Encoding::Json => Ok(json::to_json_vec(message)?),
            Encoding::Protobuf => Ok(message.encode_to_vec()),
        }
    }

    /// Decodes a body in this encoding.
    pub fn decode<M: Message + Name + Default>(self, body: &[u8]) -> Result<M, BodyError> {
        match self {
            Encoding::Json => Ok(json::from_json_slice(body)?),
            Encoding::Protobuf => M::decode(body).map_err(|source| BodyError::Protobuf {
                type_name: M::full_name(),
                source,
            }),
        }
    }
}

/// Whether the `Accept` header accepts `media_type` (`type/subtype`).
fn accepts(header: &str, media_type: &str) -> bool {
    let (kind, _) = media_type.split_once('/').unwrap_or((media_type, ""));
    // (specificity, q) of the most specific matching range.
    let mut best: Option<(u8, f32)> = None;
    for range in header.split(',') {
        let mut parts = range.split(';');
        let pattern = parts.next().unwrap_or_default().trim();
        let specificity = if pattern.eq_ignore_ascii_case(media_type) {
            3
        } else if pattern
            .strip_suffix("/*")
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(kind))
        {
            2
        } else if pattern == "*/*" {
            1
        } else {
            continue;
        };
        let q = parts
            .filter_map(|param| param.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if best.is_none_or(|(seen, _)| specificity > seen) {
            best = Some((specificity, q));
        }
    }
    best.is_some_and(|(_, q)| q > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Filters, TaskId};

    #[test]
    fn content_type_parameters_are_ignored() {
        assert_eq!(
            Encoding::from_content_type("application/json; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(
            Encoding::from_content_type("Application/X-Protobuf"),
            Some(Encoding::Protobuf)
        );
        assert_eq!(Encoding::from_content_type("text/plain"), None);
        assert_eq!(Encoding::from_content_type(""), None);
    }

    #[test]
    fn accept_prefers_json_when_both_are_acceptable() {
        let table = [
            (None, Some(Encoding::Json)),
            (Some("*/*"), Some(Encoding::Json)),
            (
                Some("application/x-protobuf, application/json"),
                Some(Encoding::Json),
            ),
            (Some("application/x-protobuf"), Some(Encoding::Protobuf)),
            (Some("application/json;q=0, */*"), Some(Encoding::Protobuf)),
            (Some("application/*"), Some(Encoding::Json)),
            (Some("text/html"), None),
            (Some("application/json; q=0"), None),
        ];
        for (header, expected) in table {
            assert_eq!(
                Encoding::from_accept(header),
                expected,
                "Accept: {header:?}"
            );
        }
    }

    #[test]
    fn both_encodings_round_trip_a_message() {
        let filters = Filters {
            refuse_seconds: Some(30.0),
        };
        for encoding in [Encoding::Json, Encoding::Protobuf] {
            let body = encoding.encode(&filters).expect("encode");
            let back: Filters = encoding.decode(&body).expect("decode");
            assert_eq!(back, filters, "{encoding:?}");
        }
    }

    #[test]
    fn a_truncated_protobuf_body_is_an_error() {
        let body = Encoding::Protobuf
            .encode(&TaskId::from("a-long-task-id"))
            .expect("encode");
        let error = Encoding::Protobuf
            .decode::<TaskId>(&body[..body.len() - 3])
            .expect_err("truncated");
        assert!(error.to_string().contains("mesos.v1.TaskID"), "{error}");
    }
}
