//! The bare scheduler both benches' baselines run: a `mesos_local::client`
//! subscription (protobuf, one event loop), what it knows of its running
//! tasks, and the calls it makes. No OVN ports, no state dir, no API.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::future::join_all;
use mesos_local::client::{EventStream, SchedulerClient};
use mesos_local::testing::framework_info;
use mesos_proto::v1::scheduler::{call, event, Call, Event};
use mesos_proto::v1::{AgentId, Filters, Offer, OfferId, TaskId, TaskState};
use mesos_proto::Encoding;

use super::setup::{LAUNCH_CPUS, LAUNCH_MEM};

fn scalar(offer: &Offer, name: &str) -> f64 {
    offer
        .resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref())
        .map(|s| s.value)
        .sum()
}

/// How many launches (task and executor resources) `offer` holds.
pub fn fit(offer: &Offer) -> usize {
    (scalar(offer, "cpus") / LAUNCH_CPUS + 1e-9)
        .floor()
        .min((scalar(offer, "mem") / LAUNCH_MEM + 1e-9).floor()) as usize
}

/// DECLINE with a 120 s filter.
pub fn decline(ids: Vec<OfferId>) -> Call {
    Call {
        r#type: Some(call::Type::Decline as i32),
        decline: Some(call::Decline {
            offer_ids: ids,
            filters: Some(Filters {
                refuse_seconds: Some(120.0),
            }),
        }),
        ..Default::default()
    }
}

/// KILL of `task` on `agent`.
pub fn kill(task: &str, agent: &AgentId) -> Call {
    Call {
        r#type: Some(call::Type::Kill as i32),
        kill: Some(call::Kill {
            task_id: TaskId::from(task),
            agent_id: Some(agent.clone()),
            kill_policy: None,
        }),
        ..Default::default()
    }
}

/// The bare scheduler's connection and what it knows of its tasks.
pub struct Bare {
    pub client: SchedulerClient,
    events: EventStream,
    /// Task id -> agent id, for the tasks RUNNING.
    pub running: BTreeMap<String, AgentId>,
}

impl Bare {
    /// Subscribes to `master` as framework `name`.
    pub async fn subscribe(master: &str, name: &str) -> anyhow::Result<Bare> {
        let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
        let mut client = SchedulerClient::with_http(http, master, Encoding::Protobuf);
        let events = client.subscribe(framework_info(name)).await?;
        Ok(Bare {
            client,
            events,
            running: BTreeMap::new(),
        })
    }

    /// The next event; an UPDATE is acknowledged and followed in `running`
    /// (anything but RUNNING or KILLED is a failure).
    pub async fn next(&mut self) -> anyhow::Result<Event> {
        let event = self
            .events
            .next_matching("baseline events", Duration::from_secs(60), |_| true)
            .await?;
        if event.r#type() == event::Type::Update {
            let status = event.update.clone().map(|u| u.status).unwrap_or_default();
            match status.state() {
                TaskState::TaskRunning => {
                    if let Some(agent) = &status.agent_id {
                        self.running
                            .insert(status.task_id.value.clone(), agent.clone());
                    }
                }
                TaskState::TaskKilled => {
                    self.running.remove(&status.task_id.value);
                }
                other => bail!("baseline task {} is {other:?}", status.task_id),
            }
            if let (Some(agent_id), Some(uuid)) = (status.agent_id, status.uuid) {
                self.client
                    .call(Call {
                        r#type: Some(call::Type::Acknowledge as i32),
                        acknowledge: Some(call::Acknowledge {
                            agent_id,
                            task_id: status.task_id,
                            uuid,
                        }),
                        ..Default::default()
                    })
                    .await
                    .context("ACKNOWLEDGE")?;
            }
        }
        Ok(event)
    }

    /// Calls concurrently, each checked.
    pub async fn all(&self, calls: Vec<Call>, what: &str) -> anyhow::Result<()> {
        for result in join_all(calls.into_iter().map(|c| self.client.call(c))).await {
            result.with_context(|| what.to_owned())?;
        }
        Ok(())
    }
}
