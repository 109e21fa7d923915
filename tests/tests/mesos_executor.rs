//! Custom executors on the local Mesos agent, as real processes (the
//! hidden `mesos-local test-executor`, a minimal v1 executor): the Mesos
//! environment, its own session, the sandbox, ACKNOWLEDGED, MESSAGE both
//! ways, SHUTDOWN, executor exit (TASK_FAILED with
//! REASON_EXECUTOR_TERMINATED and FAILURE), the registration timeout and
//! LAUNCH_GROUP, over the JSON and protobuf executor API.

use std::path::PathBuf;

use mesos_local::client::EventStream;
use mesos_local::testing::scheduler::{
    accept, accept_group, acknowledge, call, reach_all, start_cluster, subscribe_for_offer,
    updates_until, WAIT,
};
use mesos_local::testing::{self, executor_task, framework_info, test_executor_info};
use mesos_proto::v1::scheduler::{call, event, Call, Event};
use mesos_proto::v1::{
    environment, task_status, CommandInfo, Environment, Label, Labels, TaskInfo, TaskState,
};
use mesos_proto::Encoding;
use serde_json::Value;

fn binary() -> PathBuf {
    testing::binary().expect("mesos-local binary built")
}

/// The next MESSAGE whose JSON payload satisfies `wanted`.
async fn message(events: &mut EventStream, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let event = events
        .next_matching(what, WAIT, |e: &Event| {
            e.message
                .as_ref()
                .and_then(|m| serde_json::from_slice::<Value>(&m.data).ok())
                .is_some_and(|v| wanted(&v))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_slice(&event.message.expect("message").data).expect("JSON message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_executor_gets_the_mesos_environment_and_its_own_session() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |_| {}).await.expect("cluster");
    for encoding in [Encoding::Json, Encoding::Protobuf] {
        let (client, mut events, offer) = subscribe_for_offer(
            &cluster.master_endpoint(),
            encoding,
            framework_info("custom"),
        )
        .await
        .expect("offer");
        let mut executor = test_executor_info(&binary(), "exec-1");
        if encoding == Encoding::Protobuf {
            executor.command.as_mut().expect("command").environment = Some(Environment {
                variables: vec![environment::Variable {
                    name: "TEST_EXECUTOR_ENCODING".into(),
                    value: Some("protobuf".into()),
                    ..Default::default()
                }],
            });
        }
        let mut task = executor_task("web-1", &offer.agent_id.value, &executor, "run");
        task.labels = Some(Labels {
            labels: vec![Label {
                key: "ip".into(),
                value: Some("10.1.2.3".into()),
            }],
        });
        client
            .call(accept(&[&offer], vec![task], None))
            .await
            .expect("accepted");
        let hello = message(&mut events, "the executor's self-description", |v| {
            v["event"] == "subscribed"
        })
        .await;
        let env = &hello["env"];
        let framework_id = client.framework_id.clone().expect("id").value;
        assert_eq!(env["MESOS_FRAMEWORK_ID"], framework_id.as_str());
        assert_eq!(env["MESOS_EXECUTOR_ID"], "exec-1");
        assert_eq!(
            env["MESOS_AGENT_ENDPOINT"],
            cluster.agents[0].endpoint().as_str()
        );
        assert_eq!(env["MESOS_SLAVE_ID"], offer.agent_id.value.as_str());
        assert_eq!(
            env["MESOS_SLAVE_PID"],
            format!("slave(1)@{}", cluster.agents[0].endpoint()).as_str()
        );
        assert_eq!(env["MESOS_CHECKPOINT"], "0");
        assert_eq!(env["MESOS_HTTP_COMMAND_EXECUTOR"], "0");
        assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs");
        assert_eq!(env["MESOS_DIRECTORY"], env["MESOS_SANDBOX"]);
        assert_eq!(env["MESOS_DIRECTORY"], hello["cwd"], "runs in its sandbox");
        assert!(
            env.get("HOME").is_none(),
            "the agent's environment is not inherited"
        );
        let sandbox = hello["cwd"].as_str().expect("cwd");
        assert!(
            sandbox.contains(&format!(
                "/frameworks/{framework_id}/executors/exec-1/runs/"
            )),
            "{sandbox}"
        );
        assert!(std::path::Path::new(sandbox).join("stderr").exists());
        // `sh -c` leads the session and process group; the executor is in them.
        let own = std::fs::read_to_string("/proc/self/stat").expect("own stat");
        let own_sid = own
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(3))
            .expect("own sid")
            .to_string();
        assert_eq!(
            hello["sid"], hello["pgid"],
            "session and group leader are the same: {hello}"
        );
        assert_ne!(
            hello["sid"].as_str(),
            Some(own_sid.as_str()),
            "the executor has its own session: {hello}"
        );
        let (_, running) = updates_until(&client, &mut events, "web-1", TaskState::TaskRunning)
            .await
            .expect("running");
        assert_eq!(running.source(), task_status::Source::Executor);
        let ip = running
            .container_status
            .as_ref()
            .and_then(|c| c.network_infos.first())
            .and_then(|n| n.ip_addresses.first())
            .and_then(|i| i.ip_address.clone());
        assert_eq!(
            ip.as_deref(),
            Some("10.1.2.3"),
            "the executor's network info is kept"
        );
        let acked = message(&mut events, "ACKNOWLEDGED reaches the executor", |v| {
            v["event"] == "acknowledged"
        })
        .await;
        assert_eq!(acked["task"], "web-1");
        client
            .call(call(call::Type::Teardown))
            .await
            .expect("teardown");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exiting_executor_fails_its_tasks_and_sends_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |_| {}).await.expect("cluster");
    let (client, mut events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("crashy"),
    )
    .await
    .expect("offer");
    let executor = test_executor_info(&binary(), "crash-exec");
    let task = executor_task("doomed", &offer.agent_id.value, &executor, "exit:3");
    client
        .call(accept(&[&offer], vec![task], None))
        .await
        .expect("accepted");
    // FAILURE may come before TASK_FAILED, which waits for the
    // acknowledgement of TASK_RUNNING.
    let (mut failed, mut failure) = (None, None);
    while failed.is_none() || failure.is_none() {
        let event = events
            .next_matching("updates and FAILURE", WAIT, |_| true)
            .await
            .expect("event");
        if let Some(f) = event.failure {
            failure = Some(f);
        }
        if let Some(update) = event.update {
            acknowledge(&client, &update.status)
                .await
                .expect("acknowledged");
            if update.status.state() == TaskState::TaskFailed {
                failed = Some(update.status);
            }
        }
    }
    let (failed, failure) = (failed.expect("TASK_FAILED"), failure.expect("FAILURE"));
    assert_eq!(failed.reason(), task_status::Reason::ExecutorTerminated);
    assert_eq!(failed.source(), task_status::Source::Agent);
    assert_eq!(
        failed.executor_id.as_ref().map(|e| e.value.as_str()),
        Some("crash-exec")
    );
    assert_eq!(failure.agent_id, Some(offer.agent_id.clone()));
    assert_eq!(
        failure.executor_id.map(|e| e.value),
        Some("crash-exec".into())
    );
    assert_eq!(failure.status, Some(3 << 8), "wait status of exit code 3");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_flow_both_ways_and_shutdown_stops_the_executor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |_| {}).await.expect("cluster");
    let (client, mut events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Protobuf,
        framework_info("chatty"),
    )
    .await
    .expect("offer");
    let executor = test_executor_info(&binary(), "chat-exec");
    let task = executor_task("talker", &offer.agent_id.value, &executor, "run");
    client
        .call(accept(&[&offer], vec![task], None))
        .await
        .expect("accepted");
    updates_until(&client, &mut events, "talker", TaskState::TaskRunning)
        .await
        .expect("running");
    let message = call::Message {
        agent_id: offer.agent_id.clone(),
        executor_id: "chat-exec".into(),
        data: b"ping".to_vec(),
    };
    client
        .call(Call {
            message: Some(message),
            ..call(call::Type::Message)
        })
        .await
        .expect("MESSAGE accepted");
    let echo = events
        .next_matching("echo from the executor", WAIT, |e| {
            e.message.as_ref().is_some_and(|m| m.data == b"echo:ping")
        })
        .await
        .expect("echo")
        .message
        .expect("message");
    assert_eq!(echo.executor_id.value, "chat-exec");
    assert_eq!(echo.agent_id, offer.agent_id);
    let shutdown = call::Shutdown {
        executor_id: "chat-exec".into(),
        agent_id: offer.agent_id.clone(),
    };
    client
        .call(Call {
            shutdown: Some(shutdown),
            ..call(call::Type::Shutdown)
        })
        .await
        .expect("SHUTDOWN accepted");
    updates_until(&client, &mut events, "talker", TaskState::TaskKilled)
        .await
        .expect("killed");
    let failure = events
        .next_of(event::Type::Failure, WAIT)
        .await
        .expect("FAILURE")
        .failure
        .expect("failure");
    assert_eq!(failure.status, Some(0), "the executor exited cleanly");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_that_never_subscribes_is_killed_after_the_registration_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |c| {
        c.agent.executor_registration_timeout = std::time::Duration::from_millis(500)
    })
    .await
    .expect("cluster");
    let (client, mut events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("silent"),
    )
    .await
    .expect("offer");
    let mut executor = test_executor_info(&binary(), "silent-exec");
    executor.command = Some(CommandInfo {
        value: Some("sleep 1000".into()),
        ..Default::default()
    });
    let task = executor_task("waiting", &offer.agent_id.value, &executor, "run");
    client
        .call(accept(&[&offer], vec![task], None))
        .await
        .expect("accepted");
    let (_, failed) = updates_until(&client, &mut events, "waiting", TaskState::TaskFailed)
        .await
        .expect("failed");
    assert_eq!(
        failed.reason(),
        task_status::Reason::ExecutorRegistrationTimeout
    );
    assert!(
        failed
            .message()
            .starts_with("Executor did not register within 500ms"),
        "{failed:?}"
    );
    events
        .next_of(event::Type::Failure, WAIT)
        .await
        .expect("FAILURE");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_group_reaches_its_executor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |_| {}).await.expect("cluster");
    let (client, mut events, offer) = subscribe_for_offer(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("groups"),
    )
    .await
    .expect("offer");
    let mut executor = test_executor_info(&binary(), "group-exec");
    executor.framework_id = client.framework_id.clone();
    let tasks: Vec<TaskInfo> = ["g1", "g2"]
        .iter()
        .map(|id| executor_task(id, &offer.agent_id.value, &executor, "finish"))
        .collect();
    client
        .call(accept_group(&offer, executor, tasks))
        .await
        .expect("ACCEPT accepted");
    let targets = [
        ("g1", TaskState::TaskFinished),
        ("g2", TaskState::TaskFinished),
    ];
    reach_all(&client, &mut events, &targets)
        .await
        .expect("both tasks finished");
    cluster.shutdown().await;
}
