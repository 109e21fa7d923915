//! Long-lived RecordIO event streams: the bodies of the scheduler's and
//! executor's SUBSCRIBE answers and of the master's link to each agent.
//!
//! Producers push events into a bounded queue through an [`EventSender`]
//! (never blocking the caller, which may hold the master's or agent's
//! lock); the HTTP body encodes them (JSON or protobuf), frames each as a
//! RecordIO record, batches whatever is queued into one chunk, and writes
//! a heartbeat event at a fixed interval. Dropping every sender ends the
//! body after the queued events; when the client goes away the body is
//! dropped and the `on_close` callback runs, so the owner learns of the
//! disconnection.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Most events written in one chunk.
const BATCH_EVENTS: usize = 512;

/// Encodes one event into record bytes.
pub type Encoder<E> = Arc<dyn Fn(&E) -> Result<Vec<u8>, String> + Send + Sync>;

/// Why an event could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The reader went away or the stream was closed.
    #[error("the event stream is closed")]
    Closed,
    /// The reader is too slow: the queue is full.
    #[error("the event stream's queue is full")]
    Full,
}

/// The producing end of an event stream; cheap to clone. Events are
/// boxed in the queue: generated Mesos messages are large structs, and a
/// queue block holds 32 of them.
#[derive(Debug)]
pub struct EventSender<E> {
    tx: mpsc::Sender<Box<E>>,
}

impl<E> Clone for EventSender<E> {
    fn clone(&self) -> Self {
        EventSender {
            tx: self.tx.clone(),
        }
    }
}

impl<E> EventSender<E> {
    /// Queues an event without waiting.
    pub fn send(&self, event: E) -> Result<(), SendError> {
        self.tx.try_send(Box::new(event)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Whether the body has gone (client disconnected).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// How a stream behaves.
pub struct StreamSpec<E> {
    /// Encodes each event's record bytes.
    pub encoder: Encoder<E>,
    /// Event written every interval, the first one right after the events
    /// already queued when the stream starts.
    pub heartbeat: Option<(Duration, E)>,
    /// Queue bound; a full queue makes [`EventSender::send`] fail.
    pub capacity: usize,
    /// Ends the stream (after queued events) when cancelled.
    pub cancel: CancellationToken,
    /// Runs once when the body is dropped (client gone or stream ended).
    pub on_close: Option<Box<dyn FnOnce() + Send>>,
}

impl<E> std::fmt::Debug for StreamSpec<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSpec")
            .field("capacity", &self.capacity)
            .field("heartbeat", &self.heartbeat.as_ref().map(|(d, _)| d))
            .finish_non_exhaustive()
    }
}

/// Runs the close callback when the body is dropped.
struct CloseGuard(Option<Box<dyn FnOnce() + Send>>);

impl Drop for CloseGuard {
    fn drop(&mut self) {
        if let Some(callback) = self.0.take() {
            callback();
        }
    }
}

struct State<E> {
    rx: mpsc::Receiver<Box<E>>,
    encoder: Encoder<E>,
    heartbeat: Option<(tokio::time::Interval, E)>,
    cancel: CancellationToken,
    _guard: CloseGuard,
}

/// Creates a stream: the sender to push events and the HTTP body.
pub fn event_stream<E: Clone + Send + 'static>(spec: StreamSpec<E>) -> (EventSender<E>, Body) {
    let (tx, rx) = mpsc::channel(spec.capacity.max(1));
    let heartbeat = spec.heartbeat.map(|(period, event)| {
        let mut interval = tokio::time::interval_at(Instant::now(), period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        (interval, event)
    });
    let state = State {
        rx,
        encoder: spec.encoder,
        heartbeat,
        cancel: spec.cancel,
        _guard: CloseGuard(spec.on_close),
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        let chunk = next_chunk(&mut state).await?;
        Some((Ok::<Bytes, std::io::Error>(chunk), state))
    });
    (EventSender { tx }, Body::from_stream(stream.boxed()))
}

