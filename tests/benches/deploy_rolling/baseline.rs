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

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mesos_local::testing::{command_task, scheduler};
use mesos_proto::v1::scheduler::{call, event, Event};
use mesos_proto::v1::AgentId;

use super::bare::{decline, fit, kill, Bare};
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

/// Packs one OFFERS event with tasks named `{prefix}{i}`, `i` from
/// `*next` while below `until`; ACCEPTs concurrently, declines the rest.
async fn launch(
    bare: &Bare,
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
    bare.all(accepts, "baseline ACCEPT").await?;
    if !unused.is_empty() {
        bare.client.call(decline(unused)).await.context("DECLINE")?;
    }
    Ok(())
}

/// Launches `instances` old tasks, then rolls them to new ones keeping at
/// least `min_health` x `instances` running.
pub async fn run(master: &str, instances: usize, min_health: f64) -> anyhow::Result<Baseline> {
    let mut bare = Bare::subscribe(master, "baseline").await?;
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
            launch(&bare, event, "old-", &mut launched, instances).await?;
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
            launch(&bare, event, "new-", &mut new_launched, instances).await?;
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
