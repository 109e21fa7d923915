//! The `--noop-hold` bench setting on an in-process cluster: tasks report
//! TASK_RUNNING and stay up (no TASK_FINISHED follows) until a KILL, a
//! SHUTDOWN of their executor or the framework's TEARDOWN ends them, after
//! which their resources are offered again.

use std::path::Path;

use mesos_local::client::{EventStream, SchedulerClient};
use mesos_local::cluster::ClusterHandle;
use mesos_local::testing::scheduler::{
    accept, call, next_offers, start_cluster, subscribe, subscribe_for_offer, updates_until, WAIT,
};
use mesos_local::testing::{command_task, framework_info};
use mesos_proto::v1::scheduler::{call, event, Call};
use mesos_proto::v1::{executor_info, ExecutorInfo, Offer, TaskInfo, TaskState};
use mesos_proto::Encoding;

/// A custom ExecutorInfo (nothing runs it in hold mode).
fn executor(id: &str) -> ExecutorInfo {
    ExecutorInfo {
        r#type: Some(executor_info::Type::Custom as i32),
        executor_id: id.into(),
        command: Some(mesos_proto::v1::CommandInfo {
            value: Some("/nonexistent/executor".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn task_on(id: &str, offer: &Offer, executor: Option<&ExecutorInfo>) -> TaskInfo {
    let mut task = command_task(id, &offer.agent_id.value, "true", "cpus:1;mem:64");
    if let Some(executor) = executor {
        task.command = None;
        task.executor = Some(executor.clone());
    }
    task
}

fn cpus(offer: &Offer) -> f64 {
    offer
        .resources
        .iter()
        .filter(|r| r.name == "cpus")
        .filter_map(|r| r.scalar.as_ref())
        .map(|s| s.value)
        .sum()
}

/// A one-agent cluster in hold mode.
async fn hold_cluster(dir: &Path) -> ClusterHandle {
    start_cluster(dir, 1, |c| c.agent.noop_hold = true)
        .await
        .expect("cluster")
}

/// ACCEPTs `tasks` on `offer` and waits until each is RUNNING, with no
/// other update before.
async fn launch_running(
    client: &SchedulerClient,
    events: &mut EventStream,
    offer: &Offer,
    tasks: Vec<TaskInfo>,
) {
    let ids: Vec<String> = tasks.iter().map(|t| t.task_id.value.clone()).collect();
    client
        .call(accept(&[offer], tasks, Some(0.0)))
        .await
        .expect("ACCEPT");
    for id in &ids {
        let (seen, _) = updates_until(client, events, id, TaskState::TaskRunning)
            .await
            .expect("running");
        assert_eq!(seen, [TaskState::TaskRunning], "updates of {id}");
    }
}

#[tokio::test]
async fn held_tasks_run_until_killed_or_their_executor_shuts_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = hold_cluster(dir.path()).await;
    let (client, mut events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Protobuf,
        framework_info("hold"),
    )
    .await
    .expect("subscribed with an offer");
    let shared = executor("shared");
    let tasks = vec![
        task_on("a", &offer, Some(&shared)),
        task_on("b", &offer, Some(&shared)),
        task_on("c", &offer, None),
    ];
    launch_running(&client, &mut events, &offer, tasks).await;

    // A KILL ends that task only; its next update is KILLED (a FINISHED
    // would have come first: an agent delivers a task's updates in order).
    let kill = |id: &str| Call {
        kill: Some(call::Kill {
            task_id: id.into(),
            agent_id: Some(offer.agent_id.clone()),
            kill_policy: None,
        }),
        ..call(call::Type::Kill)
    };
    client.call(kill("a")).await.expect("KILL a");
    let (seen, killed) = updates_until(&client, &mut events, "a", TaskState::TaskKilled)
        .await
        .expect("a killed");
    assert_eq!(seen, [TaskState::TaskKilled]);
    assert_eq!(
        killed.executor_id.map(|e| e.value).as_deref(),
        Some("shared")
    );
    client.call(kill("c")).await.expect("KILL c");
    let (seen, _) = updates_until(&client, &mut events, "c", TaskState::TaskKilled)
        .await
        .expect("c killed");
    assert_eq!(seen, [TaskState::TaskKilled]);

    // "b" still runs: the master's reconciliation answer says so.
    client
        .call(Call {
            reconcile: Some(call::Reconcile {
                tasks: vec![call::reconcile::Task {
                    task_id: "b".into(),
                    agent_id: None,
                }],
            }),
            ..call(call::Type::Reconcile)
        })
        .await
        .expect("RECONCILE");
    let (seen, _) = updates_until(&client, &mut events, "b", TaskState::TaskRunning)
        .await
        .expect("b reconciled");
    assert_eq!(seen, [TaskState::TaskRunning]);

    // SHUTDOWN of the shared executor kills its last task; the executor
    // exits and the master reports it.
    client
        .call(Call {
            shutdown: Some(call::Shutdown {
                executor_id: "shared".into(),
                agent_id: offer.agent_id.clone(),
            }),
            ..call(call::Type::Shutdown)
        })
        .await
        .expect("SHUTDOWN");
    let (seen, _) = updates_until(&client, &mut events, "b", TaskState::TaskKilled)
        .await
        .expect("b killed");
    assert_eq!(seen, [TaskState::TaskKilled]);
    events
        .next_matching("FAILURE of the exited executor", WAIT, |e| {
            e.r#type() == event::Type::Failure
                && e.failure
                    .as_ref()
                    .and_then(|f| f.executor_id.as_ref())
                    .is_some_and(|id| id.value == "shared")
        })
        .await
        .expect("executor exit reported");
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_teardown_ends_held_tasks_and_frees_their_resources() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = hold_cluster(dir.path()).await;
    let (client, mut events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("first"),
    )
    .await
    .expect("subscribed with an offer");
    let all_cpus = cpus(&offer);
    let tasks = vec![
        task_on("x", &offer, Some(&executor("ex"))),
        task_on("y", &offer, None),
    ];
    launch_running(&client, &mut events, &offer, tasks).await;
    client
        .call(call(call::Type::Teardown))
        .await
        .expect("TEARDOWN");
    drop(events);

    // A new framework is offered every cpu of the agent again (in one
    // offer or several, as the resources come back).
    let (_other, mut events) = subscribe(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("second"),
    )
    .await
    .expect("subscribed");
    let mut offered = 0.0;
    while offered < all_cpus {
        let offers = next_offers(&mut events)
            .await
            .unwrap_or_else(|e| panic!("offers beyond {offered} of {all_cpus} cpus: {e}"));
        offered += offers.iter().map(cpus).sum::<f64>();
    }
    cluster.shutdown().await;
}
