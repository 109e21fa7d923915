//! The scheduler behind `ovn-mesos run` (data flow steps 2-7 of
//! `docs/architecture.md`): it subscribes to the Mesos master, places the
//! task files' instances on offers, provisions each task's logical switch
//! port before the LAUNCH, follows the status updates, keeps each
//! service's VIP backends equal to its running tasks, and relaunches ended
//! tasks with backoff.
//!
//! One async task owns all of it ([`Scheduler::run`]): events from the
//! subscription, timers (relaunch backoff, reconciliation, VIP resync) and
//! the shutdown signal are handled one at a time, so the book of tasks
//! needs no lock. What the HTTP API shows is published through a watch
//! channel ([`crate::api::Snapshot`]).
//!
//! * [`book`]: the tasks and the instance accounting (pure);
//! * `offers`: the launch pipeline (placement, ports, ACCEPT);
//! * `updates`: status updates, acknowledgements, stray tasks;
//! * [`vips`]: the services controller;
//! * `repair`: start-up recovery from the state dir and the NB;
//! * `session`: subscribe, resubscribe, timers, shutdown;
//! * `view`: the API snapshot.

pub mod book;
mod error;
mod offers;
mod repair;
mod session;
mod updates;
mod view;
pub mod vips;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesos_proto::v1::{AgentId, TaskId, TaskStatus};
use ovn::ovsdb::Client;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::api::{Command, Commands, Metrics, Snapshot};
use crate::launch::ExecutorSettings;
use crate::mesos::MesosConfig;
use crate::state::StateStore;
use crate::tasks::{load_paths, Services};

pub use error::SchedulerError;
pub use repair::RepairReport;

use book::Book;
use vips::{VipController, VipWriter};

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The master and the FrameworkInfo.
    pub mesos: MesosConfig,
    /// Task files and directories of task files.
    pub task_paths: Vec<PathBuf>,
    pub state_dir: PathBuf,
    /// How tasks' executors are started.
    pub executor: ExecutorSettings,
    /// The role whose resources are used (`*` by default).
    pub role: String,
    /// The agent attribute naming its OVN chassis (else its hostname).
    pub chassis_attribute: String,
    /// DECLINE filter for offers that fit nothing waiting.
    pub refuse_seconds: f64,
    /// DECLINE filter when nothing waits (SUPPRESS follows).
    pub idle_refuse_seconds: f64,
    /// Implicit reconciliation period.
    pub reconcile_interval: Duration,
    /// Explicit reconciliation of tasks whose state is unconfirmed this long.
    pub confirm_after: Duration,
    /// Full VIP pass period.
    pub resync_interval: Duration,
    /// The shortest time between two load balancer passes.
    pub vip_interval: Duration,
    /// Resubscription backoff bounds.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl SchedulerConfig {
    /// A configuration with the usual periods.
    pub fn new(
        mesos: MesosConfig,
        task_paths: Vec<PathBuf>,
        state_dir: PathBuf,
        executor: ExecutorSettings,
    ) -> SchedulerConfig {
        SchedulerConfig {
            mesos,
            task_paths,
            state_dir,
            executor,
            role: "*".into(),
            chassis_attribute: "ovn-chassis".into(),
            refuse_seconds: 5.0,
            idle_refuse_seconds: 120.0,
            reconcile_interval: Duration::from_secs(600),
            vip_interval: Duration::from_millis(250),
            confirm_after: Duration::from_secs(10),
            resync_interval: Duration::from_secs(60),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(15),
        }
    }
}

/// The scheduler with everything it owns.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    nb: Client,
    store: StateStore,
    services: Services,
    book: Book,
    vips: VipWriter,
    metrics: Arc<Metrics>,
    view_tx: watch::Sender<Arc<Snapshot>>,
    /// Tasks to kill once subscribed (their port could not be restored).
    to_kill: Vec<(TaskId, Option<AgentId>)>,
    suppressed: bool,
    connected: bool,
    /// Something changed that the VIPs or the API snapshot must show.
    vips_dirty: bool,
    view_dirty: bool,
    flush_at: Option<Instant>,
    /// When the VIPs and the view were last written.
    flushed_at: Option<Instant>,
    /// Refused ACCEPTs, reported by their background tasks.
    accept_failed: mpsc::UnboundedSender<offers::AcceptFailed>,
    accept_failed_rx: Option<mpsc::UnboundedReceiver<offers::AcceptFailed>>,
    /// Updates to acknowledge, while subscribed.
    acks: Option<mpsc::UnboundedSender<TaskStatus>>,
    /// Requests from the API (handled while subscribed).
    commands: Commands,
    commands_rx: Option<mpsc::Receiver<Command>>,
}

impl Scheduler {
    /// Loads the task files, resolves their networks in the NB, opens the
    /// state dir and recovers the tasks of an earlier run. Fails, with
    /// nothing launched or written, on a bad task file, an unknown network
    /// or a locked state dir.
    pub async fn prepare(
        config: SchedulerConfig,
        nb: Client,
        metrics: Arc<Metrics>,
        view_tx: watch::Sender<Arc<Snapshot>>,
    ) -> Result<Scheduler, SchedulerError> {
        let (definitions, warnings) = load_paths(&config.task_paths)?;
        for w in &warnings {
            warn!("{w}");
        }
        let services = nb.read(|cache| Services::resolve(definitions, cache))?;
        let store = StateStore::open(&config.state_dir)?;
        info!(
            services = services.len(),
            templates = services.members().count(),
            state_dir = %config.state_dir.display(),
            "task files loaded"
        );
        let book = Book::new(&services);
        let tenants = services.iter().map(|s| s.key.tenant.clone());
        let vips = VipWriter::start(
            VipController::new(tenants),
            nb.clone(),
            metrics.clone(),
            config.vip_interval,
        );
        let (accept_failed, accept_failed_rx) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let mut scheduler = Scheduler {
            config,
            nb,
            store,
            services,
            book,
            vips,
            metrics,
            view_tx,
            to_kill: Vec::new(),
            suppressed: false,
            connected: false,
            vips_dirty: true,
            view_dirty: true,
            flush_at: None,
            flushed_at: None,
            accept_failed,
            accept_failed_rx: Some(accept_failed_rx),
            acks: None,
            commands,
            commands_rx: Some(commands_rx),
        };
        let report = scheduler.recover().await?;
        info!(
            kept = report.kept,
            adopted = report.adopted,
            restored = report.restored,
            lost = report.lost,
            "tasks of the earlier run recovered"
        );
        scheduler.publish();
        Ok(scheduler)
    }

    /// The desired services.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The task book.
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Where the API sends its requests (task kills).
    pub fn commands(&self) -> Commands {
        self.commands.clone()
    }

    /// Marks the VIPs and the API view for the next flush: in
    /// [`FLUSH_DELAY`], and not sooner than [`FLUSH_INTERVAL`] after the
    /// last one, so a burst of updates makes few writes.
    fn touch(&mut self, vips: bool) {
        self.vips_dirty |= vips;
        self.view_dirty = true;
        if self.flush_at.is_none() {
            let soon = Instant::now() + FLUSH_DELAY;
            let spaced = self.flushed_at.map(|at| at + FLUSH_INTERVAL);
            self.flush_at = Some(spaced.map_or(soon, |spaced| spaced.max(soon)));
        }
    }
}

/// How long changes are gathered before the VIPs and the API view are
/// written (a burst of updates makes one write).
const FLUSH_DELAY: Duration = Duration::from_millis(20);
/// How many API requests may wait for the event loop.
const COMMAND_QUEUE: usize = 64;
/// The shortest time between two writes of the VIPs and the API view.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
