//! `ovn-mesos run --zk`: one instance of an HA framework. The HTTP API
//! serves from the start; the instance stands by in the election, and each
//! time it wins it leads one term:
//!
//! 1. it raises the NB leader epoch ([`bump_epoch`]): from then on every NB
//!    write of a deposed leader fails;
//! 2. it reads the shared state from ZooKeeper (the framework id, the
//!    definitions and their deployments) and prepares the scheduler: the
//!    tasks come back from the NB's task ports, and the subscription with
//!    the same framework id makes Mesos fail the framework over to it;
//! 3. it schedules until SIGTERM (a graceful stop that releases the latch,
//!    so a standby takes over at once) or until leadership is lost: the
//!    session expired or ZooKeeper was out of reach for the session
//!    timeout, the latch node went, another instance raised the NB epoch,
//!    or a write of the shared state failed. Then it stops scheduling at
//!    once (the scheduler is dropped, not drained), and stands by again
//!    in a new session, which waits for ZooKeeper to come back.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use ovn::nb::nb_global::{bump_epoch, nb_global, LEADER_EPOCH};
use ovn::ovsdb::Client;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};
use zookeeper_client as zk;

use crate::api::{ApiState, Command, Commands, EventHub, HaRole, Metrics, Snapshot};
use crate::cli::{GlobalArgs, RunArgs};
use crate::mesos::ZooKeeperUrl;
use crate::network::connect_nb;
use crate::run::{forward_sighup, scheduler_config, shutdown_signal, ApiTask};
use crate::scheduler::{Scheduler, SchedulerConfig, SchedulerError, EVENT_BACKLOG};
use crate::state::StateStore;
use ovn::report::Chain;

/// The pause before standing by again after a lost term.
const AFTER_LOSS: Duration = Duration::from_millis(500);

/// How a term ended.
enum TermEnd {
    /// SIGTERM, or the scheduler stopped for good: the process ends.
    Stopped(Result<()>),
    /// Leadership lost (why): stand by again.
    Lost(String),
}

/// What the terms share.
struct Instance<'a> {
    global: &'a GlobalArgs,
    url: &'a ZooKeeperUrl,
    session_timeout: Duration,
    advertise: String,
    config: SchedulerConfig,
    metrics: Arc<Metrics>,
    view_tx: watch::Sender<Arc<Snapshot>>,
    hub: EventHub,
    leading: watch::Sender<bool>,
    leader: watch::Sender<Option<String>>,
    /// The current term's scheduler, for the API's requests.
    term: watch::Sender<Option<Commands>>,
    stop: watch::Receiver<bool>,
}

/// The API address the leader publishes: `--advertise-api`, else `--api`
/// with this host's name for an unspecified address.
pub fn advertise_api(args: &RunArgs, bound: std::net::SocketAddr) -> Result<String> {
    if let Some(given) = &args.advertise_api {
        let given = given.trim();
        let valid = given
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        anyhow::ensure!(valid, "bad --advertise-api {given:?}: expected HOST:PORT");
        return Ok(given.to_owned());
    }
    if !bound.ip().is_unspecified() {
        return Ok(bound.to_string());
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").context(
        "cannot read this host's name for the advertised API address; give --advertise-api",
    )?;
    Ok(format!("{}:{}", host.trim(), bound.port()))
}

/// `ovn-mesos run --zk`: until SIGTERM/SIGINT.
pub async fn run(global: &GlobalArgs, args: &RunArgs, url: &ZooKeeperUrl) -> Result<()> {
    let mut config = scheduler_config(args)?;
    config.stop_on_failover = true;
    let session_timeout = args.master.zk_session_timeout;
    let listener = TcpListener::bind(args.api)
        .await
        .with_context(|| format!("cannot listen on --api {}", args.api))?;
    let bound = listener.local_addr().context("the API's address")?;
    let advertise = advertise_api(args, bound)?;
    // A dead ZooKeeper at start is one line, like a dead NB.
    let first = super::connect(url, session_timeout, session_timeout.max(CONNECT_AT_START))
        .await
        .context("--zk")?;
    let nb = connect_nb(global).await?;
    let metrics = Arc::new(Metrics::default());
    let (view_tx, view_rx) = watch::channel(Arc::new(Snapshot::default()));
    let (leading, leading_rx) = watch::channel(false);
    let (leader, leader_rx) = watch::channel(None);
    let (term, term_rx) = watch::channel(None);
    let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
    tokio::spawn(forward_commands(commands_rx, term_rx));
    tokio::spawn(forward_sighup(commands.clone()));
    let hub = EventHub::new(EVENT_BACKLOG);
    let state = ApiState {
        snapshot: view_rx,
        metrics: metrics.clone(),
        commands: Some(commands),
        events: Some(hub.clone()),
        ha: Some(HaRole {
            advertise: advertise.clone(),
            leading: leading_rx,
            leader: leader_rx,
        }),
    };
    info!(api = %args.api, advertise = %advertise, zk = %url, "HTTP API listening; standing by for leadership");
    let api = ApiTask::spawn(listener, state);
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        stop_tx.send_replace(true);
    });
    // Each term has its own NB connection (closed when the term ends, so
    // what a lost term's workers still send is refused); this one only
    // checks the NB at start, a dead one is one line.
    nb.close().await;
    let instance = Instance {
        global,
        url,
        session_timeout,
        advertise,
        config,
        metrics,
        view_tx,
        hub: hub.clone(),
        leading,
        leader,
        term,
        stop,
    };
    let result = instance.serve(first).await;
    api.stop(&hub).await;
    result
}

