//! The Mesos agent: registers with the master (the project's own protocol,
//! [`crate::protocol`]), runs tasks in executors, and serves
//! `POST /api/v1/executor` (also `/slave(1)/api/v1/executor`, the path C++
//! executors derive from `MESOS_SLAVE_PID`) plus `GET /health` and a small
//! `GET /state`.
//!
//! Custom executors are real processes in their own session with the real
//! Mesos environment. Tasks with a `command` and no `executor` run under the
//! built-in command executor, which lives inside the agent process (no
//! separate `mesos-executor` process) and starts the command itself.

mod command_executor;
mod environment;
mod executor_http;
mod executors;
mod fetcher;
mod launch;
mod master_link;
mod noop;
mod process;
mod recovery;
mod state;
mod status;
mod termination;
mod updates;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get};
use axum::Router;
use mesos_proto::v1;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::AgentConfig;
use crate::error::Error;
use crate::protocol::AgentEvent;
use crate::resources::{parse_attributes, Resources};
use crate::server;
use crate::zookeeper::{MasterDetector, ZkUrl};
use state::AgentState;
use updates::UpdateManager;

pub use fetcher::FetchError;
pub use process::LaunchError;

/// Events waiting to be posted to the master.
const OUTBOX_CAPACITY: usize = 1 << 16;

/// The registration with the master: agent id, session, and the
/// master's `ip:port` (the leader it registered with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub agent_id: String,
    pub session: String,
    pub master: String,
}

/// The agent's shared core.
#[derive(Debug)]
pub(crate) struct Agent {
    pub config: AgentConfig,
    /// `ip:port` of this agent's HTTP endpoint.
    pub endpoint: String,
    /// The agent info sent to the master (without id).
    pub info: v1::AgentInfo,
    pub state: Mutex<AgentState>,
    pub outbox: mpsc::Sender<AgentEvent>,
    pub session: watch::Sender<Option<Session>>,
    pub cancel: CancellationToken,
    /// False until start-up cleanup is done (the executor API answers 503).
    pub recovered: AtomicBool,
    /// Notified whenever an executor leaves the state (the agent's stop
    /// waits for the last one).
    pub executor_exited: Notify,
    pub http: reqwest::Client,
    /// Who leads: the `--master` given, or the leader of the ZooKeeper
    /// group it names.
    pub detector: MasterDetector,
}

impl Agent {
    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, AgentState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The agent id once registered.
    pub fn agent_id(&self) -> Option<String> {
        self.lock().agent_id.clone()
    }

    /// `<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>`.
    pub fn sandbox_dir(
        &self,
        agent_id: &str,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
    ) -> PathBuf {
        self.config
            .work_dir
            .join("slaves")
            .join(agent_id)
            .join("frameworks")
            .join(framework_id)
            .join("executors")
            .join(executor_id)
            .join("runs")
            .join(container_id)
    }

    /// Where the pid of an executor's process is recorded.
    pub fn pid_file(
        &self,
        agent_id: &str,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
    ) -> PathBuf {
        recovery::meta_dir(&self.config.work_dir)
            .join("slaves")
            .join(agent_id)
            .join("frameworks")
            .join(framework_id)
            .join("executors")
            .join(executor_id)
            .join("runs")
            .join(container_id)
            .join("pids")
            .join("forked.pid")
    }
}

/// A running agent.
#[derive(Debug)]
pub struct AgentHandle {
    /// Where the agent listens.
    pub addr: SocketAddr,
    agent: Arc<Agent>,
    tasks: Vec<JoinHandle<()>>,
}

impl AgentHandle {
    /// `ip:port` (`MESOS_AGENT_ENDPOINT` of its executors).
    pub fn endpoint(&self) -> String {
        self.agent.endpoint.clone()
    }

    /// The agent id, once registered.
    pub fn agent_id(&self) -> Option<String> {
        self.agent.agent_id()
    }

    /// The work directory (sandboxes are under `slaves/`).
    pub fn work_dir(&self) -> &Path {
        &self.agent.config.work_dir
    }

