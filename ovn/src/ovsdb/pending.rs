//! The requests of one connection that wait for their responses, by id. A
//! response completes its request (an `error` object becomes [`Error::Rpc`]);
//! when the connection dies every waiting request fails: with
//! [`Error::ReplyLost`] if it had been written to the socket (the server may
//! have acted on it), with [`Error::NotConnected`] if not. After that no new
//! request is accepted.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::oneshot;

use super::error::Error;

/// Where a request's outcome goes.
pub type Reply = oneshot::Receiver<Result<Value, Error>>;

struct Request {
    method: String,
    sent: bool,
    reply: oneshot::Sender<Result<Value, Error>>,
}

#[derive(Default)]
struct Table {
    /// Set once the connection is dead: the reason.
    closed: Option<String>,
    requests: HashMap<u64, Request>,
}

/// The waiting requests of one connection.
#[derive(Default)]
pub struct PendingRequests {
    table: Mutex<Table>,
}

impl PendingRequests {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().expect("pending requests lock")
    }

    /// Registers request `id`; [`Error::NotConnected`] once closed.
    pub fn register(&self, id: u64, method: &str) -> Result<Reply, Error> {
        let (tx, rx) = oneshot::channel();
        let mut table = self.lock();
        if table.closed.is_some() {
            return Err(Error::NotConnected);
        }
        table.requests.insert(
            id,
            Request {
                method: method.to_owned(),
                sent: false,
                reply: tx,
            },
        );
        Ok(rx)
    }

    /// Notes that request `id` was written to the socket.
    pub fn mark_sent(&self, id: u64) {
        if let Some(r) = self.lock().requests.get_mut(&id) {
            r.sent = true;
        }
    }

    /// Drops request `id` (it could not be queued).
    pub fn forget(&self, id: u64) {
        self.lock().requests.remove(&id);
    }

    /// Delivers the response to request `id`; unknown ids are ignored.
    pub fn complete(&self, id: u64, result: Value, error: Value) {
        let Some(r) = self.lock().requests.remove(&id) else {
            return;
        };
        let outcome = if error.is_null() {
            Ok(result)
        } else {
            Err(Error::Rpc {
                method: r.method,
                error,
            })
        };
        let _ = r.reply.send(outcome);
    }

    /// Fails every waiting request and refuses new ones; returns how many
    /// failed, or `None` if it was already closed.
    pub fn close(&self, reason: &str) -> Option<usize> {
        let drained = {
            let mut table = self.lock();
            if table.closed.is_some() {
                return None;
            }
            table.closed = Some(reason.to_owned());
            std::mem::take(&mut table.requests)
        };
        let n = drained.len();
        for (_, r) in drained {
            let err = if r.sent {
                Error::ReplyLost { method: r.method }
            } else {
                Error::NotConnected
            };
            let _ = r.reply.send(Err(err));
        }
        Some(n)
    }

    /// Why the connection closed, or `None` while it is alive.
    pub fn close_reason(&self) -> Option<String> {
        self.lock().closed.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome(mut rx: Reply) -> Result<Value, Error> {
        rx.try_recv().expect("the request was answered")
    }

    #[test]
    fn a_response_completes_its_request_and_an_error_object_is_an_rpc_error() {
        let p = PendingRequests::default();
        let ok = p.register(1, "list_dbs").unwrap();
        let bad = p.register(2, "get_schema").unwrap();
        p.complete(2, Value::Null, json!({"error": "unknown database"}));
        p.complete(1, json!(["OVN_Northbound"]), Value::Null);
        p.complete(99, json!("nobody asked"), Value::Null);
        assert_eq!(outcome(ok).unwrap(), json!(["OVN_Northbound"]));
        assert!(matches!(outcome(bad), Err(Error::Rpc { method, .. }) if method == "get_schema"));
    }

    #[test]
    fn closing_fails_sent_requests_as_reply_lost_and_unsent_as_not_connected() {
        let p = PendingRequests::default();
        let sent = p.register(1, "transact").unwrap();
        let unsent = p.register(2, "transact").unwrap();
        p.mark_sent(1);
        assert_eq!(p.close("read failed"), Some(2));
        assert!(matches!(outcome(sent), Err(Error::ReplyLost { method }) if method == "transact"));
        assert!(matches!(outcome(unsent), Err(Error::NotConnected)));
        assert_eq!(p.close_reason().as_deref(), Some("read failed"));
    }

    #[test]
    fn a_closed_table_refuses_new_requests_and_closes_once() {
        let p = PendingRequests::default();
        assert_eq!(p.close("gone"), Some(0));
        assert_eq!(p.close("again"), None);
        assert!(matches!(p.register(3, "echo"), Err(Error::NotConnected)));
        assert_eq!(p.close_reason().as_deref(), Some("gone"));
    }

    #[test]
    fn a_forgotten_request_is_not_failed_on_close() {
        let p = PendingRequests::default();
        let rx = p.register(1, "echo").unwrap();
        p.forget(1);
        assert_eq!(p.close("bye"), Some(0));
        assert!(
            rx.blocking_recv().is_err(),
            "the sender was dropped, not used"
        );
    }
}
