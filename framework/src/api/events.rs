//! The Server-Sent Events stream `GET /v1/events`, like Marathon's `/v2/events`.
//!
//! The scheduler's event loop publishes [`ApiEvent`]s on an [`EventHub`]; every
//! connected client receives each one as an SSE message
//! `event: <kind>\ndata: <json>\n\n`. Each event is serialised once and the
//! JSON text is shared by every client.
//!
//! The hub wraps a `tokio::sync::broadcast` channel, so publishing never blocks
//! or awaits: a client that falls more than the hub's capacity behind loses
//! events, and is then sent a last `event: dropped` message and disconnected.
//!
//! ```text
//! $ curl -N 'http://host:port/v1/events?event_type=task_launched'
//! event: attached
//! data: {"type":"attached","at":1712345678.123}
//!
//! event: task_launched
//! data: {"type":"task_launched","at":1712345679.456,"task":"web.1"}
//! ```

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast::{self, error::RecvError};

/// How often an idle stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The query parameter that selects event types, as in Marathon.
const TYPE_PARAMETER: &str = "event_type";

/// One event: a JSON object with a `type` field, already serialised once and
/// shared by every client.
#[derive(Debug, Clone)]
pub struct ApiEvent {
    /// The event's type, sent as the SSE `event:` name and as the `type` field.
    pub kind: &'static str,
    /// The event as compact JSON text, sent as the SSE `data:` line.
    pub json: Arc<str>,
}

impl ApiEvent {
    /// Serialises `fields` (a `serde_json::Value` object or any `Serialize`
    /// struct) with `"type": kind` as the first key and `"at"`, the current Unix
    /// time in seconds with millisecond precision, as the second. Keys of
    /// `fields` named `type` or `at` are left out. A value that is not an
    /// object is put under a `value` key, and one that cannot be serialised is
    /// replaced by an `error` key describing why; this never panics.
    pub fn new(kind: &'static str, fields: impl Serialize) -> ApiEvent {
        let mut json = String::with_capacity(64);
        json.push_str("{\"type\":");
        push_json(&mut json, &kind);
        json.push_str(",\"at\":");
        push_json(&mut json, &unix_seconds());
        match serde_json::to_value(fields) {
            Ok(Value::Object(map)) => {
                for (key, value) in &map {
                    if key != "type" && key != "at" {
                        json.push(',');
                        push_json(&mut json, key);
                        json.push(':');
                        push_json(&mut json, value);
                    }
                }
            }
            Ok(other) => {
                json.push_str(",\"value\":");
                push_json(&mut json, &other);
            }
            Err(error) => {
                json.push_str(",\"error\":");
                push_json(&mut json, &error.to_string());
            }
        }
        json.push('}');
        ApiEvent {
            kind,
            json: Arc::from(json),
        }
    }

    /// The SSE message for this event.
    fn to_sse(&self) -> Event {
        Event::default()
            .event(sse_name(self.kind))
            .data(&*self.json)
    }
}

/// Appends `value` as compact JSON; a value serde_json refuses becomes `null`.
fn push_json(out: &mut String, value: &impl Serialize) {
    match serde_json::to_string(value) {
        Ok(text) => out.push_str(&text),
        Err(_) => out.push_str("null"),
    }
}

/// The current Unix time in seconds, rounded down to the millisecond.
fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0)
}

/// `kind` as an SSE event name: line breaks, which SSE does not allow there,
/// become spaces.
fn sse_name(kind: &str) -> String {
    kind.replace(['\n', '\r'], " ")
}

/// The publisher side of `/v1/events`. It is cheap to clone, and every clone
/// publishes to the same clients.
#[derive(Debug, Clone)]
pub struct EventHub {
    sender: broadcast::Sender<ApiEvent>,
    dropped: Arc<AtomicU64>,
    /// Set when the scheduler stops: every stream ends (so the server's
    /// graceful shutdown does not wait for them).
    closed: Arc<tokio::sync::watch::Sender<bool>>,
}

