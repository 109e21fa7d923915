//! The executor API side: after a lost connection a checkpointing executor
//! resubscribes with its unacknowledged task and updates while its task runs
//! on; without checkpointing it kills its tasks, cleans up and exits 1; the
//! JSON encoding works as well as protobuf; an executor with a running task
//! stays small (RssAnon under 4 MB; VmRSS under 15 MB for optimized builds).

mod executor_common;

use std::time::Duration;

use executor_common::{netns_of, task, Lab, Port};
use mesos_proto::v1::{ExecutorId, TaskId, TaskState};
use ovn_mesos_tests::wait_for;

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpointing_executor_resubscribes_with_what_was_not_acknowledged() {
    let lab = Lab::start().await;
    let p = Port::nth(2);
    lab.add_lsp(&p);
    lab.agent.set_auto_ack(false);
    let mut spec = lab.spec("ex-ckpt");
    spec.checkpoint = true;
    let mut ex = lab.executor(&spec).await;
    let id = ExecutorId::from("ex-ckpt");
    let t = TaskId::from("t-ckpt");
    lab.agent
        .launch(&id, task("t-ckpt", &p, "exec sleep 600"))
        .unwrap();
    lab.agent
        .wait_update(&t, TaskState::TaskRunning, T)
        .await
        .unwrap();

    lab.agent.disconnect(&id);
    wait_for("a second SUBSCRIBE", T, || {
        Ok((lab.agent.subscribes(&id).len() >= 2).then_some(()))
    })
    .unwrap();
    let again = lab.agent.subscribes(&id).pop().unwrap();
    assert_eq!(
        again.unacknowledged_tasks.len(),
        1,
        "the task was never acknowledged"
    );
    assert_eq!(again.unacknowledged_tasks[0].task_id, t);
    let states: Vec<TaskState> = again
        .unacknowledged_updates
        .iter()
        .map(|u| u.status.state())
        .collect();
    assert_eq!(states, [TaskState::TaskStarting, TaskState::TaskRunning]);
    assert!(ex.try_exit().is_none(), "the executor stays");
    assert_eq!(lab.ports().len(), 1, "the task runs on");

    lab.agent.acknowledge_all().unwrap();
    lab.agent.disconnect(&id);
    wait_for("a third SUBSCRIBE", T, || {
        Ok((lab.agent.subscribes(&id).len() >= 3).then_some(()))
    })
    .unwrap();
    let third = lab.agent.subscribes(&id).pop().unwrap();
    assert!(third.unacknowledged_updates.is_empty() && third.unacknowledged_tasks.is_empty());

    lab.agent.set_auto_ack(true);
    lab.agent.kill(&id, &t, None).unwrap();
    let end = lab.agent.wait_terminal(&t, T).await.unwrap();
    assert_eq!(end.status.state(), TaskState::TaskKilled);
    assert!(ex.wait_exit(T).await.unwrap().success());
    lab.assert_nothing_left(&netns_of("t-ckpt"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_checkpointing_a_lost_agent_ends_the_executor_and_its_tasks() {
    let lab = Lab::start().await;
    let p = Port::nth(3);
    lab.add_lsp(&p);
    let mut ex = lab.executor(&lab.spec("ex-nock")).await;
    let id = ExecutorId::from("ex-nock");
    lab.agent
        .launch(&id, task("t-nock", &p, "exec sleep 600"))
        .unwrap();
    lab.agent
        .wait_update(&TaskId::from("t-nock"), TaskState::TaskRunning, T)
        .await
        .unwrap();
    lab.agent.disconnect(&id);
    let status = ex.wait_exit(T).await.unwrap();
    assert_eq!(status.code(), Some(1), "{}", ex.log());
    lab.assert_nothing_left(&netns_of("t-nock"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_encoding_runs_a_task_too() {
    let lab = Lab::start().await;
    let p = Port::nth(4);
    lab.add_lsp(&p);
    let mut spec = lab.spec("ex-json");
    spec.env
        .push(("OVN_MESOS_EXECUTOR_ENCODING".into(), "json".into()));
    let mut ex = lab.executor(&spec).await;
    lab.agent
        .launch(
            &ExecutorId::from("ex-json"),
            task("t-json", &p, "ip -4 -o addr show eth0"),
        )
        .unwrap();
    let end = lab
        .agent
        .wait_terminal(&TaskId::from("t-json"), T)
        .await
        .unwrap();
    assert_eq!(
        end.status.state(),
        TaskState::TaskFinished,
        "{:?}",
        end.status.message
    );
    let out = std::fs::read_to_string(lab.sandboxes.path().join("ex-json/stdout")).unwrap();
    assert!(out.contains("inet 192.168.1.4/24"), "{out}");
    assert!(ex.wait_exit(T).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_with_a_running_task_stays_small() {
    let lab = Lab::start().await;
    let p = Port::nth(5);
    lab.add_lsp(&p);
    let mut ex = lab.executor(&lab.spec("ex-mem")).await;
    let id = ExecutorId::from("ex-mem");
    lab.agent
        .launch(&id, task("t-mem", &p, "exec sleep 600"))
        .unwrap();
    lab.agent
        .wait_update(&TaskId::from("t-mem"), TaskState::TaskRunning, T)
        .await
        .unwrap();
    // VmRSS counts the binary's file pages, shared by every executor on the
    // host; RssAnon is what each executor costs on its own. A debug binary's
    // file pages alone are larger than the target, so VmRSS is held to
    // 15 MB for optimized builds (the benchmark measures 50 of them).
    let status = std::fs::read_to_string(format!("/proc/{}/status", ex.pid())).unwrap();
    let kib = |key: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(key)).expect(key);
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let (rss, anon) = (kib("VmRSS:"), kib("RssAnon:"));
    assert!(
        anon < 4 * 1024,
        "executor RssAnon {anon} KiB (VmRSS {rss} KiB)"
    );
    if !cfg!(debug_assertions) {
        assert!(
            rss < 15 * 1024,
            "executor VmRSS {rss} KiB (RssAnon {anon} KiB)"
        );
    }
    lab.agent.shutdown(&id).unwrap();
    assert!(ex.wait_exit(T).await.unwrap().success());
    lab.assert_nothing_left(&netns_of("t-mem"));
}
