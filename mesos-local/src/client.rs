//! A minimal v1 scheduler client over real HTTP, in JSON or protobuf: the
//! tests and the launch benchmark drive the master with it. It subscribes
//! (keeping the `Mesos-Stream-Id` and framework id), decodes the RecordIO
//! event stream, and sends calls with the right headers. A SUBSCRIBE sent
//! to a master that does not lead follows its `307` to the leader, where
//! later calls then go. Not a framework library: no reconnection, no
//! state.

use std::time::Duration;

use futures::StreamExt;
use mesos_proto::v1::scheduler::{call, event, Call, Event};
use mesos_proto::v1::{FrameworkId, FrameworkInfo};
use mesos_proto::{Encoding, RecordIoDecoder, MESOS_STREAM_ID_HEADER};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP request failed.
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The master answered with an unexpected status.
    #[error("master answered {status}: {body}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The body text.
        body: String,
    },
    /// The stream's framing or an event could not be decoded.
    #[error("cannot decode the event stream: {0}")]
    Decode(String),
    /// The stream ended.
    #[error("the event stream ended")]
    Ended,
    /// No matching event arrived in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

/// The decoded event stream of a subscription.
pub struct EventStream {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: RecordIoDecoder,
    encoding: Encoding,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl EventStream {
    /// Wraps a streaming response.
    pub fn new(response: reqwest::Response, encoding: Encoding) -> Self {
        EventStream {
            body: response.bytes_stream().boxed(),
            decoder: RecordIoDecoder::new(),
            encoding,
        }
    }

    /// The next event.
    pub async fn next(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(record) = self
                .decoder
                .next_record()
                .map_err(|e| ClientError::Decode(e.to_string()))?
            {
                return self
                    .encoding
                    .decode(&record)
                    .map_err(|e| ClientError::Decode(e.to_string()));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.decoder.push(&chunk),
                Some(Err(e)) => return Err(ClientError::Http(e)),
                None => return Err(ClientError::Ended),
            }
        }
    }

    /// The next event satisfying `wanted` within `timeout`, skipping
    /// others (heartbeats, offers ...).
    pub async fn next_matching(
        &mut self,
        what: &str,
        timeout: Duration,
        mut wanted: impl FnMut(&Event) -> bool,
    ) -> Result<Event, ClientError> {
        let wait = async {
            loop {
                let event = self.next().await?;
                if wanted(&event) {
                    return Ok(event);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| ClientError::Timeout(timeout, what.to_string()))?
    }

    /// The next event of type `kind` within `timeout`.
    pub async fn next_of(
        &mut self,
        kind: event::Type,
        timeout: Duration,
    ) -> Result<Event, ClientError> {
        self.next_matching(kind.as_str_name(), timeout, |e| e.r#type() == kind)
            .await
    }
}

/// A scheduler's connection to the master.
#[derive(Debug, Clone)]
pub struct SchedulerClient {
    http: reqwest::Client,
    url: String,
    encoding: Encoding,
    /// Set by [`SchedulerClient::subscribe`].
    pub framework_id: Option<FrameworkId>,
    /// Set by [`SchedulerClient::subscribe`].
    pub stream_id: Option<String>,
}

impl SchedulerClient {
    /// A client for the master at `ip:port`, speaking `encoding`.
    pub fn new(master: &str, encoding: Encoding) -> Self {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        Self::with_http(http, master, encoding)
    }

    /// Same, sharing an HTTP client.
    pub fn with_http(http: reqwest::Client, master: &str, encoding: Encoding) -> Self {
        SchedulerClient {
            http,
            url: format!("http://{master}/api/v1/scheduler"),
            encoding,
            framework_id: None,
            stream_id: None,
        }
    }

    /// The encoding of calls and events.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The scheduler endpoint calls go to: the master given, or the
    /// leader a SUBSCRIBE was redirected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// SUBSCRIBE (resubscribes when `info.id` is set); waits for
    /// SUBSCRIBED and records the framework and stream ids.
    pub async fn subscribe(&mut self, info: FrameworkInfo) -> Result<EventStream, ClientError> {
        let call = Call {
            framework_id: info.id.clone(),
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: info,
                ..Default::default()
            }),
            ..Default::default()
        };
        let body = self
            .encoding
            .encode(&call)
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let response = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, self.encoding.content_type())
            .header(ACCEPT, self.encoding.content_type())
            .body(body)
            .send()
            .await?;
        if response.status() != StatusCode::OK {
            let status = response.status();
            return Err(ClientError::Status {
                status,
                body: response.text().await.unwrap_or_default(),
            });
        }
        // A master that does not lead answers 307 with the leader's URL
        // (followed by the HTTP client): later calls go to the leader.
        let leader_url = response.url().to_string();
        let stream_id = response
            .headers()
            .get(MESOS_STREAM_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut events = EventStream::new(response, self.encoding);
        let subscribed = events
            .next_of(event::Type::Subscribed, Duration::from_secs(30))
            .await?;
        self.framework_id = subscribed.subscribed.map(|s| s.framework_id);
        self.stream_id = stream_id;
        self.url = leader_url;
        Ok(events)
    }

    /// Sends a call (framework id filled in); returns status and body.
    pub async fn send(&self, mut call: Call) -> Result<(StatusCode, bytes::Bytes), ClientError> {
        if call.framework_id.is_none() {
            call.framework_id = self.framework_id.clone();
        }
        let body = self
            .encoding
            .encode(&call)
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let mut request = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, self.encoding.content_type())
            .body(body);
        if let Some(stream_id) = &self.stream_id {
            request = request.header(MESOS_STREAM_ID_HEADER, stream_id);
        }
        let response = request.send().await?;
        let status = response.status();
        Ok((status, response.bytes().await?))
    }

    /// Sends a call and requires `202 Accepted`.
    pub async fn call(&self, call: Call) -> Result<(), ClientError> {
        let (status, body) = self.send(call).await?;
        if status == StatusCode::ACCEPTED {
            Ok(())
        } else {
            Err(ClientError::Status {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        }
    }
}
