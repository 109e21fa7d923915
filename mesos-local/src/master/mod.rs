//! The Mesos master: `POST /api/v1/scheduler` (protobuf and JSON) for
//! frameworks, offers built from the agents' unused resources, the
//! master side of the agent protocol ([`crate::protocol`]), and the
//! read-only endpoints `GET /version`, `/health` and `/state`
//! (also under `/master/...`).
//!
//! [`start`] binds, serves and returns a [`MasterHandle`]; everything
//! lives in memory (a restarted master accepts re-registering agents and
//! resubscribing frameworks, as a Mesos master does after failover).
//!
//! With [`MasterConfig::zk`] the master contends for leadership through
//! ZooKeeper and serves only while it leads; the others redirect (see
//! `leadership`). Without it the master leads from the start.

mod accept;
mod agents;
mod allocator;
mod calls;
mod events;
mod framework;
mod health;
mod leadership;
mod reconcile;
mod scheduler_http;
mod state;
mod state_json;
mod status;
mod subscribe;
mod validation;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};
use axum::Router;
use mesos_proto::v1::{self, Address};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{MasterConfig, MESOS_VERSION};
use crate::error::Error;
use crate::protocol;
use crate::server;
use crate::zookeeper::MasterDetector;
use state::MasterState;

pub(crate) use events::now_secs;

/// Largest request body accepted (ACCEPT calls with many tasks).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The master's shared core: configuration, identity and state.
#[derive(Debug)]
pub(crate) struct Master {
    pub config: MasterConfig,
    pub info: v1::MasterInfo,
    pub pid: String,
    pub state: Mutex<MasterState>,
    pub allocate_now: Notify,
    pub cancel: CancellationToken,
    pub start_time: f64,
    /// The leading master as last detected (itself when elected; always
    /// itself without ZooKeeper).
    pub leader: watch::Sender<Option<v1::MasterInfo>>,
    /// When this master was last elected.
    pub elected_time: Mutex<Option<f64>>,
    /// Fired when the master aborts (lost leadership).
    pub aborted: CancellationToken,
    pub abort_reason: Mutex<Option<String>>,
}

impl Master {
    /// Locks the state (a poisoned lock is still usable: every operation
    /// leaves the state consistent before it could panic).
    pub fn lock(&self) -> MutexGuard<'_, MasterState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks for an allocation pass soon.
    pub fn trigger_allocation(&self) {
        self.allocate_now.notify_one();
    }
}

/// A running master.
#[derive(Debug)]
pub struct MasterHandle {
    /// Where the master listens.
    pub addr: SocketAddr,
    master: Arc<Master>,
    tasks: Vec<JoinHandle<()>>,
}

impl MasterHandle {
    /// `ip:port`, as agents' `--master` and schedulers expect it.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// `http://ip:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The master's id (a UUID).
    pub fn master_id(&self) -> String {
        self.master.info.id.clone()
    }

    /// The `/state` document, without an HTTP round trip (also on a
    /// master that does not lead, where `GET /state` redirects).
    pub fn state_json(&self) -> serde_json::Value {
        state_json::state(&self.master)
    }

    /// Whether this master leads (always, without ZooKeeper).
    pub fn is_leading(&self) -> bool {
        self.master.elected()
    }

    /// The leading master as this master last detected it.
    pub fn leader(&self) -> Option<v1::MasterInfo> {
        self.master.leader()
    }

    /// Waits until the master aborts because it lost leadership (see
    /// `leadership`): it stopped serving, and the reason is returned. A
    /// Mesos master exits then; `mesos-local master` exits with status 1.
    /// Pending forever for a master that never aborts.
    pub async fn aborted(&self) -> String {
        self.master.aborted.cancelled().await;
        self.master
            .abort_reason
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .unwrap_or_else(|| "aborted".into())
    }

    /// Stops serving: closes every stream and waits for the server (a
    /// master in a ZooKeeper group withdraws its candidacy).
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    /// [`Self::shutdown`] in place (the handle stays, stopped).
    pub(crate) async fn stop(&mut self) {
        self.master.cancel.cancel();
        let tasks = std::mem::take(&mut self.tasks);
        if tasks.is_empty() {
            return;
        }
        for task in tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
        info!(addr = %self.addr, "master stopped");
    }
}