impl EventHub {
    /// A hub whose clients may fall `capacity` events behind before they are
    /// dropped. A capacity of zero is taken as one.
    pub fn new(capacity: usize) -> EventHub {
        let (sender, _) = broadcast::channel(capacity.max(1));
        EventHub {
            sender,
            dropped: Arc::new(AtomicU64::new(0)),
            closed: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Publishes `event` to every client without blocking, and returns how
    /// many clients got it queued (zero when none is connected).
    pub fn publish(&self, event: ApiEvent) -> usize {
        self.sender.send(event).unwrap_or(0)
    }

    /// Ends every client's stream, now and for clients that come later.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// How many clients are connected.
    pub fn clients(&self) -> usize {
        self.sender.receiver_count()
    }

    /// How many clients have been dropped for being too slow since the hub
    /// was made.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The response for one client: a `text/event-stream` that starts with an
    /// `attached` event, then carries every published event whose kind is in
    /// `types` (all of them when `types` is empty), with a keep-alive comment
    /// every 15 seconds. A client that falls too far behind is sent a last
    /// `dropped` event with the number of events it missed, and the stream
    /// ends. The client is subscribed before this returns, so it sees every
    /// event published afterwards.
    pub fn stream(&self, types: Vec<String>) -> Response {
        let client = Client {
            receiver: Some(self.sender.subscribe()),
            types,
            attached: Some(ApiEvent::new("attached", serde_json::json!({}))),
            dropped: self.dropped.clone(),
            closed: self.closed.subscribe(),
        };
        let events = futures::stream::unfold(client, |mut client| async move {
            let event = client.next().await?;
            Some((Ok::<Event, Infallible>(event), client))
        });
        Sse::new(events)
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
            .into_response()
    }

    /// [`EventHub::stream`] with the types given by a raw query string such as
    /// `event_type=a&event_type=b`, as read by [`types_from_query`].
    pub fn stream_query(&self, query: Option<&str>) -> Response {
        self.stream(types_from_query(query))
    }
}

/// One connected client's side of the stream.
struct Client {
    /// The subscription; `None` once the client has been dropped.
    receiver: Option<broadcast::Receiver<ApiEvent>>,
    /// The kinds the client asked for; empty for all.
    types: Vec<String>,
    /// The greeting, until it has been sent.
    attached: Option<ApiEvent>,
    /// The hub's count of dropped clients.
    dropped: Arc<AtomicU64>,
    /// True once the hub is closed.
    closed: tokio::sync::watch::Receiver<bool>,
}

impl Client {
    /// The next message for this client, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Event> {
        if let Some(attached) = self.attached.take() {
            return Some(attached.to_sse());
        }
        loop {
            if *self.closed.borrow() {
                return None;
            }
            let receiver = self.receiver.as_mut()?;
            let received = tokio::select! {
                received = receiver.recv() => received,
                _ = self.closed.changed() => return None,
            };
            match received {
                Ok(event) => {
                    if self.wants(event.kind) {
                        return Some(event.to_sse());
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    // Unsubscribe now so the hub stops keeping events for us.
                    self.receiver = None;
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(missed, "dropping a slow /v1/events client");
                    let last = ApiEvent::new("dropped", serde_json::json!({ "missed": missed }));
                    return Some(last.to_sse());
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Whether the client asked for events of this kind.
    fn wants(&self, kind: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|wanted| wanted == kind)
    }
}

/// The event types asked for by a raw query string: the values of every
/// `event_type` parameter (Marathon's name), percent-decoded, in order.
/// Empty values are skipped, and no query at all gives an empty list, which
/// means every type.
pub fn types_from_query(query: Option<&str>) -> Vec<String> {
    let Some(query) = query else {
        return Vec::new();
    };
    query
        .split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key) == TYPE_PARAMETER).then(|| percent_decode(value))
        })
        .filter(|value| !value.is_empty())
        .collect()
}

/// Decodes `+` as a space and `%XX` escapes as bytes; a malformed escape is
/// kept as it is and invalid UTF-8 is replaced.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => out.push(b' '),
            b'%' => {
                let escape = bytes
                    .get(at + 1..at + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match escape {
                    Some(byte) => {
                        out.push(byte);
                        at += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::pin::Pin;
    use std::time::Instant;

    use axum::extract::RawQuery;
    use axum::routing::get;
    use axum::serve::ListenerExt;
    use axum::Router;
    use bytes::{Bytes, BytesMut};
    use futures::{Stream, StreamExt};
    use serde_json::json;
    use tokio::sync::watch;
    use tokio::time::timeout;

    use super::*;

    /// How long any single awaited condition may take.
    const DEADLINE: Duration = Duration::from_secs(60);

    /// Serves `/v1/events` from `hub` on a fresh local port.
    async fn serve(hub: EventHub) -> SocketAddr {
        let app = Router::new().route(
            "/v1/events",
            get(move |RawQuery(query): RawQuery| {
                let hub = hub.clone();
                async move { hub.stream_query(query.as_deref()) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs hold back
        // the small writes of an event stream by tens of milliseconds.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::warn!(%error, "TCP_NODELAY");
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        addr
    }

    /// Polls `condition` every 10 ms until it holds, failing after the deadline.
    async fn wait_until(what: &str, condition: impl Fn() -> bool) {
        let start = Instant::now();
        while !condition() {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out after {DEADLINE:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// One SSE message as a client sees it.
    #[derive(Debug)]
    struct Message {
        event: String,
        data: String,
    }

    impl Message {
        fn json(&self) -> Value {
            serde_json::from_str(&self.data).expect("data is JSON")
        }

        /// The `seq` field of a bulk event, read without parsing its 4 KiB
        /// of padding (`seq` sorts after `pad`, so it is the last key).
        fn seq(&self) -> usize {
            let tail = self.data.rsplit_once("\"seq\":").map(|(_, tail)| tail);
            tail.and_then(|tail| tail.strip_suffix('}'))
                .and_then(|seq| seq.parse().ok())
                .unwrap_or_else(|| panic!("no seq in {}", self.data))
        }
    }

    type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

    /// Reads SSE messages off a response body, skipping comments.
    struct Reader {
        body: Body,
        buffer: BytesMut,
        scanned: usize,
    }

    impl Reader {
        /// Connects to `/v1/events` with `query` and checks the response head.
        async fn connect(addr: SocketAddr, query: &str) -> Reader {
            let response = reqwest::Client::new()
                .get(format!("http://{addr}/v1/events{query}"))
                .send()
                .await
                .expect("GET /v1/events");
            assert_eq!(response.status(), 200);
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert!(
                content_type.starts_with("text/event-stream"),
                "content type {content_type:?}"
            );
            Reader {
                body: Box::pin(response.bytes_stream()),
                buffer: BytesMut::new(),
                scanned: 0,
            }
        }

        /// The next message, or `None` when the server ended the stream.
        async fn next(&mut self) -> Option<Message> {
            loop {
                if let Some(block) = self.take_block() {
                    let mut message = Message {
                        event: String::new(),
                        data: String::new(),
                    };
                    let text = std::str::from_utf8(&block).expect("UTF-8 stream");
                    for line in text.lines() {
                        if let Some(event) = line.strip_prefix("event: ") {
                            message.event = event.to_owned();
                        } else if let Some(data) = line.strip_prefix("data: ") {
                            message.data.push_str(data);
                        }
                    }
                    if !message.event.is_empty() || !message.data.is_empty() {
                        return Some(message);
                    }
                    continue;
                }
                match self.body.next().await {
                    Some(chunk) => self.buffer.extend_from_slice(&chunk.expect("body chunk")),
                    None => {
                        assert!(self.buffer.is_empty(), "stream ended mid-message");
                        return None;
                    }
                }
            }
        }

        /// Splits off the first complete `...\n\n` block, if there is one.
        fn take_block(&mut self) -> Option<BytesMut> {
            let from = self.scanned.saturating_sub(1);
            match self.buffer[from..].windows(2).position(|w| w == b"\n\n") {
                Some(at) => {
                    self.scanned = 0;
                    Some(self.buffer.split_to(from + at + 2))
                }
                None => {
                    self.scanned = self.buffer.len();
                    None
                }
            }
        }

        /// The next message, failing with `what` after the deadline or at the
        /// end of the stream.
        async fn expect(&mut self, what: &str) -> Message {
            timeout(DEADLINE, self.next())
                .await
                .unwrap_or_else(|_| panic!("timed out after {DEADLINE:?} waiting for {what}"))
                .unwrap_or_else(|| panic!("stream ended while waiting for {what}"))
        }

        /// Reads the `attached` greeting.
        async fn attached(&mut self) {
            let message = self.expect("the attached event").await;
            assert_eq!(message.event, "attached");
            let json = message.json();
            assert_eq!(json["type"], "attached");
            assert!(json["at"].as_f64().is_some(), "no time in {json}");
        }
    }

    #[test]
    fn new_puts_type_and_time_first() {
        let event = ApiEvent::new(
            "task_launched",
            json!({"task": "web.1", "type": "x", "n": 2}),
        );
        assert_eq!(event.kind, "task_launched");
        assert!(
            event
                .json
                .starts_with("{\"type\":\"task_launched\",\"at\":"),
            "{}",
            event.json
        );
        let json: Value = serde_json::from_str(&event.json).expect("JSON");
        assert_eq!(json["task"], "web.1");
        assert_eq!(json["n"], 2);
        let at = json["at"].as_f64().expect("a number");
        assert!(at > 1.6e9, "at {at}");
        assert_eq!((at * 1000.0).round() / 1000.0, at);
        assert_eq!(event.json.matches("\"type\"").count(), 1);
    }

    #[test]
    fn new_serialises_structs_and_wraps_other_values() {
        #[derive(Serialize)]
        struct Launched {
            task: &'static str,
        }
        let event = ApiEvent::new("launched", Launched { task: "a" });
        let json: Value = serde_json::from_str(&event.json).expect("JSON");
        assert_eq!(json["task"], "a");

        let event = ApiEvent::new("count", 7);
        let json: Value = serde_json::from_str(&event.json).expect("JSON");
        assert_eq!(json["type"], "count");
        assert_eq!(json["value"], 7);

        let mut bad = std::collections::HashMap::new();
        bad.insert((1, 2), 3);
        let event = ApiEvent::new("bad", bad);
        let json: Value = serde_json::from_str(&event.json).expect("JSON");
        assert_eq!(json["type"], "bad");
        assert!(json["error"].is_string(), "{json}");
    }

    #[test]
    fn types_come_from_event_type_parameters() {
        assert!(types_from_query(None).is_empty());
        assert!(types_from_query(Some("")).is_empty());
        assert_eq!(
            types_from_query(Some(
                "event_type=a&x=1&event_type=b%5Fc&event_type=&event%5Ftype=d+e"
            )),
            vec!["a", "b_c", "d e"]
        );
        assert_eq!(types_from_query(Some("event_type=%zz%4")), vec!["%zz%4"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_arrive_in_publish_order() {
        let hub = EventHub::new(64);
        assert_eq!(hub.publish(ApiEvent::new("unseen", json!({}))), 0);
        let addr = serve(hub.clone()).await;
        let mut client = Reader::connect(addr, "").await;
        assert_eq!(hub.clients(), 1);
        client.attached().await;

        let kinds = ["task_launched", "task_running", "task_killed"];
        for (n, kind) in kinds.iter().enumerate() {
            let queued = hub.publish(ApiEvent::new(kind, json!({"task": "web.1", "n": n})));
            assert_eq!(queued, 1);
        }
        for (n, kind) in kinds.iter().enumerate() {
            let message = client.expect(&format!("event {n}")).await;
            assert_eq!(message.event, *kind);
            assert!(message
                .data
                .starts_with(&format!("{{\"type\":\"{kind}\",\"at\":")));
            let json = message.json();
            assert_eq!(json["type"], *kind);
            assert_eq!(json["task"], "web.1");
            assert_eq!(json["n"], n);
        }

        drop(client);
        wait_until("the client to disconnect", || hub.clients() == 0).await;
        assert_eq!(hub.dropped(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_client_is_dropped_without_blocking_publish() {
        const EVENTS: usize = 10_000;
        const SLACK: usize = 8;
        let hub = EventHub::new(16);
        let addr = serve(hub.clone()).await;
        let mut slow = Reader::connect(addr, "").await;
        let mut fast = Reader::connect(addr, "").await;
        wait_until("two clients", || hub.clients() == 2).await;

        // The fast client reads everything and reports how far it has got.
        let (progress, mut received) = watch::channel(0usize);
        let fast = tokio::spawn(async move {
            fast.attached().await;
            for seq in 0..EVENTS {
                let message = fast.expect(&format!("bulk event {seq}")).await;
                assert_eq!(message.event, "bulk");
                assert_eq!(message.seq(), seq, "fast client out of order");
                progress.send_replace(seq + 1);
            }
        });

        // Publish 4 KiB events, pacing on the fast client only so it stays
        // within the hub's capacity while the slow one falls behind.
        let pad = "x".repeat(4096);
        let mut publishing = Duration::ZERO;
        let mut slowest = Duration::ZERO;
        for seq in 0..EVENTS {
            let event = ApiEvent::new("bulk", json!({"seq": seq, "pad": pad}));
            timeout(DEADLINE, received.wait_for(|&got| got + SLACK >= seq))
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for the fast client to read {seq}"))
                .expect("fast client alive");
            let start = Instant::now();
            let queued = hub.publish(event);
            let took = start.elapsed();
            publishing += took;
            slowest = slowest.max(took);
            assert!(queued >= 1, "event {seq} queued for nobody");
        }
        // A publish that waited for the slow client would never return, as
        // that client reads nothing until publishing is over.
        assert!(
            slowest < Duration::from_secs(1) && publishing < Duration::from_secs(10),
            "publishing {EVENTS} events took {publishing:?}, the slowest {slowest:?}"
        );
        timeout(DEADLINE, fast)
            .await
            .expect("timed out waiting for the fast client to read every event")
            .expect("fast client");

        // The slow client now reads what was buffered for it: a prefix of the
        // events in order, then the `dropped` message, then the end.
        slow.attached().await;
        let mut seq = 0usize;
        let missed = loop {
            let message = slow.expect("the slow client's events").await;
            match message.event.as_str() {
                "bulk" => {
                    assert_eq!(message.seq(), seq, "slow client out of order");
                    seq += 1;
                }
                "dropped" => {
                    let json = message.json();
                    assert_eq!(json["type"], "dropped");
                    break json["missed"].as_u64().expect("missed count");
                }
                other => panic!("unexpected event {other}"),
            }
        };
        assert!(missed > 0);
        assert!(seq < EVENTS, "the slow client got every event");
        let end = timeout(DEADLINE, slow.next())
            .await
            .expect("timed out waiting for the slow client's stream to end");
        assert!(end.is_none(), "message after dropped: {end:?}");
        wait_until("one dropped client", || hub.dropped() == 1).await;
        wait_until("both clients gone", || hub.clients() == 0).await;
        assert_eq!(hub.dropped(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn type_filter_selects_events() {
        let hub = EventHub::new(64);
        let addr = serve(hub.clone()).await;
        let mut filtered = Reader::connect(addr, "?event_type=b&event_type=c").await;
        let mut all = Reader::connect(addr, "").await;
        wait_until("two clients", || hub.clients() == 2).await;
        filtered.attached().await;
        all.attached().await;

        let kinds = ["a", "b", "c", "a", "d", "c"];
        for (n, kind) in kinds.iter().enumerate() {
            assert_eq!(hub.publish(ApiEvent::new(kind, json!({"n": n}))), 2);
        }
        for (n, kind) in kinds.iter().enumerate() {
            let message = all.expect(&format!("unfiltered event {n}")).await;
            assert_eq!(
                (message.event.as_str(), message.json()["n"].clone()),
                (*kind, json!(n))
            );
        }
        for (n, kind) in [(1, "b"), (2, "c"), (5, "c")] {
            let message = filtered.expect(&format!("filtered event {n}")).await;
            assert_eq!(
                (message.event.as_str(), message.json()["n"].clone()),
                (kind, json!(n))
            );
        }
        assert_eq!(hub.dropped(), 0);
    }
}
