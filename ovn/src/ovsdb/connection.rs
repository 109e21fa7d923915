//! One JSON-RPC connection to one ovsdb-server. A request is written to the
//! socket by the caller's own task (the write half sits behind an async lock;
//! a write cut short by a cancelled caller closes the connection, as the
//! stream would be corrupt). A reader task decodes the byte stream, routes
//! responses to the waiting request by id, answers the server's `echo`
//! requests and hands notifications (`update2`, `update3`, `update`) in order
//! to their consumer: first a queue, then, once the session is installed, a
//! handler run in the reader task itself (see
//! [`Connection::handle_notifications`]), so an update is applied before the
//! response that follows it is delivered and no other task has to be woken.
//! A writer task sends what the reader originates (echo replies, probes). The reader
//! also probes the peer: after `probe_interval` of silence it sends an `echo`,
//! and after another interval without any byte it declares the peer dead (a
//! frozen server is detected, like `ovsdb-client --inactivity-probe`). When the
//! connection dies every pending request fails: [`Error::ReplyLost`] if it had
//! been written, [`Error::NotConnected`] if not.

mod write;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};
use tracing::{debug, trace};

use super::error::Error;
use super::jsonrpc::{FrameDecoder, Message};
use super::pending::PendingRequests;
use super::remote::Remote;
use write::{request_bytes, write_loop};

/// A byte stream to a server: Unix or TCP today, TLS later.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A notification from the server (`update2`, `update3`, `update`, `locked` ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub method: String,
    pub params: Value,
}

struct Outgoing {
    id: Option<u64>,
    bytes: Vec<u8>,
}

/// Consumes notifications in the reader task; an `Err` closes the connection
/// with that reason.
pub type NotificationHandler = Box<dyn FnMut(Notification) -> Result<(), String> + Send>;

/// Where notifications go.
enum Sink {
    Queue(mpsc::UnboundedSender<Notification>),
    Handler(NotificationHandler),
}

type Writer = tokio::io::WriteHalf<Box<dyn Stream>>;

struct Shared {
    remote: Remote,
    next_id: AtomicU64,
    pending: PendingRequests,
    writer: tokio::sync::Mutex<Writer>,
    out: mpsc::UnboundedSender<Outgoing>,
    sink: std::sync::Mutex<Sink>,
    closed: watch::Sender<bool>,
}

impl Shared {
    /// Marks the connection dead and fails every pending request.
    fn close(&self, reason: &str) {
        if let Some(failed) = self.pending.close(reason) {
            debug!(remote = %self.remote, reason, failed_requests = failed, "OVSDB connection closed");
            self.closed.send_replace(true);
        }
    }

    fn send(&self, id: Option<u64>, msg: &Message) -> bool {
        self.out
            .send(Outgoing {
                id,
                bytes: msg.to_bytes(),
            })
            .is_ok()
    }

    /// Hands one notification to the current sink.
    fn notify(&self, n: Notification) -> Result<(), String> {
        match &mut *self.sink.lock().expect("sink lock") {
            // A session that stopped listening is about to drop the connection.
            Sink::Queue(q) => {
                let _ = q.send(n);
                Ok(())
            }
            Sink::Handler(h) => h(n),
        }
    }
}

/// A live connection; dropping it closes the socket.
pub struct Connection {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("remote", &self.shared.remote)
            .field("closed", &self.close_reason())
            .finish()
    }
}

impl Connection {
    /// Connects to `remote` and starts the reader and writer tasks. Notifications
    /// go to `notifications`; `probe_interval` zero disables the echo probe.
    pub async fn open(
        remote: &Remote,
        probe_interval: Duration,
        notifications: mpsc::UnboundedSender<Notification>,
    ) -> Result<Connection, Error> {
        let connect_err = |source| Error::Connect {
            remote: remote.to_string(),
            source,
        };
        let stream: Box<dyn Stream> = match remote {
            Remote::Unix(path) => Box::new(
                tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(connect_err)?,
            ),
            Remote::Tcp { host, port } => {
                let s = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(connect_err)?;
                s.set_nodelay(true).map_err(connect_err)?;
                Box::new(s)
            }
        };
        let (read_half, write_half) = tokio::io::split(stream);
        let (out, out_rx) = mpsc::unbounded_channel();
        let (closed, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            remote: remote.clone(),
            next_id: AtomicU64::new(1),
            pending: PendingRequests::default(),
            writer: tokio::sync::Mutex::new(write_half),
            out,
            sink: std::sync::Mutex::new(Sink::Queue(notifications)),
            closed,
        });
        tokio::spawn(write_loop(shared.clone(), out_rx));
        tokio::spawn(read_loop(shared.clone(), read_half, probe_interval));
        debug!(%remote, "OVSDB connection open");
        Ok(Connection { shared })
    }

    /// The remote this connection goes to.
    pub fn remote(&self) -> &Remote {
        &self.shared.remote
    }

    /// Sends a request and waits for its response's `result`.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, Error> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let reply = self.shared.pending.register(id, method)?;
        trace!(remote = %self.shared.remote, method, id, "request");
        let bytes = request_bytes(id, method, &params);
        drop(params);
        if !self.shared.write(Some(id), &bytes).await {
            self.shared.pending.forget(id);
            return Err(Error::NotConnected);
        }
        match reply.await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::ReplyLost {
                method: method.to_owned(),
            }),
        }
    }

    /// From now on hands every notification to `handler`, run in the reader
    /// task in arrival order, after first passing it those still queued in
    /// `backlog` (the receiver of the queue given to [`Connection::open`]). If
    /// the handler fails, the connection is closed with its reason.
    pub fn handle_notifications(
        &self,
        backlog: &mut mpsc::UnboundedReceiver<Notification>,
        mut handler: NotificationHandler,
    ) {
        let mut sink = self.shared.sink.lock().expect("sink lock");
        while let Ok(n) = backlog.try_recv() {
            if let Err(reason) = handler(n) {
                drop(sink);
                self.shared.close(&reason);
                return;
            }
        }
        *sink = Sink::Handler(handler);
    }

    /// Closes the connection; pending requests fail.
    pub fn close(&self, reason: &str) {
        self.shared.close(reason);
    }

    /// Why the connection is closed, or `None` while it is alive.
    pub fn close_reason(&self) -> Option<String> {
        self.shared.pending.close_reason()
    }

    /// Resolves once the connection is dead, with the reason.
    pub async fn closed(&self) -> String {
        // The sender lives as long as `self`, so this only returns on close.
        wait_closed(&mut self.shared.closed.subscribe()).await;
        self.close_reason().unwrap_or_default()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.close("connection dropped by the client");
    }
}

