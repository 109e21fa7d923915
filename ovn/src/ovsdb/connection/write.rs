//! Writing to the socket of a [`Connection`](super::Connection): requests are
//! serialized straight to bytes and written by the task that makes them, under
//! an async lock on the write half (no hand-off to another task); what the
//! reader originates (echo replies, probes) goes through a small writer task.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use serde_json::Value;

use super::{wait_closed, Outgoing, Shared};

/// Closes the connection if a write is dropped before it completed.
struct WriteInProgress<'a> {
    shared: &'a Shared,
    done: bool,
}

impl Drop for WriteInProgress<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.shared
                .close("a request was cancelled while it was being written");
        }
    }
}

impl Shared {
    /// Writes `bytes` (request `id`, if any) to the socket from the calling
    /// task; false (and the connection closed) if it could not be written.
    pub(super) async fn write(&self, id: Option<u64>, bytes: &[u8]) -> bool {
        let mut w = self.writer.lock().await;
        if self.pending.close_reason().is_some() {
            return false;
        }
        let mut progress = WriteInProgress {
            shared: self,
            done: false,
        };
        let written = w.write_all(bytes).await;
        progress.done = true;
        drop(w);
        match written {
            Ok(()) => {
                if let Some(id) = id {
                    self.pending.mark_sent(id);
                }
                true
            }
            Err(e) => {
                self.close(&format!("write failed: {e}"));
                false
            }
        }
    }
}

/// The bytes of a request: `{"id":N,"method":"...","params":...}`, written
/// straight from `params` (no intermediate JSON tree).
pub(super) fn request_bytes(id: u64, method: &str, params: &Value) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(512);
    bytes.extend_from_slice(b"{\"id\":");
    bytes.extend_from_slice(id.to_string().as_bytes());
    bytes.extend_from_slice(b",\"method\":");
    serde_json::to_writer(&mut bytes, method).expect("a string always serializes");
    bytes.extend_from_slice(b",\"params\":");
    serde_json::to_writer(&mut bytes, params).expect("a serde_json::Value always serializes");
    bytes.push(b'}');
    bytes
}

/// Sends what the reader originates (echo replies, probes); shuts the socket
/// down once the connection is closed.
pub(super) async fn write_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let mut closed = shared.closed.subscribe();
    loop {
        tokio::select! {
            biased;
            _ = wait_closed(&mut closed) => break,
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                if !shared.write(msg.id, &msg.bytes).await {
                    break;
                }
            }
        }
    }
    let _ = shared.writer.lock().await.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_is_serialized_as_one_json_rpc_object() {
        let bytes = request_bytes(
            7,
            "transact",
            &json!(["db", {"op": "comment", "comment": "\"x\""}]),
        );
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            json!({"id": 7, "method": "transact", "params": ["db", {"op": "comment", "comment": "\"x\""}]})
        );
    }
}