/// How long the first ZooKeeper session may take at least.
const CONNECT_AT_START: Duration = Duration::from_secs(5);
/// How many API requests may wait for the event loop.
const COMMAND_QUEUE: usize = 64;

/// Hands the API's requests to the current term's scheduler; without one
/// (a standby, or between terms) a request is dropped, which the API
/// answers 503.
async fn forward_commands(
    mut commands: mpsc::Receiver<Command>,
    term: watch::Receiver<Option<Commands>>,
) {
    while let Some(command) = commands.recv().await {
        let current = term.borrow().clone();
        if let Some(scheduler) = current {
            let _ = scheduler.send(command).await;
        }
    }
}

/// Completes once SIGTERM/SIGINT came.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

impl Instance<'_> {
    /// Stands by, leads when elected, stands by again after a lost term;
    /// until SIGTERM or a scheduler error that ends the process.
    async fn serve(&self, first: zk::Client) -> Result<()> {
        let mut session = Some(first);
        loop {
            let client = match session.take() {
                Some(client) => client,
                None => match self.reconnect().await {
                    Some(client) => client,
                    None => return Ok(()),
                },
            };
            let observer = tokio::spawn(super::observe(
                client.clone(),
                self.url.clone(),
                self.leader.clone(),
            ));
            let end = self.stand_by_and_lead(&client).await;
            observer.abort();
            self.leader.send_replace(None);
            match end {
                TermEnd::Stopped(result) => {
                    super::close(client).await;
                    return result;
                }
                TermEnd::Lost(reason) => {
                    warn!(zk = %self.url, reason, "not leading; standing by again in a new ZooKeeper session");
                    tokio::select! {
                        () = tokio::time::sleep(AFTER_LOSS) => {}
                        () = stopped(self.stop.clone()) => return Ok(()),
                    }
                }
            }
        }
    }

    /// A new session, after as many attempts as it takes; `None` on SIGTERM.
    async fn reconnect(&self) -> Option<zk::Client> {
        let mut pause = Duration::from_millis(200);
        loop {
            let attempt = super::connect(self.url, self.session_timeout, self.session_timeout);
            tokio::select! {
                result = attempt => match result {
                    Ok(client) => {
                        info!(zk = %self.url, "ZooKeeper session made");
                        return Some(client);
                    }
                    Err(e) => warn!(error = %Chain(&e), "no ZooKeeper session yet; retrying"),
                },
                () = stopped(self.stop.clone()) => return None,
            }
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stopped(self.stop.clone()) => return None,
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// One session: campaign, then lead until the term ends.
    async fn stand_by_and_lead(&self, client: &zk::Client) -> TermEnd {
        let lock = tokio::select! {
            lock = super::campaign(client, self.url, &self.advertise) => lock,
            reason = super::session_lost(client) => return TermEnd::Lost(reason),
            () = stopped(self.stop.clone()) => return TermEnd::Stopped(Ok(())),
        };
        let lock = match lock {
            Ok(lock) => lock,
            // Refused (ACLs, a bad path): retrying cannot help.
            Err(e) if e.is_permanent() => return TermEnd::Stopped(Err(e.into())),
            Err(e) => return TermEnd::Lost(Chain(&e).to_string()),
        };
        info!(zk = %self.url, latch = lock.lock_path(), "elected leader");
        self.leading.send_replace(true);
        let end = self.lead(client, lock).await;
        self.leading.send_replace(false);
        self.term.send_replace(None);
        // A standby's /metrics shows no tasks of a term that is over.
        self.view_tx.send_replace(Arc::new(Snapshot::default()));
        end
    }

    /// One term, on its own NB connection.
    async fn lead(&self, client: &zk::Client, lock: Arc<zk::OwnedLockClient>) -> TermEnd {
        let nb = tokio::select! {
            nb = connect_nb(self.global) => match nb {
                Ok(nb) => nb,
                Err(e) => return TermEnd::Lost(format!("{e:#}")),
            },
            reason = super::session_lost(client) => return TermEnd::Lost(reason),
            () = stopped(self.stop.clone()) => return TermEnd::Stopped(Ok(())),
        };
        let end = self.lead_on(client, lock, &nb).await;
        // What the term's workers still send after a lost term is refused.
        nb.close().await;
        end
    }

    /// One term: fence the NB, read the shared state, schedule.
    async fn lead_on(
        &self,
        client: &zk::Client,
        lock: Arc<zk::OwnedLockClient>,
        nb: &Client,
    ) -> TermEnd {
        let lost = async {
            tokio::select! {
                reason = super::session_lost(client) => reason,
                reason = super::lock_gone(&lock) => reason,
            }
        };
        tokio::pin!(lost);
        let fence = tokio::select! {
            fence = bump_epoch(nb, LEADER_EPOCH) => match fence {
                Ok(fence) => fence,
                Err(e) => return TermEnd::Lost(format!("cannot raise the NB leader epoch: {}", Chain(&e))),
            },
            reason = &mut lost => return TermEnd::Lost(reason),
            () = stopped(self.stop.clone()) => return TermEnd::Stopped(Ok(())),
        };
        info!(
            epoch = fence.epoch,
            "NB leader epoch raised; a deposed leader's NB writes now fail"
        );
        let (failed_tx, mut failed) = watch::channel(None);
        let store = tokio::select! {
            store = StateStore::open_zk(lock.clone(), &self.url.path, failed_tx) => match store {
                Ok(store) => store,
                Err(e) if e.is_corrupt() => return TermEnd::Stopped(Err(e.into())),
            Err(e) => return TermEnd::Lost(format!("cannot read the shared state: {}", Chain(&e))),
            },
            reason = &mut lost => return TermEnd::Lost(reason),
            () = stopped(self.stop.clone()) => return TermEnd::Stopped(Ok(())),
        };
        let prepared = tokio::select! {
            prepared = Scheduler::prepare_with(
                self.config.clone(),
                store,
                self.hub.clone(),
                nb.clone(),
                self.metrics.clone(),
                self.view_tx.clone(),
            ) => prepared,
            reason = &mut lost => return TermEnd::Lost(reason),
            () = stopped(self.stop.clone()) => return TermEnd::Stopped(Ok(())),
        };
        let scheduler = match prepared {
            Ok(scheduler) => scheduler,
            Err(e) if e.is_config() => return TermEnd::Stopped(Err(e.into())),
            Err(e) => return TermEnd::Lost(format!("cannot prepare the scheduler: {}", Chain(&e))),
        };
        self.term.send_replace(Some(scheduler.commands()));
        let epoch = fence.epoch;
        let result = tokio::select! {
            result = scheduler.run(stopped(self.stop.clone())) => result,
            reason = &mut lost => return TermEnd::Lost(reason),
            reason = deposed(nb, epoch) => return TermEnd::Lost(reason),
            reason = failed.wait_for(Option::is_some) => {
                let reason = reason.map(|r| r.clone().unwrap_or_default()).unwrap_or_default();
                return TermEnd::Lost(format!("a write of the shared state failed: {reason}"));
            }
        };
        if let Err(SchedulerError::FailedOver) = &result {
            return TermEnd::Lost(
                "the Mesos master failed the framework over to another instance".into(),
            );
        }
        if let Err(e) = &result {
            error!(error = %Chain(e), "the scheduler stopped");
        }
        // The latch goes with `lock` (and the session): a standby leads next.
        TermEnd::Stopped(result.map_err(Into::into))
    }
}

/// Completes once the NB leader epoch is no longer `epoch` (another
/// instance raised it, or it was removed or rewound: every write of this
/// term would be refused).
async fn deposed(nb: &Client, epoch: u64) -> String {
    let current = |cache: &ovn::ovsdb::Cache| {
        nb_global(cache).and_then(|g| g.external_ids.get(LEADER_EPOCH)?.parse::<u64>().ok())
    };
    loop {
        if nb
            .wait_until("another leader epoch", Duration::from_secs(3600), |cache| {
                current(cache) != Some(epoch)
            })
            .await
            .is_ok()
        {
            return match nb.read(current) {
                Some(now) => format!("the NB leader epoch is {now}, not this term's {epoch}"),
                None => format!("the NB leader epoch {epoch} is gone"),
            };
        }
    }
}
