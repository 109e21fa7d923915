//! Framework and agent failures on the local Mesos master: resubscription
//! (the old stream gets ERROR "Framework failed over"), TEARDOWN (the id
//! cannot come back), the failover timeout (a disconnected framework's
//! tasks are killed), updates pending during a failover, and a lost agent
//! (offers rescinded, tasks lost, FAILURE).

use std::time::{Duration, Instant};

use mesos_local::client::{ClientError, EventStream};
use mesos_local::testing::scheduler::{
    accept, acknowledge, call, executor_pid, launch_running, next_offers, next_update, reach,
    start_cluster, subscribe, WAIT,
};
use mesos_local::testing::{command_task, framework_info};
use mesos_proto::v1::scheduler::{call, event, Event};
use mesos_proto::v1::{task_status, TaskState};
use mesos_proto::Encoding;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribing_fails_over_and_the_old_stream_gets_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 0, |_| {}).await.expect("cluster");
    for encoding in [Encoding::Json, Encoding::Protobuf] {
        let (first, mut old_events) = subscribe(
            &cluster.master_endpoint(),
            encoding,
            framework_info("failover"),
        )
        .await
        .expect("subscribed");
        let mut info = framework_info("failover");
        info.id = first.framework_id.clone();
        let (second, _new_events) = subscribe(&cluster.master_endpoint(), encoding, info)
            .await
            .expect("resubscribed");
        assert_eq!(
            second.framework_id, first.framework_id,
            "same framework id after failover"
        );
        assert_ne!(second.stream_id, first.stream_id);
        let error = old_events
            .next_of(event::Type::Error, WAIT)
            .await
            .expect("ERROR on the old stream");
        assert_eq!(error.error.expect("error").message, "Framework failed over");
        loop {
            match old_events.next().await {
                Err(ClientError::Ended) => break,
                Ok(e) if e.r#type() == event::Type::Heartbeat => continue,
                other => panic!("the old stream must end, got {other:?}"),
            }
        }
        assert_eq!(
            first.send(call(call::Type::Revive)).await.expect("sent").0,
            StatusCode::BAD_REQUEST,
            "old stream id"
        );
        assert_eq!(
            second.send(call(call::Type::Revive)).await.expect("sent").0,
            StatusCode::ACCEPTED
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_down_framework_cannot_resubscribe() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 0, |_| {}).await.expect("cluster");
    let (client, mut events) = subscribe(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("gone"),
    )
    .await
    .expect("subscribed");
    client
        .call(call(call::Type::Teardown))
        .await
        .expect("TEARDOWN accepted");
    loop {
        match events.next().await {
            Err(ClientError::Ended) => break,
            Ok(_) => continue,
            Err(e) => panic!("stream must end after TEARDOWN: {e}"),
        }
    }
    let id = client.framework_id.clone().expect("framework id").value;
    let body = format!(
        r#"{{"type":"SUBSCRIBE","framework_id":{{"value":"{id}"}},"subscribe":{{"framework_info":{{"user":"u","name":"gone","id":{{"value":"{id}"}}}}}}}}"#
    );
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/api/v1/scheduler",
            cluster.master_endpoint()
        ))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "refusals come as an ERROR event"
    );
    let mut refused = EventStream::new(response, Encoding::Json);
    let error = refused
        .next_of(event::Type::Error, WAIT)
        .await
        .expect("ERROR event");
    assert_eq!(
        error.error.expect("error").message,
        "Framework has been removed"
    );
    assert_eq!(
        client.send(call(call::Type::Revive)).await.expect("sent").0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        cluster.master.state_json()["completed_frameworks"][0]["id"],
        id.as_str()
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failover_timeout_removes_a_disconnected_framework_and_kills_its_tasks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |_| {}).await.expect("cluster");
    let mut info = framework_info("short-lived");
    info.failover_timeout = Some(1.0);
    let (client, mut events) = subscribe(&cluster.master_endpoint(), Encoding::Protobuf, info)
        .await
        .expect("subscribed");
    let offer = next_offers(&mut events).await.expect("offers").remove(0);
    let task = command_task(
        "sleeper",
        &offer.agent_id.value,
        "sleep 1000",
        "cpus:0.5;mem:64",
    );
    let running = launch_running(&client, &mut events, &offer, task)
        .await
        .expect("running");
    let pid = executor_pid(&running).expect("task pid reported");
    drop(events);
    let deadline = Instant::now() + WAIT;
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "waiting for task process {pid} to be killed after the failover timeout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        client.send(call(call::Type::Revive)).await.expect("sent").0,
        StatusCode::BAD_REQUEST,
        "removed"
    );
    let state = cluster.master.state_json();
    assert_eq!(
        state["completed_frameworks"][0]["completed_tasks"][0]["state"],
        "TASK_KILLED"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_pending_during_a_failover_reaches_the_new_subscription_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |c| {
        c.agent.status_update_retry_interval = Duration::from_secs(60)
    })
    .await
    .expect("cluster");
    let (client, mut events) = subscribe(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("restarting"),
    )
    .await
    .expect("subscribed");
    let offer = next_offers(&mut events).await.expect("offers").remove(0);
    let task = command_task(
        "survivor",
        &offer.agent_id.value,
        "sleep 1000",
        "cpus:0.5;mem:64",
    );
    client
        .call(accept(&[&offer], vec![task], None))
        .await
        .expect("accepted");
    let starting = next_update(&mut events, "survivor", TaskState::TaskStarting)
        .await
        .expect("STARTING");
    // The scheduler "crashes" before acknowledging, then fails over.
    drop(events);
    let mut info = framework_info("restarting");
    info.id = client.framework_id.clone();
    let started = Instant::now();
    let (client, mut events) = subscribe(&cluster.master_endpoint(), Encoding::Json, info)
        .await
        .expect("resubscribed");
    let again = next_update(&mut events, "survivor", TaskState::TaskStarting)
        .await
        .expect("STARTING again");
    assert_eq!(again.uuid, starting.uuid, "the same unacknowledged update");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "resent on resubscription, not at the 60 s retry"
    );
    acknowledge(&client, &again).await.expect("acknowledged");
    reach(&client, &mut events, "survivor", TaskState::TaskRunning)
        .await
        .expect("running after the ack");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_agent_rescinds_offers_and_loses_its_tasks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = start_cluster(dir.path(), 2, |c| {
        c.master.agent_ping_timeout = Duration::from_millis(100);
        c.master.max_agent_ping_timeouts = 3;
    })
    .await
    .expect("cluster");
    let (client, mut events) = subscribe(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("survivor"),
    )
    .await
    .expect("subscribed");
    let mut got = next_offers(&mut events).await.expect("offers");
    while got.len() < 2 {
        got.extend(next_offers(&mut events).await.expect("offers"));
    }
    let victim_id = cluster.agents[0].agent_id().expect("registered");
    let victim_offer = got
        .iter()
        .find(|o| o.agent_id.value == victim_id)
        .expect("offer on the victim");
    let task = command_task("doomed", &victim_id, "sleep 1000", "cpus:0.5;mem:64");
    client
        .call(accept(&[victim_offer], vec![task], Some(0.0)))
        .await
        .expect("accepted");
    // Until the task runs and the victim's leftover resources are offered.
    let (mut leftover, mut running) = (None, false);
    while leftover.is_none() || !running {
        let event = events.next().await.expect("events");
        if let Some(o) = event
            .offers
            .as_ref()
            .and_then(|o| o.offers.iter().find(|o| o.agent_id.value == victim_id))
        {
            leftover = Some(o.id.clone());
        }
        if let Some(update) = event.update {
            acknowledge(&client, &update.status)
                .await
                .expect("acknowledged");
            running |= update.status.state() == TaskState::TaskRunning;
        }
    }
    cluster.agents.remove(0).shutdown().await;
    let rescind = events
        .next_of(event::Type::Rescind, WAIT)
        .await
        .expect("RESCIND");
    assert_eq!(
        rescind.rescind.expect("rescind").offer_id,
        leftover.expect("leftover offer")
    );
    let lost = next_update(&mut events, "doomed", TaskState::TaskLost)
        .await
        .expect("TASK_LOST");
    assert_eq!(lost.uuid, None);
    assert_eq!(lost.source(), task_status::Source::Master);
    assert_eq!(lost.reason(), task_status::Reason::AgentRemoved);
    let failure = events
        .next_matching("FAILURE for the lost agent", WAIT, |e: &Event| {
            e.r#type() == event::Type::Failure
        })
        .await
        .expect("FAILURE")
        .failure
        .expect("failure");
    assert_eq!(failure.agent_id.map(|a| a.value), Some(victim_id));
    assert_eq!(failure.executor_id, None);
    cluster.shutdown().await;
}
