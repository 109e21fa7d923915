//! Scheduler-side steps for tests, over [`crate::client`]: start an
//! in-process cluster and wait for its agents, subscribe, wait for offers
//! or for a task to reach a state (acknowledging on the way, as drivers
//! do: an agent sends a task's next update only after the previous one is
//! acknowledged), and build the common calls.

use std::path::Path;
use std::time::Duration;

use mesos_proto::v1::scheduler::{call, event, Call};
use mesos_proto::v1::{
    framework_info::capability, framework_info::Capability, offer::operation, ExecutorInfo,
    Filters, FrameworkInfo, Offer, TaskGroupInfo, TaskInfo, TaskState, TaskStatus,
};
use mesos_proto::Encoding;

use super::fast_cluster_config;
use crate::client::{ClientError, EventStream, SchedulerClient};
use crate::cluster::{self, ClusterHandle};
use crate::config::ClusterConfig;
use crate::error::Error;

/// How long test steps wait for an event.
pub const WAIT: Duration = Duration::from_secs(30);

/// Starts [`fast_cluster_config`] (adjusted by `tune`) and waits until
/// every agent is registered.
pub async fn start_cluster(
    dir: &Path,
    agents: usize,
    tune: impl FnOnce(&mut ClusterConfig),
) -> Result<ClusterHandle, Error> {
    let mut config = fast_cluster_config(dir, agents);
    tune(&mut config);
    let cluster = cluster::start(config).await?;
    if cluster.wait_agents_registered(WAIT).await {
        Ok(cluster)
    } else {
        cluster.shutdown().await;
        Err(Error::NotRegistered(WAIT))
    }
}

/// Subscribes a framework to the master at `ip:port`.
pub async fn subscribe(
    master: &str,
    encoding: Encoding,
    info: FrameworkInfo,
) -> Result<(SchedulerClient, EventStream), ClientError> {
    let mut client = SchedulerClient::new(master, encoding);
    let events = client.subscribe(info).await?;
    Ok((client, events))
}

/// Subscribes and waits for the first offer.
pub async fn subscribe_for_offer(
    master: &str,
    encoding: Encoding,
    info: FrameworkInfo,
) -> Result<(SchedulerClient, EventStream, Offer), ClientError> {
    let (client, mut events) = subscribe(master, encoding, info).await?;
    let offer = next_offers(&mut events)
        .await?
        .into_iter()
        .next()
        .ok_or(ClientError::Ended)?;
    Ok((client, events, offer))
}

/// `info` with the PARTITION_AWARE capability.
pub fn partition_aware(mut info: FrameworkInfo) -> FrameworkInfo {
    info.capabilities.push(Capability {
        r#type: Some(capability::Type::PartitionAware as i32),
    });
    info
}

/// A call of `kind` with nothing else set.
pub fn call(kind: call::Type) -> Call {
    Call {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// ACCEPT of `offers` with one LAUNCH of `tasks`.
pub fn accept(offers: &[&Offer], tasks: Vec<TaskInfo>, refuse_seconds: Option<f64>) -> Call {
    Call {
        accept: Some(call::Accept {
            offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
            operations: vec![mesos_proto::v1::offer::Operation {
                r#type: Some(operation::Type::Launch as i32),
                launch: Some(operation::Launch { task_infos: tasks }),
                ..Default::default()
            }],
            filters: refuse_seconds.map(|s| Filters {
                refuse_seconds: Some(s),
            }),
        }),
        ..call(call::Type::Accept)
    }
}

/// ACCEPT of `offer` with one LAUNCH_GROUP of `tasks` on `executor`.
pub fn accept_group(offer: &Offer, executor: ExecutorInfo, tasks: Vec<TaskInfo>) -> Call {
    Call {
        accept: Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![mesos_proto::v1::offer::Operation {
                r#type: Some(operation::Type::LaunchGroup as i32),
                launch_group: Some(operation::LaunchGroup {
                    executor,
                    task_group: TaskGroupInfo { tasks },
                }),
                ..Default::default()
            }],
            filters: None,
        }),
        ..call(call::Type::Accept)
    }
}

/// DECLINE of `offer` with `refuse_seconds`.
pub fn decline(offer: &Offer, refuse_seconds: f64) -> Call {
    Call {
        decline: Some(call::Decline {
            offer_ids: vec![offer.id.clone()],
            filters: Some(Filters {
                refuse_seconds: Some(refuse_seconds),
            }),
        }),
        ..call(call::Type::Decline)
    }
}

