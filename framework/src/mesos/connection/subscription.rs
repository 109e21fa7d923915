//! A subscribed framework's event stream: RecordIO records decoded into
//! scheduler events as chunks arrive, a stream silent for longer than
//! `missed_heartbeats` heartbeat intervals reported as dead, and ERROR
//! events turned into errors (removal of the framework recognised); for a
//! `zk://` master, the stream ends when ZooKeeper names another leader.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use mesos_proto::v1::scheduler::{event, Event};
use mesos_proto::{Encoding, RecordIoDecoder};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::mesos::caller::Caller;
use crate::mesos::detector::{Leader, LeaderWatch};
use crate::mesos::error::{classify_master_message, MesosError};
use ovn::report::Chain;

/// The decoding half of a subscription: the response body, the RecordIO
/// decoder and the silence limit.
pub(crate) struct Stream {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    decoder: RecordIoDecoder,
    encoding: Encoding,
    master: String,
    silence_limit: Duration,
    last_event: Instant,
    ended: bool,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("master", &self.master)
            .field("encoding", &self.encoding)
            .field("silence_limit", &self.silence_limit)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Stream {
    /// Reads the events of a 200 SUBSCRIBE response; the stream may be
    /// silent for `silence_limit` (until SUBSCRIBED: the request timeout).
    pub(crate) fn new(
        response: reqwest::Response,
        encoding: Encoding,
        master: String,
        silence_limit: Duration,
    ) -> Self {
        Stream {
            body: response.bytes_stream().boxed(),
            decoder: RecordIoDecoder::new(),
            encoding,
            master,
            silence_limit,
            last_event: Instant::now(),
            ended: false,
        }
    }

    /// Drops the connection: every later read is
    /// [`MesosError::StreamEnded`].
    pub(crate) fn close(&mut self) {
        self.body = futures::stream::empty().boxed();
        self.ended = true;
    }

    /// Sets how long the stream may be silent from now on.
    pub(crate) fn set_silence_limit(&mut self, limit: Duration) {
        self.silence_limit = limit;
    }

    /// The first event, which must be SUBSCRIBED.
    pub(crate) async fn first_subscribed(&mut self) -> Result<event::Subscribed, MesosError> {
        let limit = self.silence_limit;
        let event = self.next().await.map_err(|error| match error {
            MesosError::HeartbeatTimeout { .. } => MesosError::Timeout {
                call: "SUBSCRIBE",
                after: limit,
            },
            other => other,
        })?;
        match (event.r#type(), event.subscribed) {
            (event::Type::Subscribed, Some(subscribed)) => Ok(subscribed),
            (kind, _) => Err(MesosError::Decode(format!(
                "the event stream of {} started with {} instead of SUBSCRIBED",
                self.master,
                kind.as_str_name()
            ))),
        }
    }

    /// The next event; see [`Subscription::next`].
    pub(crate) async fn next(&mut self) -> Result<Event, MesosError> {
        if self.ended {
            return Err(MesosError::StreamEnded);
        }
        let result = self.read().await;
        if result.is_err() {
            self.ended = true;
        }
        result
    }

    async fn read(&mut self) -> Result<Event, MesosError> {
        loop {
            let record = self
                .decoder
                .next_record()
                .map_err(|e| MesosError::Decode(format!("event stream framing: {}", Chain(&e))))?;
            if let Some(record) = record {
                self.last_event = Instant::now();
                let event: Event = self
                    .encoding
                    .decode(&record)
                    .map_err(|e| MesosError::Decode(format!("event: {}", Chain(&e))))?;
                if event.r#type() == event::Type::Error {
                    let message = event.error.map(|e| e.message).unwrap_or_default();
                    warn!(master = %self.master, %message, "ERROR event from the master");
                    return Err(classify_master_message(&message));
                }
                debug!(event = event.r#type().as_str_name(), "event");
                return Ok(event);
            }
            let deadline = self.last_event + self.silence_limit;
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => {
                    warn!(master = %self.master, after = ?self.silence_limit, "no event from the master; the stream is dead");
                    return Err(MesosError::HeartbeatTimeout {
                        after: self.silence_limit,
                    });
                }
                Ok(Some(Ok(chunk))) => self.decoder.push(&chunk),
                Ok(Some(Err(source))) => {
                    return Err(MesosError::Request {
                        call: "SUBSCRIBE",
                        master: self.master.clone(),
                        source,
                    })
                }
                Ok(None) => {
                    self.decoder.finish().map_err(|e| {
                        MesosError::Decode(format!("event stream framing: {}", Chain(&e)))
                    })?;
                    return Err(MesosError::StreamEnded);
                }
            }
        }
    }
}

/// A subscribed framework: its event stream and a [`Caller`] for calls.
/// Dropping it closes the stream, which makes the master consider the
/// framework disconnected (its `failover_timeout` starts).
#[derive(Debug)]
pub struct Subscription {
    stream: Stream,
    subscribed: event::Subscribed,
    caller: Caller,
    /// For a `zk://` master: ends the stream when the leader changes.
    leader: Option<LeaderWatch>,
}

impl Subscription {
    pub(crate) fn new(
        stream: Stream,
        subscribed: event::Subscribed,
        caller: Caller,
        leader: Option<LeaderWatch>,
    ) -> Self {
        Subscription {
            stream,
            subscribed,
            caller,
            leader,
        }
    }

    /// The leader found in ZooKeeper (`zk://` masters only), as it was
    /// when last checked.
    pub fn detected_leader(&self) -> Option<&Leader> {
        self.leader.as_ref().map(LeaderWatch::leader)
    }

    /// A caller for this subscription (cheap clone; it stays usable after
    /// the subscription is dropped until the master forgets the stream).
    pub fn caller(&self) -> Caller {
        self.caller.clone()
    }

    /// The SUBSCRIBED event: framework id, heartbeat interval, master info.
    pub fn subscribed(&self) -> &event::Subscribed {
        &self.subscribed
    }

    /// The framework id the master assigned (or accepted on failover).
    pub fn framework_id(&self) -> &mesos_proto::v1::FrameworkId {
        &self.subscribed.framework_id
    }

    /// How long the stream may stay silent before [`Subscription::next`]
    /// reports [`MesosError::HeartbeatTimeout`].
    pub fn heartbeat_timeout(&self) -> Duration {
        self.stream.silence_limit
    }

    /// The next event, HEARTBEAT included (the caller ignores those).
    ///
    /// Errors, after which the stream is unusable (every later call
    /// returns [`MesosError::StreamEnded`]) and the framework should
    /// resubscribe after a backoff unless the error is not retryable:
    /// an ERROR event is [`MesosError::MasterError`] or
    /// [`MesosError::FrameworkRemoved`]; no event at all for the
    /// heartbeat timeout is [`MesosError::HeartbeatTimeout`]; the master
    /// closing the stream is [`MesosError::StreamEnded`]; for a `zk://`
    /// master, ZooKeeper naming another leader is
    /// [`MesosError::LeaderChanged`] and an empty group
    /// [`MesosError::NoMaster`] (the stream is closed at once).
    ///
    /// Cancel-safe: dropping the future (e.g. in `tokio::select!`) loses
    /// no event.
    pub async fn next(&mut self) -> Result<Event, MesosError> {
        let Some(leader) = self.leader.as_mut() else {
            return self.stream.next().await;
        };
        let lost = tokio::select! {
            biased;
            lost = leader.lost() => lost,
            result = self.stream.next() => return result,
        };
        warn!(master = %self.stream.master, error = %lost, "closing the event stream");
        self.leader = None;
        self.stream.close();
        Err(lost)
    }
}