    /// Waits until the agent is registered; its id, or `None` on timeout.
    pub async fn wait_registered(&self, timeout: Duration) -> Option<String> {
        let mut rx = self.agent.session.subscribe();
        let wait = async {
            loop {
                if let Some(session) = rx.borrow_and_update().clone() {
                    return Some(session.agent_id);
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    /// Stops the agent like `Slave::shutdown`: every framework is shut
    /// down, each executor gets SHUTDOWN (SIGTERM to its process group
    /// when it has no connection) and its grace period
    /// (`--executor-shutdown-grace-period` or
    /// `ExecutorInfo.shutdown_grace_period`) to end its tasks and clean
    /// up, then SIGKILL; once every executor has exited, the link to the
    /// master and the server are closed.
    pub async fn shutdown(mut self) {
        self.agent.shutdown_all().await;
        self.agent.cancel.cancel();
        for task in std::mem::take(&mut self.tasks) {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        info!(addr = %self.addr, "agent stopped");
    }
}

impl Drop for AgentHandle {
    /// A handle dropped without `shutdown` (a failing test) cannot wait
    /// for grace periods: it kills its executors' process groups at once
    /// and stops serving.
    fn drop(&mut self) {
        if !self.agent.cancel.is_cancelled() {
            self.agent.cancel.cancel();
            self.agent.kill_all_executors();
        }
    }
}

/// Default resources: the machine's cpus and memory (less 1 GB, at least
/// half), 10 GB of disk, ports 31000-32000.
fn default_resources() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let total_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(4096, |kb| kb / 1024);
    let mem = total_mb.saturating_sub(1024).max(total_mb / 2);
    format!("cpus:{cpus};mem:{mem};disk:10240;ports:[31000-32000]")
}

/// Starts an agent with its own HTTP client.
pub async fn start(config: AgentConfig) -> Result<AgentHandle, Error> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| Error::Client(e.to_string()))?;
    start_with_client(config, http).await
}

/// Starts an agent sharing `http` (in-process clusters share one pool).
pub async fn start_with_client(
    config: AgentConfig,
    http: reqwest::Client,
) -> Result<AgentHandle, Error> {
    let detector = if ZkUrl::is_zk(&config.master) {
        let url = ZkUrl::parse(&config.master).map_err(Error::ZooKeeper)?;
        MasterDetector::zookeeper(url, config.zk_session_timeout)
    } else {
        MasterDetector::create(&config.master, config.zk_session_timeout)
            .map_err(|_| Error::MasterAddress(config.master.clone()))?
    };
    let resources = Resources::parse(&config.resources.clone().unwrap_or_else(default_resources))?;
    let attributes = parse_attributes(config.attributes.as_deref().unwrap_or_default())?;
    std::fs::create_dir_all(&config.work_dir).map_err(|source| Error::WorkDir {
        path: config.work_dir.clone(),
        source,
    })?;
    let (listener, addr) = server::bind(SocketAddr::new(config.ip, config.port)).await?;
    let info = v1::AgentInfo {
        hostname: config
            .hostname
            .clone()
            .unwrap_or_else(|| addr.ip().to_string()),
        port: Some(i32::from(addr.port())),
        resources: resources.to_protos(None),
        attributes,
        ..Default::default()
    };
    let (outbox, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
    let state = AgentState {
        agent_id: None,
        frameworks: Default::default(),
        updates: UpdateManager::new(
            config.max_pending_updates_per_task,
            config.status_update_retry_interval,
            config.status_update_retry_max,
        ),
        next_connection: 0,
        terminating: false,
    };
    let agent = Arc::new(Agent {
        endpoint: addr.to_string(),
        info,
        state: Mutex::new(state),
        outbox,
        session: watch::channel(None).0,
        cancel: CancellationToken::new(),
        recovered: AtomicBool::new(false),
        executor_exited: Notify::new(),
        http,
        detector,
        config,
    });
    let router = Router::new()
        .route("/api/v1/executor", any(executor_http::executor))
        .route("/slave(1)/api/v1/executor", any(executor_http::executor))
        .route("/health", get(executor_http::health))
        .route("/state", get(executor_http::state))
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(Arc::clone(&agent));
    let server = server::serve(listener, router, agent.cancel.clone());
    recovery::cleanup_previous_run(&agent.config.work_dir);
    agent.recovered.store(true, Ordering::SeqCst);
    let link = tokio::spawn(Arc::clone(&agent).run_master_link());
    let sender = tokio::spawn(Arc::clone(&agent).run_outbox(outbox_rx));
    info!(%addr, master = %crate::zookeeper::redacted(&agent.config.master), "agent started");
    Ok(AgentHandle {
        addr,
        agent,
        tasks: vec![server, link, sender],
    })
}
