//! The baseline: a bare scheduler on `mesos_local::client` (protobuf, one
//! event loop) running the same rolling update on the same agents with no
//! OVN ports, no VIP, no state dir and no API. It launches `instances`
//! old tasks, waits for them to run, then replaces them by Marathon's
//! rule with the same settings as the framework's definition: at once it
//! kills old tasks down to `minimum_health_capacity` x instances and
//! launches new ones up to `instances` x (1 + `maximum_over_capacity`)
//! tasks in all (every new one, here), and then kills one old task for
//! each new one that runs, as long as the running tasks stay at or above
//! the minimum. Done when every new task runs and every old one is
//! KILLED. Updates are acknowledged before the next event is read. It
//! tears itself down at the end, so its tasks free their resources.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::future::join_all;
use mesos_local::client::{EventStream, SchedulerClient};
use mesos_local::testing::{command_task, framework_info, scheduler};
use mesos_proto::v1::scheduler::{call, event, Call, Event};
use mesos_proto::v1::{AgentId, Filters, Offer, OfferId, TaskId, TaskState};
use mesos_proto::Encoding;

use super::setup::{LAUNCH_CPUS, LAUNCH_MEM};

/// What the baseline measured.
pub struct Baseline {
    /// Every new task RUNNING and every old one KILLED, from the start of
    /// the update.
    pub rolled: Duration,
    /// The fewest tasks running and not being killed at any point of the
    /// update.
    pub min_serving: usize,
}

fn scalar(offer: &Offer, name: &str) -> f64 {
    offer
        .resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref())
        .map(|s| s.value)
        .sum()
}

fn fit(offer: &Offer) -> usize {
    (scalar(offer, "cpus") / LAUNCH_CPUS + 1e-9)
        .floor()
        .min((scalar(offer, "mem") / LAUNCH_MEM + 1e-9).floor()) as usize
}

fn decline(ids: Vec<OfferId>) -> Call {
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

fn kill(task: &str, agent: &AgentId) -> Call {
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
struct Bare {
    client: SchedulerClient,
    events: EventStream,
    /// Task id -> agent id, for the tasks RUNNING.
    running: BTreeMap<String, AgentId>,
}

impl Bare {
    /// The next event; an UPDATE is acknowledged and followed in
    /// `running` (anything but RUNNING or KILLED is a failure).
    async fn next(&mut self) -> anyhow::Result<Event> {
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
    async fn all(&self, calls: Vec<Call>, what: &str) -> anyhow::Result<()> {
        for result in join_all(calls.into_iter().map(|c| self.client.call(c))).await {
            result.with_context(|| what.to_owned())?;
        }
        Ok(())
    }

    /// Packs one OFFERS event with tasks named `{prefix}{i}`, `i` from
    /// `*next` while below `until`; ACCEPTs concurrently, declines the rest.
    async fn launch(
        &mut self,
        event: Event,
        prefix: &str,
        next: &mut usize,
        until: usize,
    ) -> anyhow::Result<()> {
        let resources = format!("cpus:{LAUNCH_CPUS};mem:{LAUNCH_MEM}");
        let mut accepts = Vec::new();
        let mut unused = Vec::new();
        for offer in event.offers.map(|o| o.offers).unwrap_or_default() {
            let count = fit(&offer).min(until - *next);
            if count == 0 {
                unused.push(offer.id.clone());
                continue;
            }
            let tasks = (*next..*next + count)
                .map(|i| {
                    command_task(
                        &format!("{prefix}{i}"),
                        &offer.agent_id.value,
                        "true",
                        &resources,
                    )
                })
                .collect();
            accepts.push(scheduler::accept(&[&offer], tasks, Some(5.0)));
            *next += count;
        }
        self.all(accepts, "baseline ACCEPT").await?;
        if !unused.is_empty() {
            self.client.call(decline(unused)).await.context("DECLINE")?;
        }
        Ok(())
    }
}

/// Launches `instances` old tasks, then rolls them to new ones keeping at
/// least `min_health` x `instances` running.
pub async fn run(master: &str, instances: usize, min_health: f64) -> anyhow::Result<Baseline> {
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let mut client = SchedulerClient::with_http(http, master, Encoding::Protobuf);
    let events = client.subscribe(framework_info("baseline")).await?;
    let mut bare = Bare {
        client,
        events,
        running: BTreeMap::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut launched = 0usize;
    while bare.running.len() < instances {
        if Instant::now() > deadline {
            bail!(
                "baseline: {} of {instances} old tasks running after 120 s",
                bare.running.len()
            );
        }
        let event = bare.next().await?;
        if event.r#type() == event::Type::Offers {
            bare.launch(event, "old-", &mut launched, instances).await?;
        }
    }

    let minimum = (min_health * instances as f64).ceil() as usize;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    // Old tasks not sent a KILL yet (all running).
    let mut old_left: Vec<(String, AgentId)> = bare
        .running
        .iter()
        .map(|(t, a)| (t.clone(), a.clone()))
        .collect();
    let mut new_launched = 0usize;
    let mut min_serving = instances;
    let mut revived = false;
    loop {
        let new_running = bare
            .running
            .keys()
            .filter(|t| t.starts_with("new-"))
            .count();
        // Running and not being killed: the new running ones and the old
        // ones not sent a KILL. One old task goes while this stays at or
        // above the minimum.
        let mut serving = new_running + old_left.len();
        let mut kills = Vec::new();
        while !old_left.is_empty() && serving > minimum {
            let (task, agent) = old_left.remove(0);
            kills.push(kill(&task, &agent));
            serving -= 1;
        }
        min_serving = min_serving.min(serving);
        bare.all(kills, "baseline KILL").await?;
        if !revived {
            bare.client
                .call(scheduler::call(call::Type::Revive))
                .await
                .context("REVIVE")?;
            revived = true;
        }
        let old_running = bare.running.len() - new_running;
        if new_running == instances && old_running == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("baseline update not done after 120 s: {new_running} new running, {old_running} old");
        }
        let event = bare.next().await?;
        if event.r#type() == event::Type::Offers {
            bare.launch(event, "new-", &mut new_launched, instances)
                .await?;
        }
    }
    let rolled = started.elapsed();
    bare.client
        .call(scheduler::call(call::Type::Teardown))
        .await
        .context("baseline TEARDOWN")?;
    Ok(Baseline {
        rolled,
        min_serving,
    })
}