/// Waits for the next events (or heartbeat) and frames them; `None` ends
/// the body.
async fn next_chunk<E: Clone>(state: &mut State<E>) -> Option<Bytes> {
    let tick = async {
        match state.heartbeat.as_mut() {
            Some((interval, event)) => {
                interval.tick().await;
                event.clone()
            }
            None => std::future::pending().await,
        }
    };
    let first = tokio::select! {
        biased;
        event = state.rx.recv() => *event?,
        heartbeat = tick => heartbeat,
        () = state.cancel.cancelled() => {
            // Flush what is queued, then end.
            state.rx.close();
            *state.rx.try_recv().ok()?
        }
    };
    let mut chunk = BytesMut::new();
    frame(&state.encoder, &first, &mut chunk);
    for _ in 1..BATCH_EVENTS {
        match state.rx.try_recv() {
            Ok(event) => frame(&state.encoder, &event, &mut chunk),
            Err(_) => break,
        }
    }
    Some(chunk.freeze())
}

fn frame<E>(encoder: &Encoder<E>, event: &E, chunk: &mut BytesMut) {
    match encoder(event) {
        Ok(record) => mesos_proto::recordio::encode_into(&record, chunk),
        Err(error) => tracing::error!(%error, "dropping an event that cannot be encoded"),
    }
}

/// An encoder for a Mesos API event in the subscriber's encoding.
pub fn mesos_encoder<E>(encoding: mesos_proto::Encoding) -> Encoder<E>
where
    E: prost::Message + prost::Name + 'static,
{
    Arc::new(move |event: &E| encoding.encode(event).map_err(|e| e.to_string()))
}

/// An encoder for internal protobuf messages.
pub fn protobuf_encoder<E: prost::Message + 'static>() -> Encoder<E> {
    Arc::new(|event: &E| Ok(event.encode_to_vec()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use http_body_util_shim::collect_chunks;
    use mesos_proto::RecordIoDecoder;

    use super::*;

    /// Minimal body collection without extra dependencies.
    mod http_body_util_shim {
        use axum::body::Body;
        use futures::StreamExt;

        pub async fn collect_chunks(body: Body, limit: usize) -> Vec<Vec<u8>> {
            let mut stream = body.into_data_stream();
            let mut chunks = Vec::new();
            while let Some(Ok(chunk)) = stream.next().await {
                chunks.push(chunk.to_vec());
                if chunks.len() >= limit {
                    break;
                }
            }
            chunks
        }
    }

    fn spec(heartbeat: Option<(Duration, String)>) -> (StreamSpec<String>, Arc<AtomicBool>) {
        let closed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&closed);
        (
            StreamSpec {
                encoder: Arc::new(|s: &String| Ok(s.as_bytes().to_vec())),
                heartbeat,
                capacity: 4,
                cancel: CancellationToken::new(),
                on_close: Some(Box::new(move || flag.store(true, Ordering::SeqCst))),
            },
            closed,
        )
    }

    #[tokio::test]
    async fn queued_events_come_first_then_a_heartbeat() {
        let (spec, _) = spec(Some((Duration::from_secs(3600), "hb".to_string())));
        let (tx, body) = event_stream(spec);
        tx.send("first".to_string()).expect("queued");
        let chunks = collect_chunks(body, 2).await;
        let mut decoder = RecordIoDecoder::new();
        for chunk in &chunks {
            decoder.push(chunk);
        }
        let mut records = Vec::new();
        while let Some(record) = decoder.next_record().expect("valid framing") {
            records.push(String::from_utf8(record.to_vec()).expect("utf8"));
        }
        assert_eq!(records, vec!["first", "hb"]);
    }

    #[tokio::test]
    async fn dropping_the_sender_ends_the_body_and_runs_on_close() {
        let (spec, closed) = spec(None);
        let (tx, body) = event_stream(spec);
        tx.send("a".into()).expect("queued");
        tx.send("b".into()).expect("queued");
        drop(tx);
        let chunks = collect_chunks(body, 100).await;
        assert_eq!(chunks.concat(), b"1\na1\nb");
        assert!(closed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_full_queue_is_reported() {
        let (spec, _) = spec(None);
        let (tx, _body) = event_stream(spec);
        for i in 0..4 {
            tx.send(i.to_string()).expect("room");
        }
        assert_eq!(tx.send("x".into()), Err(SendError::Full));
    }

    #[tokio::test]
    async fn a_dropped_body_closes_the_sender() {
        let (spec, closed) = spec(None);
        let (tx, body) = event_stream(spec);
        drop(body);
        assert!(tx.is_closed());
        assert!(closed.load(Ordering::SeqCst));
        assert_eq!(tx.send("x".into()), Err(SendError::Closed));
    }
}
