//! Offers and task validation on the local Mesos master: ACCEPT with
//! invalid offers (TASK_LOST / TASK_DROPPED, REASON_INVALID_OFFERS),
//! invalid tasks (TASK_ERROR, REASON_TASK_INVALID), DECLINE filters,
//! SUPPRESS/REVIVE, offer expiry, KILL and reconciliation (master
//! updates carry no uuid).

use std::time::{Duration, Instant};

use mesos_local::client::ClientError;
use mesos_local::testing::scheduler::{
    accept, acknowledge, call, decline, launch_running, next_offers, next_update, partition_aware,
    reach, start_cluster, subscribe, WAIT,
};
use mesos_local::testing::{command_task, framework_info};
use mesos_proto::v1::scheduler::{call, event, Call};
use mesos_proto::v1::{task_status, TaskState, TaskStatus};
use mesos_proto::Encoding;

fn assert_master_generated(status: &TaskStatus, reason: task_status::Reason) {
    assert_eq!(
        status.uuid, None,
        "master updates carry no uuid: {status:?}"
    );
    assert_eq!(status.source(), task_status::Source::Master);
    assert_eq!(status.reason(), reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_with_invalid_offers_loses_or_drops_the_tasks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 2, |_| {}).await.expect("cluster");
    for (info, expected) in [
        (framework_info("plain"), TaskState::TaskLost),
        (
            partition_aware(framework_info("aware")),
            TaskState::TaskDropped,
        ),
    ] {
        let (client, mut events) = subscribe(&cluster.master_endpoint(), Encoding::Json, info)
            .await
            .expect("subscribed");
        let mut got = next_offers(&mut events).await.expect("offers");
        while got.len() < 2 {
            got.extend(next_offers(&mut events).await.expect("offers"));
        }
        let (a, b) = (&got[0], &got[1]);
        let task = command_task("t-two-agents", &a.agent_id.value, "true", "cpus:0.1;mem:32");
        client
            .call(accept(&[a, b], vec![task], None))
            .await
            .expect("accepted");
        let status = next_update(&mut events, "t-two-agents", expected)
            .await
            .expect("update");
        assert_master_generated(&status, task_status::Reason::InvalidOffers);
        assert!(
            status
                .message()
                .contains("Aggregated offers must belong to one single agent"),
            "{status:?}"
        );
        // That ACCEPT used both offers up: using one again is invalid.
        let task = command_task("t-used", &a.agent_id.value, "true", "cpus:0.1;mem:32");
        client
            .call(accept(&[a], vec![task], None))
            .await
            .expect("accepted");
        let status = next_update(&mut events, "t-used", expected)
            .await
            .expect("update");
        assert!(
            status.message().contains("is no longer valid"),
            "{status:?}"
        );
        let mut bogus = a.clone();
        bogus.id = "no-such-offer".into();
        let task = command_task("t-bogus", &a.agent_id.value, "true", "cpus:0.1;mem:32");
        client
            .call(accept(&[&bogus], vec![task], None))
            .await
            .expect("accepted");
        next_update(&mut events, "t-bogus", expected)
            .await
            .expect("update");
        client
            .call(call(call::Type::Teardown))
            .await
            .expect("teardown");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tasks_get_task_error_and_valid_ones_launch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |_| {}).await.expect("cluster");
    let (client, mut events) = subscribe(
        &cluster.master_endpoint(),
        Encoding::Protobuf,
        framework_info("validation"),
    )
    .await
    .expect("subscribed");
    let offer = next_offers(&mut events).await.expect("offers").remove(0);
    let agent = offer.agent_id.value.clone();
    let mut no_resources = command_task("no-res", &agent, "true", "cpus:0.1");
    no_resources.resources.clear();
    let mut wrong_agent = command_task("wrong-agent", &agent, "true", "cpus:0.1;mem:32");
    wrong_agent.agent_id = "elsewhere".into();
    let tasks = vec![
        command_task("ok", &agent, "sleep 1000", "cpus:1;mem:64"),
        command_task("ok", &agent, "true", "cpus:0.1;mem:32"),
        command_task("too-big", &agent, "true", "cpus:100;mem:32"),
        no_resources,
        wrong_agent,
        command_task("bad/id", &agent, "true", "cpus:0.1;mem:32"),
    ];
    client
        .call(accept(&[&offer], tasks, None))
        .await
        .expect("accepted");
    let mut errors = Vec::new();
    let mut saw_ok = false;
    while errors.len() < 5 || !saw_ok {
        let event = events
            .next_of(event::Type::Update, WAIT)
            .await
            .expect("updates");
        let status = event.update.expect("update").status;
        if status.state() == TaskState::TaskError {
            assert_master_generated(&status, task_status::Reason::TaskInvalid);
            errors.push(status.message().to_string());
        } else if status.task_id.value == "ok" {
            acknowledge(&client, &status).await.expect("acknowledged");
            saw_ok |= status.state() == TaskState::TaskRunning;
        }
    }
    let joined = errors.join("\n");
    for expected in [
        "Task has duplicate ID: ok",
        "Total resources cpus:100; mem:32 required by task and its executor is more than available",
        "Task uses no resources",
        "Task uses invalid agent elsewhere",
        "Task ID is invalid",
    ] {
        assert!(
            joined.contains(expected),
            "missing {expected:?} in:\n{joined}"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_resources_are_not_reoffered_before_refuse_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |_| {}).await.expect("cluster");
    for encoding in [Encoding::Json, Encoding::Protobuf] {
        let (client, mut events) = subscribe(
            &cluster.master_endpoint(),
            encoding,
            framework_info("decliner"),
        )
        .await
        .expect("subscribed");
        let offer = next_offers(&mut events).await.expect("offers").remove(0);
        let declined_at = Instant::now();
        client
            .call(decline(&offer, 1.0))
            .await
            .expect("DECLINE accepted");
        let again = next_offers(&mut events).await.expect("offers again");
        assert_eq!(again[0].agent_id, offer.agent_id);
        assert!(
            declined_at.elapsed() >= Duration::from_millis(950),
            "re-offered after {:?}",
            declined_at.elapsed()
        );
        // A long filter, then REVIVE clears it.
        client
            .call(decline(&again[0], 3600.0))
            .await
            .expect("DECLINE accepted");
        let quiet = events
            .next_of(event::Type::Offers, Duration::from_millis(500))
            .await;
        assert!(
            matches!(quiet, Err(ClientError::Timeout(..))),
            "no offer while filtered: {quiet:?}"
        );
        client
            .call(call(call::Type::Revive))
            .await
            .expect("REVIVE accepted");
        next_offers(&mut events).await.expect("offers after REVIVE");
        client
            .call(call(call::Type::Teardown))
            .await
            .expect("teardown");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppress_stops_offers_and_revive_resumes_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |_| {}).await.expect("cluster");
    let (client, mut events) = subscribe(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("suppressor"),
    )
    .await
    .expect("subscribed");
    let offer = next_offers(&mut events).await.expect("offers").remove(0);
    client
        .call(call(call::Type::Suppress))
        .await
        .expect("SUPPRESS accepted");
    client
        .call(decline(&offer, 0.0))
        .await
        .expect("DECLINE accepted");
    let quiet = events
        .next_of(event::Type::Offers, Duration::from_millis(500))
        .await;
    assert!(
        matches!(quiet, Err(ClientError::Timeout(..))),
        "no offers while suppressed: {quiet:?}"
    );
    client
        .call(call(call::Type::Revive))
        .await
        .expect("REVIVE accepted");
    next_offers(&mut events).await.expect("offers after REVIVE");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_offers_are_rescinded_after_the_offer_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |c| {
        c.master.offer_timeout = Some(Duration::from_millis(300))
    })
    .await
    .expect("cluster");
    let (_client, mut events) = subscribe(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("slow"),
    )
    .await
    .expect("subscribed");
    let offer = next_offers(&mut events).await.expect("offers").remove(0);
    let rescind = events
        .next_of(event::Type::Rescind, WAIT)
        .await
        .expect("RESCIND");
    assert_eq!(rescind.rescind.expect("rescind").offer_id, offer.id);
    let again = next_offers(&mut events).await.expect("re-offered");
    assert_ne!(again[0].id, offer.id, "a new offer id");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_reconciliation_report_master_generated_states() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |_| {}).await.expect("cluster");
    for (info, unknown_state, gone_state) in [
        (
            framework_info("plain"),
            TaskState::TaskLost,
            TaskState::TaskLost,
        ),
        (
            partition_aware(framework_info("aware")),
            TaskState::TaskUnknown,
            TaskState::TaskGone,
        ),
    ] {
        let (client, mut events) = subscribe(&cluster.master_endpoint(), Encoding::Json, info)
            .await
            .expect("subscribed");
        let offer = next_offers(&mut events).await.expect("offers").remove(0);
        let agent = offer.agent_id.clone();
        let task = command_task("long", &agent.value, "sleep 1000", "cpus:0.5;mem:64");
        let running = launch_running(&client, &mut events, &offer, task)
            .await
            .expect("running");
        assert!(running.uuid.as_ref().is_some_and(|u| u.len() == 16));
        let reconcile = |tasks| Call {
            reconcile: Some(call::Reconcile { tasks }),
            ..call(call::Type::Reconcile)
        };
        // Implicit: the latest state, with the task's IP.
        client
            .call(reconcile(Vec::new()))
            .await
            .expect("RECONCILE accepted");
        let status = next_update(&mut events, "long", TaskState::TaskRunning)
            .await
            .expect("update");
        assert_master_generated(&status, task_status::Reason::Reconciliation);
        let ip = status
            .container_status
            .as_ref()
            .and_then(|c| c.network_infos.first())
            .and_then(|n| n.ip_addresses.first())
            .and_then(|i| i.ip_address.clone());
        assert_eq!(ip.as_deref(), Some("127.0.0.1"));
        // Explicit: known task, unknown task on a known agent, unknown task.
        client
            .call(reconcile(vec![
                call::reconcile::Task {
                    task_id: "long".into(),
                    agent_id: None,
                },
                call::reconcile::Task {
                    task_id: "ghost".into(),
                    agent_id: Some(agent.clone()),
                },
                call::reconcile::Task {
                    task_id: "phantom".into(),
                    agent_id: None,
                },
            ]))
            .await
            .expect("RECONCILE accepted");
        for (task, state) in [
            ("long", TaskState::TaskRunning),
            ("ghost", gone_state),
            ("phantom", unknown_state),
        ] {
            let status = next_update(&mut events, task, state)
                .await
                .expect("reconciliation update");
            assert_master_generated(&status, task_status::Reason::Reconciliation);
        }
        // KILL of an unknown task is a reconciliation.
        let kill = |task: &str| Call {
            kill: Some(call::Kill {
                task_id: task.into(),
                ..Default::default()
            }),
            ..call(call::Type::Kill)
        };
        client.call(kill("phantom")).await.expect("KILL accepted");
        let status = next_update(&mut events, "phantom", unknown_state)
            .await
            .expect("update");
        assert_master_generated(&status, task_status::Reason::Reconciliation);
        client.call(kill("long")).await.expect("KILL accepted");
        let killed = reach(&client, &mut events, "long", TaskState::TaskKilled)
            .await
            .expect("killed");
        assert_eq!(killed.source(), task_status::Source::Executor);
        client
            .call(call(call::Type::Teardown))
            .await
            .expect("teardown");
    }
    cluster.shutdown().await;
}
