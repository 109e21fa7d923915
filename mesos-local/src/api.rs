//! The request checks shared by `POST /api/v1/scheduler` (master) and
//! `POST /api/v1/executor` (agent), in Mesos' order and with its texts:
//! method (405), `Content-Type` (400 when absent, 415 when neither JSON
//! nor protobuf), body decoding and required fields (400), `Accept` (406).
//! Every failure is an [`ApiError`] answered as `text/plain`, never a
//! crash.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use mesos_proto::{BodyError, Encoding, JsonError, APPLICATION_JSON, APPLICATION_PROTOBUF};
use prost::{Message, Name};

use crate::required;

/// An HTTP error answer: status and a plain-text reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body text.
    pub message: String,
}

impl ApiError {
    /// A 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// A 503 Service Unavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }

    /// A 501 Not Implemented (Mesos' answer to an `UNKNOWN` call).
    pub fn not_implemented() -> Self {
        ApiError {
            status: StatusCode::NOT_IMPLEMENTED,
            message: String::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.message).into_response();
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

/// 405 unless the method is POST (`MethodNotAllowed({"POST"}, method)`).
pub fn require_post(method: &Method) -> Result<(), ApiError> {
    if method == Method::POST {
        Ok(())
    } else {
        Err(ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("Expecting one of {{ 'POST' }}, but received '{method}'"),
        })
    }
}

/// The body encoding named by `Content-Type`.
pub fn content_encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::bad_request(
            "Expecting 'Content-Type' to be present",
        ));
    };
    value
        .to_str()
        .ok()
        .and_then(Encoding::from_content_type)
        .ok_or_else(|| ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!(
                "Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}"
            ),
        })
}

/// The stream encoding `Accept` allows: JSON preferred, 406 for neither.
pub fn accept_encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    Encoding::from_accept(accept).ok_or_else(|| ApiError {
        status: StatusCode::NOT_ACCEPTABLE,
        message: format!(
            "Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'"
        ),
    })
}

/// Decodes a call body, refusing missing required fields like Mesos'
/// `ParseFromString` / `protobuf::parse`.
pub fn decode_call<M: Message + Name + Default>(
    encoding: Encoding,
    body: &[u8],
) -> Result<M, ApiError> {
    let descriptor =
        mesos_proto::json::descriptor::<M>().map_err(|e| ApiError::bad_request(chain(e)))?;
    match encoding {
        Encoding::Protobuf => {
            let call: M = encoding.decode(body).map_err(|e| {
                ApiError::bad_request(format!(
                    "Failed to parse body into Call protobuf: {}",
                    chain(e)
                ))
            })?;
            // prost encodes every required field, so a canonical body that
            // re-encodes to its own length lacks none: skip the slower
            // dynamic check then.
            let missing = if call.encoded_len() == body.len() {
                Vec::new()
            } else {
                required::missing_in_protobuf(&descriptor, body)
            };
            if !missing.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "Failed to parse body into Call protobuf: missing required fields: {}",
                    missing.join(", ")
                )));
            }
            Ok(call)
        }
        Encoding::Json => {
            let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!("Failed to parse body into JSON: {e}"))
            })?;
            let missing = required::missing_in_json(&descriptor, &value);
            if !missing.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "Failed to convert JSON into Call protobuf: Missing required fields: {}",
                    missing.join(", ")
                )));
            }
            mesos_proto::from_json_value(value).map_err(|e| {
                let reason = match BodyError::from(e) {
                    BodyError::Json(JsonError::Syntax { source, .. }) => source.to_string(),
                    other => chain(other),
                };
                ApiError::bad_request(format!(
                    "Failed to convert JSON into Call protobuf: {reason}"
                ))
            })
        }
    }
}

/// An error and its causes on one line, `outer: inner: root` (each
/// error's `Display` says only what failed at its own layer).
pub fn chain(error: impl std::error::Error + Send + Sync + 'static) -> String {
    format!("{:#}", anyhow::Error::new(error))
}

/// A plain `202 Accepted` with an empty body.
pub fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// Whether a status update uuid is a valid 16-byte UUID
/// (`id::UUID::fromBytes`); the error text is stout's.
pub fn check_uuid(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() == 16 {
        Ok(())
    } else {
        Err("Not a valid UUID".to_string())
    }
}

#[cfg(test)]
mod tests {
    use mesos_proto::v1::scheduler::Call;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn content_type_absent_is_400_and_unknown_is_415() {
        assert_eq!(
            content_encoding(&headers(&[])).map_err(|e| e.status),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            content_encoding(&headers(&[("content-type", "text/plain")])).map_err(|e| e.status),
            Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(
            content_encoding(&headers(&[("content-type", "application/x-protobuf")])),
            Ok(Encoding::Protobuf)
        );
    }

    #[test]
    fn accept_refusing_both_is_406() {
        assert_eq!(
            accept_encoding(&headers(&[("accept", "text/html")])).map_err(|e| e.status),
            Err(StatusCode::NOT_ACCEPTABLE)
        );
        assert_eq!(accept_encoding(&headers(&[])), Ok(Encoding::Json));
    }

    #[test]
    fn non_post_is_405_with_allow() {
        let error = require_post(&Method::GET).expect_err("GET refused");
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "POST");
    }

    #[test]
    fn malformed_bodies_are_400_with_a_reason() {
        let error = decode_call::<Call>(Encoding::Json, b"{not json").expect_err("bad JSON");
        assert!(
            error.message.starts_with("Failed to parse body into JSON"),
            "{}",
            error.message
        );
        let error =
            decode_call::<Call>(Encoding::Json, br#"{"type": "NOPE"}"#).expect_err("bad enum");
        assert!(
            error.message.starts_with("Failed to convert JSON"),
            "{}",
            error.message
        );
        let error =
            decode_call::<Call>(Encoding::Protobuf, &[0xff, 0xff]).expect_err("bad protobuf");
        assert!(error
            .message
            .starts_with("Failed to parse body into Call protobuf"));
    }

    #[test]
    fn uuids_must_have_sixteen_bytes() {
        assert!(check_uuid(&[0; 16]).is_ok());
        assert_eq!(check_uuid(b"abc"), Err("Not a valid UUID".into()));
    }
}
