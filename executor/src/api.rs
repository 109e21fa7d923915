//! The Mesos v1 executor HTTP API client (`POST /api/v1/executor` on the
//! agent): SUBSCRIBE opens a RecordIO stream of events; UPDATE and MESSAGE
//! are separate requests answered with 202. Protobuf by default, Mesos JSON
//! on request; both directions use the same encoding.

use std::collections::VecDeque;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use mesos_proto::v1::executor::{call, Call, Event};
use mesos_proto::v1::{ExecutorId, FrameworkId, TaskStatus};
use mesos_proto::{BodyError, Encoding, RecordIoDecoder, RecordIoError};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;

/// Why a call or the event stream failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The agent could not be reached or the connection broke.
    #[error("agent connection: {0}")]
    Http(#[from] reqwest::Error),
    /// The agent answered with an unexpected status (503 while recovering,
    /// 400 for a bad call, 403 before SUBSCRIBE ...).
    #[error("agent answered {status}: {body}")]
    Status { status: StatusCode, body: String },
    /// A body could not be encoded or decoded.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The event stream's framing broke.
    #[error(transparent)]
    RecordIo(#[from] RecordIoError),
}

/// A client for one executor's calls.
#[derive(Debug, Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    url: String,
    encoding: Encoding,
    framework_id: FrameworkId,
    executor_id: ExecutorId,
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The SUBSCRIBE response: events as they arrive.
pub struct EventStream {
    body: ByteStream,
    decoder: RecordIoDecoder,
    encoding: Encoding,
    ready: VecDeque<Event>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("encoding", &self.encoding)
            .field("buffered", &self.decoder.buffered_len())
            .finish()
    }
}

impl EventStream {
    /// The next event; None when the agent closed the stream cleanly.
    pub async fn next(&mut self) -> Option<Result<Event, ApiError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            match self.decoder.next_record() {
                Ok(Some(record)) => match self.encoding.decode::<Event>(&record) {
                    Ok(event) => return Some(Ok(event)),
                    Err(e) => return Some(Err(e.into())),
                },
                Ok(None) => {}
                Err(e) => return Some(Err(e.into())),
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.decoder.push(&chunk),
                Some(Err(e)) => return Some(Err(e.into())),
                None => {
                    return match self.decoder.finish() {
                        Ok(()) => None,
                        Err(e) => Some(Err(e.into())),
                    }
                }
            }
        }
    }
}

impl AgentClient {
    /// A client for `url` (`http://<agent>/api/v1/executor`).
    pub fn new(
        url: impl Into<String>,
        encoding: Encoding,
        framework_id: FrameworkId,
        executor_id: ExecutorId,
    ) -> Result<AgentClient, ApiError> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(2)
            .tcp_nodelay(true)
            .build()?;
        Ok(AgentClient {
            http,
            url: url.into(),
            encoding,
            framework_id,
            executor_id,
        })
    }

    fn call(&self, kind: call::Type) -> Call {
        let mut c = Call {
            framework_id: self.framework_id.clone(),
            executor_id: self.executor_id.clone(),
            ..Default::default()
        };
        c.set_type(kind);
        c
    }

    async fn post(&self, call: &Call) -> Result<reqwest::Response, ApiError> {
        let body = self.encoding.encode(call)?;
        Ok(self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, self.encoding.content_type())
            .header(ACCEPT, self.encoding.content_type())
            .body(body)
            .send()
            .await?)
    }

    async fn expect(
        response: reqwest::Response,
        want: StatusCode,
    ) -> Result<reqwest::Response, ApiError> {
        if response.status() == want {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Err(ApiError::Status {
            status,
            body: body
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect(),
        })
    }

    /// SUBSCRIBE with what the agent has not acknowledged yet.
    pub async fn subscribe(&self, subscribe: call::Subscribe) -> Result<EventStream, ApiError> {
        let mut c = self.call(call::Type::Subscribe);
        c.subscribe = Some(subscribe);
        let response = Self::expect(self.post(&c).await?, StatusCode::OK).await?;
        Ok(EventStream {
            body: Box::pin(response.bytes_stream()),
            decoder: RecordIoDecoder::new(),
            encoding: self.encoding,
            ready: VecDeque::new(),
        })
    }

    /// UPDATE `{status}` (202).
    pub async fn update(&self, status: TaskStatus) -> Result<(), ApiError> {
        let mut c = self.call(call::Type::Update);
        c.update = Some(call::Update { status });
        Self::expect(self.post(&c).await?, StatusCode::ACCEPTED)
            .await
            .map(drop)
    }

    /// MESSAGE `{data}` to the framework (202).
    pub async fn message(&self, data: Vec<u8>) -> Result<(), ApiError> {
        let mut c = self.call(call::Type::Message);
        c.message = Some(call::Message { data });
        Self::expect(self.post(&c).await?, StatusCode::ACCEPTED)
            .await
            .map(drop)
    }
}
