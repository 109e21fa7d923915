//! The agent's link to the master ([`crate::protocol`]): (re-)registration
//! with what the agent runs, reading the master's command stream, and
//! posting queued events (status updates, executor exits and messages,
//! pongs) in batches. When the stream ends the agent re-registers with
//! backoff; in-flight status updates are resent once registered.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mesos_proto::{RecordIoDecoder, APPLICATION_PROTOBUF};
use prost::Message;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{Agent, Session};
use crate::protocol::{
    master_message, AgentEvent, AgentMessages, MasterMessage, RegisterAgent, Registered,
    EVENTS_PATH, SUBSCRIBE_PATH,
};

/// Most events posted in one request.
const BATCH: usize = 4096;

/// First pause before re-registering.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

impl Agent {
    /// Keeps the agent registered until shutdown.
    pub(crate) async fn run_master_link(self: Arc<Self>) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            match self.connect_once().await {
                Ok(()) => backoff = FIRST_BACKOFF,
                Err(error) => {
                    debug!(master = %self.config.master, %error, "cannot reach the master")
                }
            }
            self.session.send_replace(None);
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
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

    async fn connect_once(self: &Arc<Self>) -> Result<(), String> {
        let url = format!("http://{}{SUBSCRIBE_PATH}", self.config.master);
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
                    warn!(master = %self.config.master, "master stream ended; re-registering");
                    return Ok(());
                }
                Some(Err(e)) => return Err(format!("master stream failed: {e}")),
                Some(Ok(bytes)) => decoder.push(&bytes),
            }
            while let Some(record) = decoder.next_record().map_err(|e| e.to_string())? {
                let message = MasterMessage::decode(record).map_err(|e| e.to_string())?;
                match message.kind {
                    Some(master_message::Kind::Registered(registered)) => {
                        self.registered(registered)
                    }
                    _ => self.handle_master_message(message),
                }
            }
        }
    }

    fn registered(&self, registered: Registered) {
        let agent_id = registered.agent_id.unwrap_or_default().value;
        let previous = self.lock().agent_id.replace(agent_id.clone());
        info!(agent = %agent_id, reregistered = previous.is_some(), "registered with the master");
        self.session.send_replace(Some(Session {
            agent_id,
            session: registered.session,
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
        let url = format!("http://{}{EVENTS_PATH}", self.config.master);
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
