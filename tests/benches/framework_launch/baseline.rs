//! The baseline: a bare scheduler on `mesos_local::client` (protobuf, one
//! event loop like the framework's) launching the same number of tasks
//! with the same per-launch resources on the same agents, with no OVN
//! ports, no state dir and no API: per OFFERS event it packs each offer,
//! ACCEPTs them concurrently (one LAUNCH each) and declines the rest;
//! every update is acknowledged before the next event is read. Measured
//! like the framework, per used offer: OFFERS received -> its ACCEPT
//! answered, and its ACCEPT call alone (sent -> answered); and first
//! OFFERS -> the last TASK_RUNNING. Then the steady phase: `relaunches`
//! times, KILL one task, REVIVE, and launch its replacement on the next
//! OFFERS event (one offer used, the rest declined), measured the same way.
//! It tears itself down at the end, so its tasks free their resources.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::future::join_all;
use mesos_local::testing::{command_task, scheduler};
use mesos_proto::v1::scheduler::{call, event, Call};
use mesos_proto::v1::{Offer, OfferId};

use super::bare::{decline, fit, kill, Bare};
use super::setup::{LAUNCH_CPUS, LAUNCH_MEM};

/// Per used offer: OFFERS received -> ACCEPT answered, and the ACCEPT call alone.
#[derive(Default)]
pub struct Latencies {
    pub waited: Vec<Duration>,
    pub call: Vec<Duration>,
}

/// What the baseline measured.
pub struct Baseline {
    /// First OFFERS received -> the last TASK_RUNNING.
    pub launch: Duration,
    pub burst: Latencies,
    pub steady: Latencies,
    /// KILL sent -> the replacement TASK_RUNNING, per relaunch.
    pub replaced: Vec<Duration>,
}

fn accept(offer: &Offer, ids: impl Iterator<Item = String>) -> Call {
    let resources = format!("cpus:{LAUNCH_CPUS};mem:{LAUNCH_MEM}");
    let tasks = ids
        .map(|id| command_task(&id, &offer.agent_id.value, "true", &resources))
        .collect();
    scheduler::accept(&[offer], tasks, Some(5.0))
}

/// ACCEPTs concurrently; per call: received -> answered and the call alone.
async fn accept_all(
    bare: &Bare,
    received: Instant,
    calls: Vec<Call>,
    into: &mut Latencies,
) -> anyhow::Result<()> {
    let timed = calls.into_iter().map(|c| async move {
        let sent = Instant::now();
        let result = bare.client.call(c).await;
        (result, received.elapsed(), sent.elapsed())
    });
    for (result, waited, call) in join_all(timed).await {
        result.context("baseline ACCEPT")?;
        into.waited.push(waited);
        into.call.push(call);
    }
    Ok(())
}

/// Launches `tasks` tasks and waits for all of them to be RUNNING, then
/// kills and replaces `relaunches` of them one at a time.
pub async fn run(master: &str, tasks: usize, relaunches: usize) -> anyhow::Result<Baseline> {
    let mut bare = Bare::subscribe(master, "baseline").await?;
    let mut launched = 0usize;
    let mut first_offers: Option<Instant> = None;
    let mut burst = Latencies::default();
    let deadline = Instant::now() + Duration::from_secs(120);
    while bare.running.len() < tasks {
        if Instant::now() > deadline {
            bail!(
                "baseline timed out: {launched} launched, {} of {tasks} running",
                bare.running.len()
            );
        }
        let event = bare.next().await?;
        let received = Instant::now();
        if event.r#type() != event::Type::Offers {
            continue;
        }
        first_offers.get_or_insert(received);
        let mut accepts = Vec::new();
        let mut unused = Vec::new();
        for offer in event.offers.map(|o| o.offers).unwrap_or_default() {
            let count = fit(&offer).min(tasks - launched);
            if count == 0 {
                unused.push(offer.id.clone());
                continue;
            }
            accepts.push(accept(
                &offer,
                (launched..launched + count).map(|i| format!("base-{i}")),
            ));
            launched += count;
        }
        accept_all(&bare, received, accepts, &mut burst).await?;
        if !unused.is_empty() {
            bare.client.call(decline(unused)).await.context("DECLINE")?;
        }
    }
    let launch = first_offers.map_or(Duration::ZERO, |t| t.elapsed());

    let mut steady = Latencies::default();
    let mut replaced = Vec::new();
    for i in 0..relaunches {
        let (task, agent) = bare
            .running
            .iter()
            .find(|(id, _)| id.starts_with("base-"))
            .map(|(t, a)| (t.clone(), a.clone()))
            .context("a running task to kill")?;
        let killed = Instant::now();
        bare.client
            .call(kill(&task, &agent))
            .await
            .context("KILL")?;
        while bare.running.contains_key(&task) {
            bare.next().await?;
        }
        bare.client
            .call(scheduler::call(call::Type::Revive))
            .await
            .context("REVIVE")?;
        let replacement = format!("again-{i}");
        let mut accepted = false;
        while !bare.running.contains_key(&replacement) {
            let event = bare.next().await?;
            let received = Instant::now();
            if event.r#type() != event::Type::Offers {
                continue;
            }
            let offers = event.offers.map(|o| o.offers).unwrap_or_default();
            let mut unused: Vec<OfferId> = Vec::new();
            let mut calls = Vec::new();
            for offer in offers {
                if !accepted && fit(&offer) > 0 {
                    calls.push(accept(&offer, std::iter::once(replacement.clone())));
                    accepted = true;
                } else {
                    unused.push(offer.id.clone());
                }
            }
            accept_all(&bare, received, calls, &mut steady).await?;
            if !unused.is_empty() {
                bare.client.call(decline(unused)).await.context("DECLINE")?;
            }
        }
        replaced.push(killed.elapsed());
    }
    bare.client
        .call(scheduler::call(call::Type::Teardown))
        .await
        .context("baseline TEARDOWN")?;
    Ok(Baseline {
        launch,
        burst,
        steady,
        replaced,
    })
}

/// The exact quantile `q` of `values`.
pub fn quantile(values: &[Duration], q: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or_default()
}
