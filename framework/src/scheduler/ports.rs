//! The port worker: deletes the logical switch ports of tasks that ended
//! (`ovn-nbctl lsp-del`), one transaction each, in the order the core asked,
//! so the event loop never waits for the NB. A stray task's port (an
//! update for a task the book does not have) is deleted only if this
//! framework owns it, which the NB cache's name index tells without a scan.
//! A failure is logged and left to the next start-up repair or stray update.

use std::sync::Arc;
use std::time::Duration;

use mesos_proto::v1::FrameworkId;
use ovn::nb::{LogicalSwitchPort, Table};
use ovn::ovsdb::{Cache, Client, Datum};
use ovn::owner::{self, Kind};
use ovn::ports::delete_task_port;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::api::Metrics;
use ovn::report::Chain;

/// How long a stop waits for the deletions still queued.
const DRAIN: Duration = Duration::from_secs(10);

/// A deletion for the worker.
#[derive(Debug)]
pub(super) enum PortJob {
    Delete(String),
    /// Delete only if `framework` owns the port.
    DeleteStray {
        port: String,
        framework: FrameworkId,
    },
}

/// The port worker's queue.
#[derive(Debug)]
pub(super) struct PortWorker {
    tx: mpsc::UnboundedSender<PortJob>,
    task: JoinHandle<()>,
}

impl PortWorker {
    pub(super) fn start(nb: Client, metrics: Arc<Metrics>) -> PortWorker {
        let (tx, rx) = mpsc::unbounded_channel();
        PortWorker {
            tx,
            task: tokio::spawn(run(nb, metrics, rx)),
        }
    }

    pub(super) fn send(&self, job: PortJob) {
        if let Err(e) = self.tx.send(job) {
            warn!(job = ?e.0, "the port worker is gone; the port stays until the next start");
        }
    }

    /// Deletes what is queued (for a while), then ends.
    pub(super) async fn finish(self) {
        drop(self.tx);
        if tokio::time::timeout(DRAIN, self.task).await.is_err() {
            warn!("task port deletions still under way at shutdown; the next start repairs them");
        }
    }
}

async fn run(nb: Client, metrics: Arc<Metrics>, mut rx: mpsc::UnboundedReceiver<PortJob>) {
    while let Some(job) = rx.recv().await {
        let name = match job {
            PortJob::Delete(name) => name,
            PortJob::DeleteStray { port, framework } => {
                if !nb.read(|cache| owned_by(cache, &port, &framework)) {
                    continue;
                }
                info!(port = %port, "deleting the port of an ended task");
                port
            }
        };
        match delete_task_port(&nb, &name).await {
            Ok(_) => metrics.ovsdb_transaction(),
            Err(e) => {
                metrics.ovsdb_error();
                warn!(port = %name, error = %Chain(&e), "cannot delete the task port");
            }
        }
    }
}

/// Whether the task port `name` exists and belongs to `framework`.
fn owned_by(cache: &Cache, name: &str, framework: &FrameworkId) -> bool {
    cache
        .find(LogicalSwitchPort::TABLE, "name", &Datum::string(name))
        .iter()
        .any(|(_, row)| {
            let ids = row
                .get("external_ids")
                .map(Datum::string_map_value)
                .unwrap_or_default();
            owner::kind_of(&ids) == Some(Kind::TaskPort)
                && ids.get(owner::FRAMEWORK).map(String::as_str) == Some(framework.as_str())
        })
}
