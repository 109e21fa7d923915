//! The HTTP side of the client commands: an [`ApiClient`] that sends one
//! request to the framework's API and reads its JSON answer, or follows its
//! event stream, and the [`ClientError`]s that say in one line what went
//! wrong (the API unreachable, an error answer, an answer that makes no sense).

use std::collections::VecDeque;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Response, StatusCode, Url};
use serde_json::Value;

use super::sse::{SseEvent, SseParser};

/// How long a call (connection and answer) may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to the event stream may take (the stream itself has
/// no time limit).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request to the API failed, as one line.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The `--api` address is not a usable URL.
    #[error("bad --api {api:?}: {reason}")]
    BadUrl {
        /// The address as given.
        api: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The API could not be reached, or the connection broke.
    #[error("cannot reach the ovn-mesos API at {api}: {reason}")]
    Unreachable {
        /// The API's base URL.
        api: String,
        /// The cause, e.g. `connection refused`.
        reason: String,
    },
    /// The API answered with an error: its `{"error": ...}` message, or the
    /// status and the start of the body when the body is not that.
    #[error("{message}")]
    Answer {
        /// The HTTP status of the answer.
        status: StatusCode,
        /// The server's message.
        message: String,
    },
    /// The API answered success with something the client cannot read.
    #[error("unexpected answer from the ovn-mesos API at {api}: {reason}")]
    BadAnswer {
        /// The API's base URL.
        api: String,
        /// What is wrong with the answer.
        reason: String,
    },
}

impl ClientError {
    /// Whether the API itself could not be reached (so other requests
    /// would fail the same way).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }
}

/// A client of one framework's HTTP API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// The API's base URL, e.g. `http://127.0.0.1:8089/`.
    base: Url,
    /// For calls: [`CALL_TIMEOUT`] in all.
    calls: reqwest::Client,
    /// For the event stream: [`CONNECT_TIMEOUT`] to connect, no limit after.
    stream: reqwest::Client,
}

impl ApiClient {
    /// A client of the API at `api`: `http://HOST:PORT[/PREFIX]` or
    /// `HOST:PORT` (plain HTTP is assumed).
    pub fn new(api: &str) -> Result<Self, ClientError> {
        let bad = |reason: String| ClientError::BadUrl {
            api: api.to_owned(),
            reason,
        };
        let trimmed = api.trim();
        if trimmed.is_empty() {
            return Err(bad("empty address".to_owned()));
        }
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("http://{trimmed}")
        };
        let mut base = Url::parse(&with_scheme).map_err(|e| bad(e.to_string()))?;
        if base.scheme() != "http" {
            return Err(bad(format!(
                "scheme {} is not supported: the API speaks plain HTTP",
                base.scheme()
            )));
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host".to_owned()));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("a query or fragment is not allowed".to_owned()));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let build = |builder: reqwest::ClientBuilder| {
            builder
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .map_err(|e| bad(format!("cannot build an HTTP client: {e}")))
        };
        Ok(ApiClient {
            base,
            calls: build(reqwest::Client::builder().timeout(CALL_TIMEOUT))?,
            stream: build(reqwest::Client::builder())?,
        })
    }

    /// The API's base URL without the trailing slash, as error lines name it.
    pub fn api(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    /// The URL of the path made of `segments` under the base, each segment
    /// percent-encoded (a definition name may hold any character).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `GET` the path and return the JSON answer.
    pub async fn get(&self, segments: &[&str]) -> Result<Value, ClientError> {
        self.call(Method::GET, segments, None).await
    }

    /// `POST` `body` (JSON, sent as is) to the path and return the JSON answer.
    pub async fn post(&self, segments: &[&str], body: Vec<u8>) -> Result<Value, ClientError> {
        self.call(Method::POST, segments, Some(body)).await
    }

    /// `PUT` `body` as JSON to the path and return the JSON answer.
    pub async fn put(&self, segments: &[&str], body: &Value) -> Result<Value, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| self.bad_answer(e.to_string()))?;
        self.call(Method::PUT, segments, Some(bytes)).await
    }

    /// `DELETE` the path and return the JSON answer.
    pub async fn delete(&self, segments: &[&str]) -> Result<Value, ClientError> {
        self.call(Method::DELETE, segments, None).await
    }

    /// Sends one request and reads its JSON answer; an error status becomes
    /// [`ClientError::Answer`].
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Vec<u8>>,
    ) -> Result<Value, ClientError> {
        let mut request = self.calls.request(method, self.url(segments));
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let response = self.check(response).await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.bad_answer(format!("not JSON ({e}): {}", snippet(&bytes))))
    }

    /// Opens `GET /v1/events`, with one `event_type` parameter per entry
    /// of `types` (none: every event).
    pub async fn events(&self, types: &[String]) -> Result<EventStream, ClientError> {
        let query: Vec<(&str, &str)> = types.iter().map(|t| ("event_type", t.as_str())).collect();
        let response = self
            .stream
            .get(self.url(&["v1", "events"]))
            .query(&query)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let response = self.check(response).await?;
        Ok(EventStream {
            api: self.api(),
            response,
            parser: SseParser::new(),
            ready: VecDeque::new(),
            ended: false,
        })
    }

    /// `response` if its status is a success, else its error as a [`ClientError`].
    async fn check(&self, response: Response) -> Result<Response, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response.bytes().await.unwrap_or_default();
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .map(|m| m.replace(['\r', '\n'], " "))
            .unwrap_or_else(|| {
                let body = snippet(&bytes);
                if body.is_empty() {
                    format!("the ovn-mesos API answered {status}")
                } else {
                    format!("the ovn-mesos API answered {status}: {body}")
                }
            });
        Err(ClientError::Answer { status, message })
    }

    fn unreachable(&self, err: &reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            api: self.api(),
            reason: reason(err),
        }
    }

    /// The error for a success answer the client cannot use, for `reason`.
    pub fn bad_answer(&self, reason: String) -> ClientError {
        ClientError::BadAnswer {
            api: self.api(),
            reason,
        }
    }
}

