//! The baseline: a bare scheduler on `mesos_local::client` (protobuf, one
//! event loop like the framework's) launching the same number of tasks
//! with the same per-launch resources on the same agents, with no OVN
//! ports, no state dir and no API: per OFFERS event it packs each offer,
//! ACCEPTs them concurrently (one LAUNCH each) and declines the rest;
//! every update is acknowledged before the next event is read. Measured
//! like the framework: OFFERS received -> its ACCEPTs answered (one
//! observation per used offer) and first OFFERS -> the last TASK_RUNNING.
//! It tears itself down at the end, so its tasks free their resources.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::future::join_all;
use mesos_local::client::SchedulerClient;
use mesos_local::testing::{command_task, framework_info};
use mesos_proto::v1::scheduler::{call, event, Call};
use mesos_proto::v1::{offer::operation, Filters, Offer, OfferId, TaskState};
use mesos_proto::Encoding;

use super::setup::{LAUNCH_CPUS, LAUNCH_MEM};

/// What the baseline measured.
pub struct Baseline {
    /// First OFFERS received -> the last TASK_RUNNING.
    pub launch: Duration,
    /// OFFERS received -> its ACCEPTs answered, per used offer.
    pub latencies: Vec<Duration>,
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

fn accept(offer: &Offer, first: usize, count: usize) -> Call {
    let resources = format!("cpus:{LAUNCH_CPUS};mem:{LAUNCH_MEM}");
    let tasks = (first..first + count)
        .map(|i| {
            command_task(
                &format!("base-{i}"),
                &offer.agent_id.value,
                "true",
                &resources,
            )
        })
        .collect();
    Call {
        r#type: Some(call::Type::Accept as i32),
        accept: Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![mesos_proto::v1::offer::Operation {
                r#type: Some(operation::Type::Launch as i32),
                launch: Some(operation::Launch { task_infos: tasks }),
                ..Default::default()
            }],
            filters: Some(Filters {
                refuse_seconds: Some(5.0),
            }),
        }),
        ..Default::default()
    }
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

/// Launches `tasks` tasks and waits for all of them to be RUNNING.
pub async fn run(master: &str, tasks: usize) -> anyhow::Result<Baseline> {
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let mut client = SchedulerClient::with_http(http, master, Encoding::Protobuf);
    let mut events = client.subscribe(framework_info("baseline")).await?;
    let (mut launched, mut running) = (0usize, 0usize);
    let mut first_offers: Option<Instant> = None;
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while running < tasks {
        if Instant::now() > deadline {
            bail!("baseline timed out: {launched} launched, {running} of {tasks} running");
        }
        let event = events
            .next_matching("baseline events", Duration::from_secs(60), |_| true)
            .await?;
        let received = Instant::now();
        match event.r#type() {
            event::Type::Offers => {
                first_offers.get_or_insert(received);
                let mut accepts = Vec::new();
                let mut unused = Vec::new();
                for offer in event.offers.map(|o| o.offers).unwrap_or_default() {
                    let fit = (scalar(&offer, "cpus") / LAUNCH_CPUS + 1e-9)
                        .floor()
                        .min((scalar(&offer, "mem") / LAUNCH_MEM + 1e-9).floor())
                        as usize;
                    let count = fit.min(tasks - launched);
                    if count == 0 {
                        unused.push(offer.id.clone());
                        continue;
                    }
                    accepts.push(accept(&offer, launched, count));
                    launched += count;
                }
                let used = accepts.len();
                for result in join_all(accepts.into_iter().map(|c| client.call(c))).await {
                    result.context("baseline ACCEPT")?;
                }
                let took = received.elapsed();
                latencies.extend(std::iter::repeat_n(took, used));
                if !unused.is_empty() {
                    client.call(decline(unused)).await.context("DECLINE")?;
                }
            }
            event::Type::Update => {
                let status = event.update.map(|u| u.status).unwrap_or_default();
                match status.state() {
                    TaskState::TaskRunning => running += 1,
                    other => bail!("baseline task {} is {other:?}", status.task_id),
                }
                if let (Some(agent_id), Some(uuid)) = (status.agent_id, status.uuid) {
                    client
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
            _ => {}
        }
    }
    let launch = first_offers.map_or(Duration::ZERO, |t| t.elapsed());
    client
        .call(Call {
            r#type: Some(call::Type::Teardown as i32),
            ..Default::default()
        })
        .await
        .context("baseline TEARDOWN")?;
    Ok(Baseline { launch, latencies })
}

/// The exact quantile `q` of `values`.
pub fn quantile(values: &[Duration], q: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or_default()
}
