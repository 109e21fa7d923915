//! The executor's session on the local Open_vSwitch database, opened on first
//! use and opened again after a failed attempt: an executor started while
//! OVSDB is down still subscribes, and fails only the tasks it cannot plug
//! ("OVSDB unreachable") instead of dying.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::ovs::{OvsError, OvsPorts};

/// Where the database is, and the session once open.
#[derive(Debug, Clone)]
pub struct OvsSession {
    remote: String,
    timeout: Duration,
    ports: Arc<Mutex<Option<OvsPorts>>>,
}

impl OvsSession {
    /// A session on `remote` (e.g. `unix:/var/run/openvswitch/db.sock`);
    /// each connection attempt gives up after `timeout`.
    pub fn new(remote: impl Into<String>, timeout: Duration) -> OvsSession {
        OvsSession {
            remote: remote.into(),
            timeout,
            ports: Arc::new(Mutex::new(None)),
        }
    }

    /// The remote this session uses.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// The open session, connecting first if needed.
    pub async fn get(&self) -> Result<OvsPorts, OvsError> {
        let mut slot = self.ports.lock().await;
        if let Some(ports) = slot.as_ref() {
            return Ok(ports.clone());
        }
        let ports = OvsPorts::connect(&self.remote, self.timeout).await?;
        *slot = Some(ports.clone());
        Ok(ports)
    }

    /// Closes the session if open.
    pub async fn close(&self) {
        if let Some(ports) = self.ports.lock().await.take() {
            ports.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_absent_server_is_unreachable_and_retried_on_next_use() {
        let dir = tempfile::tempdir().unwrap();
        let remote = format!("unix:{}/db.sock", dir.path().display());
        let s = OvsSession::new(&remote, Duration::from_millis(200));
        for _ in 0..2 {
            let e = s.get().await.unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("OVSDB {remote} unreachable")),
                "{e}"
            );
        }
    }
}