/// The offers of the next OFFERS event.
pub async fn next_offers(events: &mut EventStream) -> Result<Vec<Offer>, ClientError> {
    let event = events.next_of(event::Type::Offers, WAIT).await?;
    Ok(event.offers.map(|o| o.offers).unwrap_or_default())
}

/// The next UPDATE of `task` in `state` (not acknowledged; other events
/// are skipped).
pub async fn next_update(
    events: &mut EventStream,
    task: &str,
    state: TaskState,
) -> Result<TaskStatus, ClientError> {
    let what = format!("UPDATE {task} {}", state.as_str_name());
    let event = events
        .next_matching(&what, WAIT, |e| {
            e.update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == task && u.status.state() == state)
        })
        .await?;
    Ok(event.update.map(|u| u.status).unwrap_or_default())
}

/// ACKNOWLEDGE of an update carrying a uuid (others need none).
pub async fn acknowledge(client: &SchedulerClient, status: &TaskStatus) -> Result<(), ClientError> {
    let (Some(agent_id), Some(uuid)) = (status.agent_id.clone(), status.uuid.clone()) else {
        return Ok(());
    };
    client
        .call(Call {
            acknowledge: Some(call::Acknowledge {
                agent_id,
                task_id: status.task_id.clone(),
                uuid,
            }),
            ..call(call::Type::Acknowledge)
        })
        .await
}

/// Acknowledged updates of `task` until it reaches `state`: the states
/// seen and the last status.
pub async fn updates_until(
    client: &SchedulerClient,
    events: &mut EventStream,
    task: &str,
    state: TaskState,
) -> Result<(Vec<TaskState>, TaskStatus), ClientError> {
    let what = format!("{task} reaching {}", state.as_str_name());
    let mut seen = Vec::new();
    loop {
        let event = events
            .next_matching(&what, WAIT, |e| {
                e.update
                    .as_ref()
                    .is_some_and(|u| u.status.task_id.value == task)
            })
            .await?;
        let status = event.update.map(|u| u.status).unwrap_or_default();
        acknowledge(client, &status).await?;
        seen.push(status.state());
        if status.state() == state {
            return Ok((seen, status));
        }
    }
}

/// Acknowledges every update until each `(task, state)` was seen; returns
/// the matching statuses in the order given. Use it when several tasks
/// report at once: waiting for one task at a time would skip (and leave
/// unacknowledged) the others' updates.
pub async fn reach_all(
    client: &SchedulerClient,
    events: &mut EventStream,
    targets: &[(&str, TaskState)],
) -> Result<Vec<TaskStatus>, ClientError> {
    let mut found: Vec<Option<TaskStatus>> = vec![None; targets.len()];
    while found.iter().any(Option::is_none) {
        let event = events
            .next_matching("task updates", WAIT, |e| e.update.is_some())
            .await?;
        let status = event.update.map(|u| u.status).unwrap_or_default();
        acknowledge(client, &status).await?;
        for (slot, (task, state)) in found.iter_mut().zip(targets) {
            if slot.is_none() && status.task_id.value == *task && status.state() == *state {
                *slot = Some(status.clone());
            }
        }
    }
    Ok(found.into_iter().flatten().collect())
}

/// ACCEPTs `offer` with `task` (no filter) and waits for the task's
/// TASK_RUNNING: its status.
pub async fn launch_running(
    client: &SchedulerClient,
    events: &mut EventStream,
    offer: &Offer,
    task: TaskInfo,
) -> Result<TaskStatus, ClientError> {
    let id = task.task_id.value.clone();
    client.call(accept(&[offer], vec![task], None)).await?;
    reach(client, events, &id, TaskState::TaskRunning).await
}

/// The pid a status reports for its task's executor, if any.
pub fn executor_pid(status: &TaskStatus) -> Option<u32> {
    status.container_status.as_ref()?.executor_pid
}

/// [`updates_until`], returning the last status only.
pub async fn reach(
    client: &SchedulerClient,
    events: &mut EventStream,
    task: &str,
    state: TaskState,
) -> Result<TaskStatus, ClientError> {
    updates_until(client, events, task, state)
        .await
        .map(|(_, s)| s)
}
