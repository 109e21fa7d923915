//! The local Mesos agent: command tasks under the built-in command
//! executor (STARTING, RUNNING, FINISHED or FAILED with the exit code,
//! KILLING/KILLED), status updates retried in order until acknowledged,
//! the fetcher, the agent's `/state`, every error status of
//! `POST /api/v1/executor`, and the agent's stop (SIGTERM to executors it
//! cannot reach, SIGKILL after their grace period). Master and agent run
//! in-process.

use std::time::{Duration, Instant};

use mesos_local::cluster::ClusterHandle;
use mesos_local::testing::scheduler::{
    accept, acknowledge, call, reach_all, start_cluster, subscribe_for_offer, updates_until, WAIT,
};
use mesos_local::testing::{self, command_task, executor_task, framework_info, test_executor_info};
use mesos_local::ClusterConfig;
use mesos_proto::v1::command_info::Uri;
use mesos_proto::v1::scheduler::{call, Call, Event};
use mesos_proto::v1::{
    framework_info::capability, framework_info::Capability, task_status, CommandInfo, TaskState,
};
use mesos_proto::Encoding;
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

async fn start(tune: impl FnOnce(&mut ClusterConfig)) -> (TempDir, ClusterHandle) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, tune)
        .await
        .expect("cluster with one agent");
    (dir, cluster)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_task_runs_to_finished_in_both_encodings() {
    let (_dir, cluster) = start(|_| {}).await;
    for encoding in [Encoding::Json, Encoding::Protobuf] {
        let (client, mut events, offer) = subscribe_for_offer(
            &cluster.master_endpoint(),
            encoding,
            framework_info("commands"),
        )
        .await
        .expect("offer");
        let task = command_task(
            "hello",
            &offer.agent_id.value,
            "echo hello from $MESOS_SANDBOX",
            "cpus:0.1;mem:32",
        );
        client
            .call(accept(&[&offer], vec![task], None))
            .await
            .expect("accepted");
        let (states, finished) =
            updates_until(&client, &mut events, "hello", TaskState::TaskFinished)
                .await
                .expect("finished");
        assert_eq!(
            states,
            vec![
                TaskState::TaskStarting,
                TaskState::TaskRunning,
                TaskState::TaskFinished
            ]
        );
        assert_eq!(finished.message(), "Command exited with status 0");
        assert_eq!(finished.source(), task_status::Source::Executor);
        assert_eq!(
            finished.executor_id.as_ref().map(|e| e.value.as_str()),
            Some("hello")
        );
        let sandbox = cluster.agents[0]
            .work_dir()
            .join("slaves")
            .join(&offer.agent_id.value)
            .join("frameworks")
            .join(&client.framework_id.clone().expect("id").value)
            .join("executors/hello/runs/latest");
        let stdout =
            std::fs::read_to_string(sandbox.join("stdout")).expect("stdout in the sandbox");
        assert!(stdout.starts_with("hello from /"), "{stdout}");
        client
            .call(call(call::Type::Teardown))
            .await
            .expect("teardown");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_reports_its_exit_code() {
    let (_dir, cluster) = start(|_| {}).await;
    let (client, mut events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("failures"),
    )
    .await
    .expect("offer");
    let task = command_task("bad", &offer.agent_id.value, "exit 3", "cpus:0.1;mem:32");
    client
        .call(accept(&[&offer], vec![task], None))
        .await
        .expect("accepted");
    let (_, failed) = updates_until(&client, &mut events, "bad", TaskState::TaskFailed)
        .await
        .expect("failed");
    assert_eq!(failed.message(), "Command exited with status 3");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_sleeping_command_task_sends_killing_then_killed() {
    let (_dir, cluster) = start(|_| {}).await;
    let mut info = framework_info("killer");
    info.capabilities.push(Capability {
        r#type: Some(capability::Type::TaskKillingState as i32),
    });
    let (client, mut events, offer) =
        subscribe_for_offer(&cluster.master_endpoint(), Encoding::Protobuf, info)
            .await
            .expect("offer");
    let task = command_task(
        "sleeper",
        &offer.agent_id.value,
        "sleep 1000",
        "cpus:0.1;mem:32",
    );
    client
        .call(accept(&[&offer], vec![task], None))
        .await
        .expect("accepted");
    updates_until(&client, &mut events, "sleeper", TaskState::TaskRunning)
        .await
        .expect("running");
    let started = Instant::now();
    let kill = Call {
        kill: Some(call::Kill {
            task_id: "sleeper".into(),
            ..Default::default()
        }),
        ..call(call::Type::Kill)
    };
    client.call(kill).await.expect("KILL accepted");
    let (states, killed) = updates_until(&client, &mut events, "sleeper", TaskState::TaskKilled)
        .await
        .expect("killed");
    assert_eq!(states, vec![TaskState::TaskKilling, TaskState::TaskKilled]);
    assert_eq!(
        killed.message(),
        "Command terminated with signal Terminated"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "SIGTERM ends sleep before the grace period"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_updates_are_retried_in_order_one_at_a_time() {
    let (_dir, cluster) =
        start(|c| c.agent.status_update_retry_interval = Duration::from_millis(100)).await;
    let (client, mut events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("retries"),
    )
    .await
    .expect("offer");
    let task = command_task("quick", &offer.agent_id.value, "true", "cpus:0.1;mem:32");
    client
        .call(accept(&[&offer], vec![task], None))
        .await
        .expect("accepted");
    let is_update = |e: &Event| {
        e.update
            .as_ref()
            .is_some_and(|u| u.status.task_id.value == "quick")
    };
    let first = events
        .next_matching("first update", WAIT, is_update)
        .await
        .expect("update")
        .update
        .expect("u")
        .status;
    assert_eq!(first.state(), TaskState::TaskStarting);
    // Not acknowledged: the same update comes again, and nothing newer.
    for _ in 0..2 {
        let again = events
            .next_matching("retried update", WAIT, is_update)
            .await
            .expect("retry")
            .update
            .expect("u")
            .status;
        assert_eq!(
            again.uuid, first.uuid,
            "the outstanding update is retried, not the next one"
        );
    }
    acknowledge(&client, &first).await.expect("acknowledged");
    let (states, _) = updates_until(&client, &mut events, "quick", TaskState::TaskFinished)
        .await
        .expect("finished");
    assert_eq!(
        states.first(),
        Some(&TaskState::TaskRunning),
        "after the ack the next update follows: {states:?}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uris_are_fetched_into_the_sandbox() {
    let (dir, cluster) = start(|_| {}).await;
    let script = dir.path().join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\necho fetched-and-run\n").expect("script written");
    let (client, mut events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("fetching"),
    )
    .await
    .expect("offer");
    let mut task = command_task(
        "fetch",
        &offer.agent_id.value,
        "./hello.sh",
        "cpus:0.1;mem:32",
    );
    task.command.as_mut().expect("command").uris = vec![Uri {
        value: format!("file://{}", script.display()),
        executable: Some(true),
        ..Default::default()
    }];
    let mut remote = command_task("no-fetch", &offer.agent_id.value, "true", "cpus:0.1;mem:32");
    remote.command.as_mut().expect("command").uris = vec![Uri {
        value: "hdfs://nowhere/file".into(),
        ..Default::default()
    }];
    client
        .call(accept(&[&offer], vec![task, remote], None))
        .await
        .expect("accepted");
    let statuses = reach_all(
        &client,
        &mut events,
        &[
            ("fetch", TaskState::TaskFinished),
            ("no-fetch", TaskState::TaskFailed),
        ],
    )
    .await
    .expect("both tasks end");
    let failed = &statuses[1];
    assert!(failed.message().contains("only local files"), "{failed:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_state_lists_executors_and_sandboxes() {
    let (_dir, cluster) = start(|_| {}).await;
    let (client, mut events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("listed"),
    )
    .await
    .expect("offer");
    let task = command_task(
        "listed-task",
        &offer.agent_id.value,
        "sleep 1000",
        "cpus:0.1;mem:32",
    );
    client
        .call(accept(&[&offer], vec![task], None))
        .await
        .expect("accepted");
    updates_until(&client, &mut events, "listed-task", TaskState::TaskRunning)
        .await
        .expect("running");
    let state: Value = reqwest::get(format!("http://{}/state", cluster.agents[0].endpoint()))
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let executor = &state["frameworks"][0]["executors"][0];
    assert_eq!(executor["id"], "listed-task");
    assert_eq!(executor["tasks"][0]["state"], "TASK_RUNNING");
    assert!(
        std::path::Path::new(executor["directory"].as_str().expect("dir"))
            .join("stdout")
            .exists()
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_status_of_the_executor_endpoint() {
    let (_dir, cluster) = start(|_| {}).await;
    let (client, _events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("errors"),
    )
    .await
    .expect("offer");
    // An executor that never subscribes stays REGISTERING.
    let mut executor = test_executor_info(&testing::binary().expect("binary"), "mute");
    executor.command = Some(CommandInfo {
        value: Some("sleep 1000".into()),
        ..Default::default()
    });
    let task = executor_task("held", &offer.agent_id.value, &executor, "run");
    client
        .call(accept(&[&offer], vec![task], None))
        .await
        .expect("accepted");
    let framework = client.framework_id.clone().expect("id").value;
    let url = format!("http://{}/api/v1/executor", cluster.agents[0].endpoint());
    let http = reqwest::Client::new();
    let update = |executor: &str, state: &str, uuid: &str| {
        format!(
            r#"{{"type":"UPDATE","framework_id":{{"value":"{framework}"}},"executor_id":{{"value":"{executor}"}},
                "update":{{"status":{{"task_id":{{"value":"held"}},"state":"{state}","source":"SOURCE_EXECUTOR","uuid":"{uuid}"}}}}}}"#
        )
    };
    let good_uuid = "ax8OmlI9TI6f/gF6w0SwLQ==";
    let post = |body: String, content_type: &str| {
        http.post(&url)
            .header("Content-Type", content_type.to_string())
            .body(body)
    };
    let code = |r: reqwest::Response| r.status();
    assert_eq!(
        code(http.get(&url).send().await.expect("sent")),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        code(post("{}".into(), "text/plain").send().await.expect("sent")),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        code(http.post(&url).body("{}").send().await.expect("sent")),
        StatusCode::BAD_REQUEST
    );
    let bad_requests = [
        "{nope".to_string(),
        update("mute", "TASK_STAGING", good_uuid),
        update("mute", "TASK_RUNNING", "c2hvcnQ="),
        update("nobody", "TASK_RUNNING", good_uuid),
        update("mute", "TASK_RUNNING", good_uuid).replace(&framework, "no-such-framework"),
    ];
    for body in bad_requests {
        assert_eq!(
            code(
                post(body.clone(), "application/json")
                    .send()
                    .await
                    .expect("sent")
            ),
            StatusCode::BAD_REQUEST,
            "{body}"
        );
    }
    let not_acceptable = post(
        update("mute", "TASK_RUNNING", good_uuid),
        "application/json",
    )
    .header("Accept", "text/html");
    assert_eq!(
        code(not_acceptable.send().await.expect("sent")),
        StatusCode::NOT_ACCEPTABLE
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let status = code(
            post(
                update("mute", "TASK_RUNNING", good_uuid),
                "application/json",
            )
            .send()
            .await
            .expect("sent"),
        );
        if status == StatusCode::FORBIDDEN {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for 403 from the registering executor, got {status}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cluster.shutdown().await;
}

/// A custom executor that never subscribes: `sh -c script` (the script
/// finds its sandbox in `MESOS_SANDBOX`).
fn shell_executor(id: &str, script: &str) -> mesos_proto::v1::ExecutorInfo {
    let mut executor = test_executor_info(std::path::Path::new("/bin/sh"), id);
    executor.command = Some(CommandInfo {
        value: Some(script.to_string()),
        ..Default::default()
    });
    executor
}

/// `(sandbox, pid)` of each executor once the agent's `/state` shows them
/// started.
async fn started_executors(
    cluster: &ClusterHandle,
    ids: &[&str],
) -> Vec<(std::path::PathBuf, i32)> {
    let url = format!("http://{}/state", cluster.agents[0].endpoint());
    let deadline = Instant::now() + WAIT;
    loop {
        let state: Value = reqwest::get(&url)
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        let executors = state["frameworks"][0]["executors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let found: Vec<(std::path::PathBuf, i32)> = ids
            .iter()
            .filter_map(|id| {
                let e = executors.iter().find(|e| e["id"] == *id)?;
                let dir = std::path::PathBuf::from(e["directory"].as_str()?);
                let pid = e["pid"].as_i64()? as i32;
                // The script has run its first line.
                dir.join("ready").exists().then_some((dir, pid))
            })
            .collect();
        if found.len() == ids.len() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "executors {ids:?} not started within {WAIT:?}: {state}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_agent_terminates_executors_and_kills_those_that_stay() {
    let grace = Duration::from_secs(2);
    let (_dir, cluster) = start(|c| c.agent.executor_shutdown_grace_period = grace).await;
    let (client, _events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("agent-stop"),
    )
    .await
    .expect("offer");
    // Neither subscribes, so the agent has no connection to send SHUTDOWN
    // on: it sends SIGTERM to the executor's process group. One exits on
    // it, the other stays until the SIGKILL at the end of its grace period.
    let polite = shell_executor(
        "polite",
        r#"trap 'echo TERM > "$MESOS_SANDBOX/got"; exit 0' TERM; touch "$MESOS_SANDBOX/ready"; while :; do sleep 0.1; done"#,
    );
    let stubborn = shell_executor(
        "stubborn",
        r#"trap 'echo TERM > "$MESOS_SANDBOX/got"' TERM; touch "$MESOS_SANDBOX/ready"; while :; do sleep 0.1; done"#,
    );
    let agent = offer.agent_id.value.clone();
    client
        .call(accept(
            &[&offer],
            vec![
                executor_task("polite-task", &agent, &polite, "run"),
                executor_task("stubborn-task", &agent, &stubborn, "run"),
            ],
            None,
        ))
        .await
        .expect("accepted");
    let started = started_executors(&cluster, &["polite", "stubborn"]).await;

    let stop = Instant::now();
    cluster.shutdown().await;
    let took = stop.elapsed();

    for (dir, pid) in &started {
        assert_eq!(
            std::fs::read_to_string(dir.join("got")).ok().as_deref(),
            Some("TERM\n"),
            "{} got SIGTERM",
            dir.display()
        );
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "executor {pid} outlived the agent"
        );
    }
    assert!(
        took >= grace,
        "the agent waited for the stubborn executor's grace period ({took:?})"
    );
    assert!(
        took < grace + Duration::from_secs(5),
        "the agent stopped soon after the grace period ({took:?})"
    );
}
