//! The agent's link to the master ([`crate::protocol`]): (re-)registration
//! with what the agent runs, reading the master's command stream, and
//! posting queued events (status updates, executor exits and messages,
//! pongs) in batches, to the master it registered with. When the stream
//! ends the agent re-registers with backoff; in-flight status updates are
//! resent once registered. The master is the one the agent's detector
//! names: the `--master` address, or the leader of a ZooKeeper group,
//! followed across leader changes.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mesos_proto::v1;
use mesos_proto::{RecordIoDecoder, APPLICATION_PROTOBUF};
use prost::Message;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::{Agent, Session};
use crate::protocol::{
    master_message, AgentEvent, AgentMessages, MasterMessage, RegisterAgent, Registered,
    EVENTS_PATH, SUBSCRIBE_PATH,
};
use crate::zookeeper::master_endpoint;

/// Most events posted in one request.
const BATCH: usize = 4096;

/// First pause before re-registering.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

impl Agent {
    /// Keeps the agent registered with the leading master until shutdown.
    /// A newly detected leader (`Slave::detected`) ends the current
    /// registration at once and the agent re-registers with the new
    /// master, reporting its frameworks, executors and tasks (Mesos'
    /// REREGISTER_SLAVE); while no leader is known the agent waits.
    pub(crate) async fn run_master_link(self: Arc<Self>) {
        let mut leader = self.detector.subscribe();
        let mut backoff = FIRST_BACKOFF;
        let mut last: Option<String> = None;
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let detected = leader.borrow_and_update().clone();
            let master = detected.as_ref().and_then(master_endpoint);
            if master != last {
                match &master {
                    Some(m) => info!(master = %m, "New master detected"),
                    None => info!("Lost leading master"),
                }
                last.clone_from(&master);
                backoff = FIRST_BACKOFF;
            }
            let Some(master) = master else {
                self.session.send_replace(None);
                tokio::select! {
                    () = self.cancel.cancelled() => return,
                    () = leader_changed(&mut leader) => {}
                }
                continue;
            };
            let outcome = tokio::select! {
                result = self.connect_once(&master) => Some(result),
                () = leader_changed(&mut leader) => None,
            };
            self.session.send_replace(None);
            match outcome {
                // Another master leads: register with it now.
                None => continue,
                Some(Ok(())) => backoff = FIRST_BACKOFF,
                Some(Err(error)) => debug!(%master, %error, "cannot reach the master"),
            }
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
                () = leader_changed(&mut leader) => {}
            }
            backoff = (backoff * 2).min(self.config.registration_backoff_max.max(FIRST_BACKOFF));
        }
    }

    /// What the agent tells the master when (re-)registering.
    fn registration(&self) -> RegisterAgent {
        let state = self.lock();
        let agent_id = state.agent_id.clone();
        let mut info = self.info.clone();
        info.id = agent_id.as_deref().map(Into::into);
        let mut register = RegisterAgent {
            agent_info: Some(info),
            endpoint: self.endpoint.clone(),
            ..Default::default()
        };
        for framework in state.frameworks.values().filter(|f| !f.terminating) {
            register.frameworks.push(framework.info.clone());
            for executor in framework.executors.values() {
                if executor.kind.is_custom() {
                    let mut info = executor.info.clone();
                    info.framework_id = framework.info.id.clone();
                    register.executors.push(info);
                }
                register.tasks.extend(
                    executor.tasks(&framework.info, agent_id.as_deref().unwrap_or_default()),
                );
            }
        }
        register
    }

    async fn connect_once(self: &Arc<Self>, master: &str) -> Result<(), String> {
        let url = format!("http://{master}{SUBSCRIBE_PATH}");
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, APPLICATION_PROTOBUF)
            .body(self.registration().encode_to_vec())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(format!("registration refused: {status}: {body}"));
        }
        let mut body = response.bytes_stream();
        let mut decoder = RecordIoDecoder::new();
        loop {
            let chunk = tokio::select! {
                () = self.cancel.cancelled() => return Ok(()),
                chunk = body.next() => chunk,
            };
            match chunk {
                None => {
                    warn!(%master, "master stream ended; re-registering");
                    return Ok(());
                }
                Some(Err(e)) => return Err(format!("master stream failed: {e}")),
                Some(Ok(bytes)) => decoder.push(&bytes),
            }
            while let Some(record) = decoder.next_record().map_err(|e| e.to_string())? {
                let message = MasterMessage::decode(record).map_err(|e| e.to_string())?;
                match message.kind {
                    Some(master_message::Kind::Registered(registered)) => {
                        self.registered(registered, master)
                    }
                    _ => self.handle_master_message(message),
                }
            }
        }
    }

    fn registered(&self, registered: Registered, master: &str) {
        let agent_id = registered.agent_id.unwrap_or_default().value;
        let previous = self.lock().agent_id.replace(agent_id.clone());
        info!(agent = %agent_id, %master, reregistered = previous.is_some(), "registered with the master");
        self.session.send_replace(Some(Session {
            agent_id,
            session: registered.session,
            master: master.to_string(),
        }));
        self.resend_in_flight(None);
    }

    async fn current_session(&self) -> Option<Session> {
        let mut rx = self.session.subscribe();
        loop {
            if let Some(session) = rx.borrow_and_update().clone() {
                return Some(session);
            }
            tokio::select! {
                () = self.cancel.cancelled() => return None,
                changed = rx.changed() => changed.ok()?,
            }
        }
    }

    /// Posts queued events to the master in batches, in order.
    pub(crate) async fn run_outbox(self: Arc<Self>, mut rx: mpsc::Receiver<AgentEvent>) {
        loop {
            let first = tokio::select! {
                () = self.cancel.cancelled() => return,
                event = rx.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
            };
            let mut events = vec![first];
            while events.len() < BATCH {
                match rx.try_recv() {
                    Ok(event) => events.push(event),
                    Err(_) => break,
                }
            }
            let Some(session) = self.current_session().await else {
                return;
            };
            let url = format!("http://{}{EVENTS_PATH}", session.master);
            let batch = AgentMessages {
                agent_id: session.agent_id,
                session: session.session,
                events,
            };
            let sent = self
                .http
                .post(&url)
                .header(CONTENT_TYPE, APPLICATION_PROTOBUF)
                .body(batch.encode_to_vec())
                .send()
                .await;
            match sent {
                Ok(response) if response.status() == StatusCode::ACCEPTED => {}
                Ok(response) => {
                    warn!(status = %response.status(), events = batch.events.len(), "master refused agent events")
                }
                Err(e) => {
                    warn!(error = %e, events = batch.events.len(), "cannot post agent events; status updates will be retried")
                }
            }
        }
    }
}

/// Resolves when the detected leader changes (never once the detector is
/// gone).
async fn leader_changed(leader: &mut watch::Receiver<Option<v1::MasterInfo>>) {
    if leader.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}