impl Drop for MasterHandle {
    /// A handle dropped without `shutdown` still stops serving.
    fn drop(&mut self) {
        self.master.cancel.cancel();
    }
}

/// `MasterInfo.ip`: the IPv4 address packed as Mesos does (network byte
/// order read as a little-endian integer).
fn packed_ip(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
        IpAddr::V6(_) => 0,
    }
}

/// Starts a master.
pub async fn start(config: MasterConfig) -> Result<MasterHandle, Error> {
    if let Some(dir) = &config.work_dir {
        std::fs::create_dir_all(dir).map_err(|source| Error::WorkDir {
            path: dir.clone(),
            source,
        })?;
    }
    if let Some(zk) = &config.zk {
        zk.url.check_contender_path().map_err(Error::ZooKeeper)?;
    }
    let (listener, addr) = server::bind(SocketAddr::new(config.ip, config.port)).await?;
    let id = crate::ids::new_uuid();
    let hostname = config
        .hostname
        .clone()
        .unwrap_or_else(|| addr.ip().to_string());
    let pid = format!("master@{addr}");
    let info = v1::MasterInfo {
        id: id.clone(),
        ip: packed_ip(addr.ip()),
        port: u32::from(addr.port()),
        pid: Some(pid.clone()),
        hostname: Some(hostname.clone()),
        version: Some(MESOS_VERSION.to_string()),
        address: Some(Address {
            hostname: Some(hostname),
            ip: Some(addr.ip().to_string()),
            port: i32::from(addr.port()),
        }),
        ..Default::default()
    };
    let state = MasterState::new(
        &id,
        config.max_completed_tasks_per_framework,
        config.max_completed_frameworks,
    );
    let start_time = now_secs();
    let zk = config.zk.clone();
    // A standalone master leads from the start.
    let (leader, elected_time) = match &zk {
        Some(_) => (None, None),
        None => (Some(info.clone()), Some(start_time)),
    };
    let master = Arc::new(Master {
        config,
        info,
        pid,
        state: Mutex::new(state),
        allocate_now: Notify::new(),
        cancel: CancellationToken::new(),
        start_time,
        leader: watch::channel(leader).0,
        elected_time: Mutex::new(elected_time),
        aborted: CancellationToken::new(),
        abort_reason: Mutex::new(None),
    });
    let router = Router::new()
        .route("/api/v1/scheduler", any(scheduler_http::scheduler))
        .route("/master/api/v1/scheduler", any(scheduler_http::scheduler))
        .route("/version", get(state_json::version))
        .route("/health", get(state_json::health))
        .route("/master/health", get(state_json::health))
        .route("/state", get(state_json::state_endpoint))
        .route("/state.json", get(state_json::state_endpoint))
        .route("/master/state", get(state_json::state_endpoint))
        .route("/master/state.json", get(state_json::state_endpoint))
        .route("/redirect", get(leadership::redirect_endpoint))
        .route("/master/redirect", get(leadership::redirect_endpoint))
        .route(protocol::SUBSCRIBE_PATH, post(agents::subscribe_endpoint))
        .route(protocol::EVENTS_PATH, post(agents::events_endpoint))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Arc::clone(&master));
    let server = server::serve(listener, router, master.cancel.clone());
    let allocator = tokio::spawn(Arc::clone(&master).run_allocator());
    let health = tokio::spawn(Arc::clone(&master).run_agent_health_checks());
    let mut tasks = vec![server, allocator, health];
    if let Some(zk) = zk {
        let detector = MasterDetector::zookeeper(zk.url.clone(), zk.session_timeout);
        tasks.push(tokio::spawn(Arc::clone(&master).run_detection(detector)));
        tasks.push(tokio::spawn(Arc::clone(&master).run_contender(zk)));
    }
    info!(%addr, master_id = %master.info.id, "master started");
    Ok(MasterHandle {
        addr,
        master,
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn ips_are_packed_like_mesos() {
        assert_eq!(packed_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)), 16_777_343);
    }
}