async fn wait_closed(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|closed| *closed).await;
}

async fn read_loop(
    shared: Arc<Shared>,
    mut r: tokio::io::ReadHalf<Box<dyn Stream>>,
    probe_interval: Duration,
) {
    let mut closed = shared.closed.subscribe();
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    let probing = !probe_interval.is_zero();
    // When the probe fires next, and whether an echo is already unanswered.
    let mut probe_at = Instant::now() + probe_interval;
    let mut echo_outstanding = false;
    let reason = loop {
        tokio::select! {
            biased;
            _ = wait_closed(&mut closed) => return,
            n = r.read(&mut buf) => {
                let n = match n {
                    Ok(0) => break "connection closed by the server".to_owned(),
                    Ok(n) => n,
                    Err(e) => break format!("read failed: {e}"),
                };
                probe_at = Instant::now() + probe_interval;
                echo_outstanding = false;
                decoder.extend(&buf[..n]);
                match decoder.decode() {
                    Ok(values) => {
                        for v in values {
                            if let Err(reason) = dispatch(&shared, v) {
                                shared.close(&reason);
                                return;
                            }
                        }
                    }
                    Err(e) => break e.to_string(),
                }
            }
            _ = sleep_until(probe_at), if probing => {
                if echo_outstanding {
                    break format!("no reply to the echo probe within {probe_interval:?}: the server is unresponsive");
                }
                trace!(remote = %shared.remote, "inactivity: sending echo probe");
                shared.send(None, &Message::Request { id: json!("probe"), method: "echo".into(), params: json!([]) });
                echo_outstanding = true;
                probe_at = Instant::now() + probe_interval;
            }
        }
    };
    shared.close(&reason);
}

