//! The scheduler behind `ovn-mesos run` (data flow steps 2-7 of
//! `docs/architecture.md`): it subscribes to the Mesos master, places the
//! task files' instances on offers, provisions each task's logical switch
//! port before the LAUNCH, follows the status updates, keeps each
//! service's VIP backends equal to its running tasks, and relaunches ended
//! tasks with backoff.
//!
//! It is a pure core with workers beside it. The [`core`] holds the book,
//! the desired services and the offer state; its handlers take an input
//! (an event, a request, a timer, a worker's report) and return effects.
//! The driver's event loop feeds it one input at a time, so the book needs
//! no lock, and hands the effects to workers, which do the I/O and report
//! back as inputs. The loop never awaits the NB or the master. What the
//! HTTP API shows is published through a watch channel
//! ([`crate::api::Snapshot`]).
//!
//! * [`book`]: the tasks and the instance accounting;
//! * [`core`]: the handlers (offers, updates, requests, timers);
//! * `driver`: the event loop, the link to the master, running effects;
//! * `launcher`: ports and ACCEPTs (worker);
//! * `calls`: KILL, REVIVE, SUPPRESS, RECONCILE, ACKNOWLEDGE (workers);
//! * `ports`: deleting the ports of ended tasks (worker);
//! * [`vips`]: the desired load balancers and their writer (worker);
//! * `repair`: start-up recovery from the state dir and the NB.

pub(crate) mod book;
mod calls;
pub(crate) mod catalog;
mod changes;
pub(crate) mod core;
mod driver;
mod error;
mod launcher;
mod ports;
mod repair;
mod views;
pub mod vips;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ovn::ovsdb::Client;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::api::{Command, Commands, EventHub, Metrics, Snapshot, Views};
use crate::launch::ExecutorSettings;
use crate::mesos::MesosConfig;
use crate::state::StateStore;
use crate::tasks::{load_paths, Services, TaskDefinition, Warning};

pub use error::SchedulerError;
pub use repair::RepairReport;

use driver::Driver;
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
    /// Stop (instead of resubscribing) when the master fails the
    /// framework over to another instance: an HA leader's term ends there.
    pub stop_on_failover: bool,
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
            chassis_attribute: crate::launch::DEFAULT_CHASSIS_ATTRIBUTE.into(),
            refuse_seconds: 5.0,
            idle_refuse_seconds: 120.0,
            reconcile_interval: Duration::from_secs(600),
            vip_interval: Duration::from_millis(250),
            confirm_after: Duration::from_secs(10),
            resync_interval: Duration::from_secs(60),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(15),
            stop_on_failover: false,
        }
    }
}

/// The scheduler, ready to run.
#[derive(Debug)]
pub struct Scheduler {
    driver: Driver,
    commands: Commands,
    commands_rx: mpsc::Receiver<Command>,
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
        // A bad task file is refused before the state dir is made.
        let loaded = load_paths(&config.task_paths)?;
        let store = StateStore::open(&config.state_dir)?;
        let hub = EventHub::new(EVENT_BACKLOG);
        Self::prepare_loaded(config, loaded, store, hub, nb, metrics, view_tx).await
    }

    /// [`Scheduler::prepare`] with an open store (the shared state of an
    /// HA leader) and the event hub the API already serves.
    pub async fn prepare_with(
        config: SchedulerConfig,
        store: StateStore,
        hub: EventHub,
        nb: Client,
        metrics: Arc<Metrics>,
        view_tx: watch::Sender<Arc<Snapshot>>,
    ) -> Result<Scheduler, SchedulerError> {
        let loaded = load_paths(&config.task_paths)?;
        Self::prepare_loaded(config, loaded, store, hub, nb, metrics, view_tx).await
    }

    /// Both of the above, once the task files are read.
    async fn prepare_loaded(
        config: SchedulerConfig,
        (files, warnings): (Vec<TaskDefinition>, Vec<Warning>),
        mut store: StateStore,
        hub: EventHub,
        nb: Client,
        metrics: Arc<Metrics>,
        view_tx: watch::Sender<Arc<Snapshot>>,
    ) -> Result<Scheduler, SchedulerError> {
        for w in &warnings {
            warn!("{w}");
        }
        // The task files are applied to the stored definitions (see
        // `catalog`), resolved, and only then written.
        let stored = store.definitions().clone();
        let changes = catalog::apply_files(&stored, &files, std::time::SystemTime::now());
        let next = catalog::after(&stored, &changes);
        let definitions =
            catalog::in_force(next.values(), |_| None).map_err(SchedulerError::Definitions)?;
        let services = nb.read(|cache| Services::resolve(definitions, cache))?;
        for change in &changes {
            match &change.stored {
                Some(d) => store.put_definition(d.clone())?,
                None if change.removes(stored.get(&change.id)) => {
                    store.remove_definition(&change.id)?
                }
                None => {}
            }
            if change.outcome != catalog::Outcome::Unchanged {
                info!(definition = %change.id, change = change.outcome.as_str(), "task file applied");
            }
        }
        info!(
            services = services.len(),
            templates = services.members().count(),
            state = %store.location(),
            "task files loaded"
        );
        let tenants = services.iter().map(|s| s.key.tenant.clone());
        let vips = VipWriter::start(
            VipController::new(tenants),
            nb.clone(),
            metrics.clone(),
            config.vip_interval,
        );
        repair::reserve_monitor_addresses(&nb, &services).await;
        let deployments = catalog::deployments(store.definitions().values());
        let mut core = core::Core::new(config, services, deployments, Instant::now());
        let report = repair::recover(&nb, &mut store, &mut core).await?;
        info!(
            kept = report.kept,
            adopted = report.adopted,
            restored = report.restored,
            lost = report.lost,
            "tasks of the earlier run recovered"
        );
        let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        Ok(Scheduler {
            driver: Driver {
                core,
                nb,
                store,
                metrics,
                view_tx,
                views: Views::default(),
                vips,
                hub,
            },
            commands,
            commands_rx,
        })
    }

    /// Where the API sends its requests (task kills, definitions, reloads).
    pub fn commands(&self) -> Commands {
        self.commands.clone()
    }

    /// The event stream the scheduler publishes on (`GET /v1/events`).
    pub fn events(&self) -> EventHub {
        self.driver.hub.clone()
    }

    /// Runs until `shutdown` completes (SIGTERM in the binary) or the
    /// master refuses the framework for good.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), SchedulerError> {
        let Scheduler {
            driver,
            commands_rx,
            ..
        } = self;
        driver.run(commands_rx, shutdown).await
    }
}

/// How many API requests may wait for the event loop.
const COMMAND_QUEUE: usize = 64;
/// How many events a client of `GET /v1/events` may fall behind before it
/// is dropped.
pub const EVENT_BACKLOG: usize = 4096;