/// The events of `GET /v1/events` as they arrive.
#[derive(Debug)]
pub struct EventStream {
    api: String,
    response: Response,
    parser: SseParser,
    /// Events parsed but not yet returned.
    ready: VecDeque<SseEvent>,
    ended: bool,
}

impl EventStream {
    /// The next event; `None` once the server ends the stream. Cancel-safe:
    /// an event received while the caller stopped waiting is kept for the
    /// next call.
    pub async fn next(&mut self) -> Option<Result<SseEvent, ClientError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            if self.ended {
                return None;
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.ready.extend(self.parser.push(&chunk)),
                Ok(None) => self.ended = true,
                Err(e) => {
                    self.ended = true;
                    return Some(Err(ClientError::Unreachable {
                        api: self.api.clone(),
                        reason: format!("the event stream broke: {}", reason(&e)),
                    }));
                }
            }
        }
    }
}

/// Why a request failed, in a few words: the innermost cause (`connection
/// refused`) rather than reqwest's layers of context.
fn reason(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {}s", CALL_TIMEOUT.as_secs());
    }
    let mut innermost: &(dyn std::error::Error + 'static) = err;
    let mut io_error = None;
    while let Some(source) = innermost.source() {
        innermost = source;
        if let Some(io) = source.downcast_ref::<std::io::Error>() {
            io_error = Some(io);
        }
    }
    use std::io::ErrorKind;
    match io_error.map(std::io::Error::kind) {
        Some(ErrorKind::ConnectionRefused) => "connection refused".to_owned(),
        Some(ErrorKind::ConnectionReset) => "connection reset".to_owned(),
        Some(ErrorKind::ConnectionAborted) => "connection aborted".to_owned(),
        Some(ErrorKind::TimedOut) => "connection timed out".to_owned(),
        Some(ErrorKind::HostUnreachable) => "host unreachable".to_owned(),
        Some(ErrorKind::NetworkUnreachable) => "network unreachable".to_owned(),
        _ => innermost.to_string().replace(['\r', '\n'], " "),
    }
}

/// The start of a body, on one line, for an error message.
fn snippet(bytes: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim().replace(['\r', '\n'], " ");
    if text.chars().count() > MAX {
        format!("{}...", text.chars().take(MAX).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_a_scheme_is_plain_http() {
        let client = ApiClient::new("127.0.0.1:8089").unwrap();
        assert_eq!(client.api(), "http://127.0.0.1:8089");
        assert_eq!(
            client.url(&["v1", "definitions"]).as_str(),
            "http://127.0.0.1:8089/v1/definitions"
        );
        let client = ApiClient::new("http://api.example:80/ovn/").unwrap();
        assert_eq!(
            client.url(&["v1", "tasks"]).as_str(),
            "http://api.example/ovn/v1/tasks"
        );
    }

    #[test]
    fn a_name_is_one_encoded_path_segment() {
        let client = ApiClient::new("http://h:1").unwrap();
        assert_eq!(
            client
                .url(&["v1", "definitions", "a/b c?", "instances"])
                .as_str(),
            "http://h:1/v1/definitions/a%2Fb%20c%3F/instances"
        );
    }

    #[test]
    fn unusable_addresses_are_refused_by_name() {
        for bad in ["", "https://h:1", "http://", "h:99999", "http://h:1/?x=1"] {
            let err = ApiClient::new(bad).unwrap_err();
            assert!(
                err.to_string().starts_with(&format!("bad --api {bad:?}: ")),
                "{err}"
            );
        }
    }
}
