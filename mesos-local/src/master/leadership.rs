//! Leadership of a master started with `--zk`, after Mesos' `Master::contended`,
//! `Master::lostCandidacy`, `Master::detected` (`src/master/master.cpp`)
//! and `Master::Http::redirect` (`src/master/http.cpp`):
//!
//! * The master contends ([`crate::zookeeper::contend`], its own session)
//!   and detects the leader ([`MasterDetector`], another session, as the
//!   Mesos master's contender and detector each have their own `Group`).
//! * It is elected when the detected leader is itself; only then does it
//!   serve the scheduler API, `/state` and agents.
//! * It aborts ("committing suicide", as Mesos' `EXIT(EXIT_FAILURE)`) when
//!   it loses its candidacy while leading (its session expired, or its
//!   znode was removed), when another master is detected as leader while
//!   it led, or when no leader is detected while it led. A follower that
//!   loses its candidacy contends again. Aborting stops serving at once
//!   (every stream closed); the `mesos-local master` process then exits
//!   with status 1 and `mesos-local run` restarts the master, as a
//!   supervisor restarts a Mesos master.
//! * A master that does not lead answers the scheduler API and `/state`
//!   with `307 Temporary Redirect` to `//<leader hostname>:<port><path>`
//!   (a protocol-relative URL), `/redirect` and `/master/redirect` with
//!   `307` to `//<leader hostname>:<port>` on every master, and `503 No
//!   leader elected` while no leader is known.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mesos_proto::v1;
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::events::now_secs;
use super::Master;
use crate::zookeeper::{self, MasterDetector, ZkConfig};

/// The pause before a follower that lost its candidacy contends again.
const CONTEND_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

impl Master {
    /// Whether this master leads (the detected leader is itself).
    pub(crate) fn elected(&self) -> bool {
        self.leader
            .borrow()
            .as_ref()
            .is_some_and(|leader| leader.id == self.info.id)
    }

    /// The leader as last detected.
    pub(crate) fn leader(&self) -> Option<v1::MasterInfo> {
        self.leader.borrow().clone()
    }

    /// Stops leading and serving at once: the reason is kept for
    /// [`super::MasterHandle::aborted`] (the process exits with it).
    pub(crate) fn abort(&self, reason: &str) {
        if self.aborted.is_cancelled() {
            return;
        }
        error!(master = %self.info.id, "{reason}");
        if let Ok(mut slot) = self.abort_reason.lock() {
            slot.get_or_insert_with(|| reason.to_string());
        }
        self.leader.send_replace(None);
        self.aborted.cancel();
        self.cancel.cancel();
    }

    /// `Master::detected`: a new election result.
    fn detected(&self, leader: Option<v1::MasterInfo>) {
        let was_elected = self.elected();
        self.leader.send_replace(leader.clone());
        if self.elected() {
            if let Ok(mut time) = self.elected_time.lock() {
                *time = Some(now_secs());
            }
            if was_elected {
                info!("Re-elected as the leading master");
            } else {
                info!(master = %self.info.id, "Elected as the leading master!");
                self.lock().mark_all_dirty();
                self.trigger_allocation();
            }
        } else if let Some(leader) = leader {
            info!(
                leader = %leader.pid.clone().unwrap_or_default(),
                id = %leader.id,
                "The newly elected leader is another master"
            );
            if was_elected {
                self.abort("Conceded leadership to another master... committing suicide!");
            }
        } else {
            info!("No master was elected.");
            if was_elected {
                self.abort("Lost leadership after indecisive election... committing suicide!");
            }
        }
    }

    /// Contends for leadership until the master stops (`Master::contended`
    /// and `Master::lostCandidacy`).
    pub(crate) async fn run_contender(self: Arc<Self>, zk: ZkConfig) {
        let data = match zookeeper::master_info_json(&self.info) {
            Ok(json) => json,
            Err(e) => {
                self.abort(&format!("Failed to contend: cannot write MasterInfo: {e}"));
                return;
            }
        };
        loop {
            let joined = |member: &zookeeper::Membership| info!(membership = %member.name, group = %zk.url.path, "joined the ZooKeeper group");
            let Some(reason) = zookeeper::contend(
                &zk.url,
                zk.session_timeout,
                data.as_bytes(),
                joined,
                &self.cancel,
            )
            .await
            else {
                return;
            };
            if self.elected() {
                self.abort(&format!(
                    "Lost candidacy as a leader ({reason})... committing suicide!"
                ));
                return;
            }
            warn!(%reason, "Lost candidacy as a follower... Contend again");
            // A contention refused at once (ACLs) must not spin.
            tokio::select! {
                () = tokio::time::sleep(CONTEND_AGAIN_AFTER) => {}
                () = self.cancel.cancelled() => return,
            }
        }
    }

    /// Follows the detector's election results until the master stops.
    pub(crate) async fn run_detection(self: Arc<Self>, detector: MasterDetector) {
        let mut leader: watch::Receiver<Option<v1::MasterInfo>> = detector.subscribe();
        // `None` before the first result means nothing was detected yet.
        let initial = leader.borrow_and_update().clone();
        if initial.is_some() {
            self.detected(initial);
        }
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return,
                changed = leader.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            let current = leader.borrow_and_update().clone();
            self.detected(current);
        }
    }

    /// `Master::Http::redirect`: 307 to the leader (the request's path and
    /// query appended, except for `/redirect` itself), 503 without one.
    pub(crate) fn redirect(&self, uri: &Uri) -> Response {
        let Some(leader) = self.leader() else {
            warn!(%uri, "Current master is not elected as leader, and leader information is unavailable. Failed to redirect the request");
            return (StatusCode::SERVICE_UNAVAILABLE, "No leader elected").into_response();
        };
        let hostname = leader
            .hostname
            .clone()
            .unwrap_or_else(|| std::net::Ipv4Addr::from(leader.ip.to_le_bytes()).to_string());
        let base = format!("//{hostname}:{}", leader.port);
        let path = uri.path();
        let location = if path == "/redirect" || path == "/master/redirect" {
            base
        } else if path.starts_with("/redirect/") || path.starts_with("/master/redirect/") {
            // Prevents a redirection loop.
            return StatusCode::NOT_FOUND.into_response();
        } else {
            let path_and_query = uri.path_and_query().map_or(path, |p| p.as_str());
            format!("{base}{path_and_query}")
        };
        info!(%uri, leader = %hostname, "Redirecting request to the leading master");
        let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }
}

/// `GET /redirect` and `/master/redirect`.
pub(crate) async fn redirect_endpoint(State(master): State<Arc<Master>>, uri: Uri) -> Response {
    master.redirect(&uri)
}