/// Routes one message from the server.
fn dispatch(shared: &Shared, v: Value) -> Result<(), String> {
    match Message::from_json(v).map_err(|e| e.to_string())? {
        Message::Response { id, result, error } => {
            let Some(id) = id.as_u64() else {
                // Our own echo probe ("probe") or something we never asked.
                return Ok(());
            };
            shared.pending.complete(id, result, error);
        }
        Message::Request { id, method, params } => {
            let reply = if method == "echo" {
                Message::Response {
                    id,
                    result: params,
                    error: Value::Null,
                }
            } else {
                Message::Response {
                    id,
                    result: Value::Null,
                    error: json!({"error": "unknown method", "details": method}),
                }
            };
            shared.send(None, &reply);
        }
        Message::Notification { method, params } => {
            shared.notify(Notification { method, params })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::UnixListener;
    use tokio::sync::oneshot;

    /// A fake server on a socket in a temp dir; returns the remote and listener.
    fn listener() -> (tempfile::TempDir, Remote, UnixListener) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sock");
        let l = UnixListener::bind(&path).unwrap();
        (dir, Remote::Unix(path), l)
    }

    /// Reads from `s` until `n` JSON values have arrived.
    async fn read_values(s: &mut tokio::net::UnixStream, n: usize) -> Vec<Value> {
        let (mut d, mut got, mut buf) = (FrameDecoder::new(), Vec::new(), [0u8; 4096]);
        while got.len() < n {
            let k = s.read(&mut buf).await.unwrap();
            assert!(k > 0, "the client hung up");
            d.extend(&buf[..k]);
            got.extend(d.decode().unwrap());
        }
        got
    }

    #[tokio::test]
    async fn a_response_reaches_its_request_and_server_echoes_are_answered() {
        let (_dir, remote, l) = listener();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            // An echo request split over two writes, then a notification.
            s.write_all(br#"{"id":"e1","method":"echo","#)
                .await
                .unwrap();
            let rest = br#""params":[42]}{"id":null,"method":"update2","params":["m",{}]}"#;
            s.write_all(rest).await.unwrap();
            let got = read_values(&mut s, 2).await;
            let echo = got.iter().find(|v| v["id"] == "e1").expect("echo answered");
            assert_eq!(echo["result"], json!([42]));
            let req = got
                .iter()
                .find(|v| v["method"] == "list_dbs")
                .expect("request");
            let reply = json!({"id": req["id"], "result": ["OVN_Northbound"], "error": null});
            s.write_all(reply.to_string().as_bytes()).await.unwrap();
            let _ = s.read(&mut [0u8; 16]).await;
        });
        let (ntx, mut nrx) = mpsc::unbounded_channel();
        let conn = Connection::open(&remote, Duration::ZERO, ntx)
            .await
            .unwrap();
        let dbs = conn.request("list_dbs", json!([])).await.unwrap();
        assert_eq!(dbs, json!(["OVN_Northbound"]));
        assert_eq!(nrx.recv().await.unwrap().method, "update2");
        drop(conn);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_handler_gets_queued_then_live_notifications_in_order_before_later_replies() {
        let (_dir, remote, l) = listener();
        let (queued_tx, queued_rx) = oneshot::channel();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(br#"{"id":null,"method":"update2","params":["m",1]}"#)
                .await
                .unwrap();
            let _ = queued_rx.await;
            let req = read_values(&mut s, 1).await.remove(0);
            let rest = format!(
                r#"{{"id":null,"method":"update2","params":["m",2]}}{{"id":{},"result":[],"error":null}}{{"id":null,"method":"bad","params":[]}}"#,
                req["id"]
            );
            s.write_all(rest.as_bytes()).await.unwrap();
            let _ = s.read(&mut [0u8; 16]).await;
        });
        let (ntx, mut nrx) = mpsc::unbounded_channel();
        let conn = Connection::open(&remote, Duration::ZERO, ntx)
            .await
            .unwrap();
        // Wait until the first notification is queued.
        let first = nrx.recv().await.unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (requeue, mut backlog) = mpsc::unbounded_channel();
        requeue.send(first).unwrap();
        let log = seen.clone();
        conn.handle_notifications(
            &mut backlog,
            Box::new(move |n| {
                if n.method == "bad" {
                    return Err("a bad notification".to_owned());
                }
                log.lock().unwrap().push(n.params[1].clone());
                Ok(())
            }),
        );
        let _ = queued_tx.send(());
        conn.request("transact", json!(["db"])).await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [json!(1), json!(2)],
            "the update before the reply was handled before the reply arrived"
        );
        let reason = tokio::time::timeout(Duration::from_secs(5), conn.closed())
            .await
            .expect("a failing handler closes the connection");
        assert_eq!(reason, "a bad notification");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_request_in_flight_when_the_server_hangs_up_is_reply_lost() {
        let (_dir, remote, l) = listener();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            // Hang up without answering.
        });
        let (ntx, _nrx) = mpsc::unbounded_channel();
        let conn = Connection::open(&remote, Duration::ZERO, ntx)
            .await
            .unwrap();
        let e = conn.request("transact", json!(["db"])).await.unwrap_err();
        assert!(
            matches!(e, Error::ReplyLost { ref method } if method == "transact"),
            "{e:?}"
        );
        assert!(conn.close_reason().is_some());
        assert!(matches!(
            conn.request("echo", json!([])).await,
            Err(Error::NotConnected)
        ));
    }

    #[tokio::test]
    async fn a_silent_server_is_declared_dead_after_two_probe_intervals() {
        let (_dir, remote, l) = listener();
        let (held_tx, held_rx) = oneshot::channel();
        tokio::spawn(async move {
            // Accept and keep the socket open, never answering.
            let (s, _) = l.accept().await.unwrap();
            let _ = held_rx.await;
            drop(s);
        });
        let (ntx, _nrx) = mpsc::unbounded_channel();
        let started = Instant::now();
        let conn = Connection::open(&remote, Duration::from_millis(50), ntx)
            .await
            .unwrap();
        let reason = tokio::time::timeout(Duration::from_secs(5), conn.closed())
            .await
            .expect("the probe should close the connection");
        assert!(reason.contains("echo probe"), "{reason}");
        assert!(started.elapsed() >= Duration::from_millis(100));
        let _ = held_tx.send(());
    }

    #[tokio::test]
    async fn connecting_to_a_missing_socket_is_a_connect_error() {
        let dir = tempfile::tempdir().unwrap();
        let (ntx, _nrx) = mpsc::unbounded_channel();
        let remote = Remote::Unix(dir.path().join("absent.sock"));
        assert!(matches!(
            Connection::open(&remote, Duration::ZERO, ntx).await,
            Err(Error::Connect { .. })
        ));
    }
}
