//! Setup failures end in TASK_FAILED with a one-line reason and leave no
//! namespace, veth or OVS port: bad MAC, missing IP, unknown bridge, OVSDB
//! unreachable, and a logical port that does not exist (ovn-installed never
//! comes). A task whose command fails is TASK_FAILED with its exit status; a
//! task killed while the executor waits for OVN is TASK_KILLED, cleaned up.

mod executor_common;

use std::time::Duration;

use executor_common::{attachment_labels, netns_of, task, task_with, Lab, Port};
use mesos_proto::v1::task_status::Reason;
use mesos_proto::v1::{ExecutorId, TaskId, TaskState};

const T: Duration = Duration::from_secs(30);

/// Launches `task` on a fresh executor with `env` overrides and returns the
/// TASK_FAILED message after checking nothing was left.
async fn fails(
    lab: &Lab,
    name: &str,
    t: mesos_proto::v1::TaskInfo,
    env: &[(&str, &str)],
) -> String {
    let mut spec = lab.spec(name);
    for (k, v) in env {
        spec.env.retain(|(key, _)| key != k);
        spec.env.push(((*k).into(), (*v).into()));
    }
    let mut p = lab.executor(&spec).await;
    let id = t.task_id.clone();
    lab.agent.launch(&ExecutorId::from(name), t).unwrap();
    let end = lab
        .agent
        .wait_terminal(&id, T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", p.log()));
    assert_eq!(
        end.status.state(),
        TaskState::TaskFailed,
        "{:?}",
        end.status.message
    );
    let msg = end.status.message.clone().unwrap_or_default();
    assert!(!msg.is_empty() && !msg.contains('\n'), "one line: {msg:?}");
    p.wait_exit(T).await.unwrap();
    lab.assert_nothing_left(&netns_of(id.as_str()));
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_attachments_fail_the_task_and_leave_nothing() {
    let lab = Lab::start().await;
    let p = Port::nth(5);
    lab.add_lsp(&p);

    let mut labels = attachment_labels(&p);
    labels.retain(|(k, _)| k != ovn::attachment::MAC);
    labels.push((ovn::attachment::MAC.into(), "0a:58:zz:00:00:01".into()));
    let msg = fails(
        &lab,
        "ex-badmac",
        task_with("t-badmac", Some(&p.ip), &labels, "true"),
        &[],
    )
    .await;
    assert_eq!(msg, "invalid network attachment: label ovn-mesos/mac=\"0a:58:zz:00:00:01\" is not a unicast MAC address");

    let msg = fails(
        &lab,
        "ex-noip",
        task_with("t-noip", None, &attachment_labels(&p), "true"),
        &[],
    )
    .await;
    assert_eq!(
        msg,
        "invalid network attachment: network_infos[0] has no ip_addresses[0].ip_address"
    );

    let mut labels = attachment_labels(&p);
    labels.push(("ovn-mesos/bridge".into(), "br-nope".into()));
    let msg = fails(
        &lab,
        "ex-nobr",
        task_with("t-nobr", Some(&p.ip), &labels, "true"),
        &[],
    )
    .await;
    assert_eq!(
        msg,
        "network setup failed: bridge br-nope does not exist in the local Open_vSwitch database"
    );
    let end = lab
        .agent
        .wait_terminal(&TaskId::from("t-nobr"), T)
        .await
        .unwrap();
    assert_eq!(end.status.reason(), Reason::ContainerLaunchFailed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_ovsdb_fails_the_task() {
    let lab = Lab::start().await;
    let p = Port::nth(6);
    lab.add_lsp(&p);
    let nowhere = format!("unix:{}/no-such-db.sock", lab.sandboxes.path().display());
    let msg = fails(
        &lab,
        "ex-noovs",
        task("t-noovs", &p, "true"),
        &[
            ("OVN_MESOS_OVS_DB", &nowhere),
            ("OVN_MESOS_OVSDB_TIMEOUT", "500ms"),
        ],
    )
    .await;
    assert!(
        msg.starts_with(&format!(
            "network setup failed: OVSDB {nowhere} unreachable"
        )),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logical_port_that_does_not_exist_is_never_installed() {
    let lab = Lab::start().await;
    let p = Port::nth(7); // no lsp-add: ovn-controller never binds it
    let msg = fails(
        &lab,
        "ex-nolsp",
        task("t-nolsp", &p, "true"),
        &[("OVN_MESOS_INSTALL_TIMEOUT", "1secs")],
    )
    .await;
    assert!(
        msg.starts_with("network setup failed: logical port ls1-task-7 not installed on port ovnm"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_reports_its_exit_status_and_cleans_up() {
    let lab = Lab::start().await;
    let p = Port::nth(8);
    lab.add_lsp(&p);
    let msg = fails(
        &lab,
        "ex-exit3",
        task("t-exit3", &p, "echo bye >&2; exit 3"),
        &[],
    )
    .await;
    assert_eq!(msg, "Command exited with status 3");
    let err = std::fs::read_to_string(lab.sandboxes.path().join("ex-exit3/stderr")).unwrap();
    assert_eq!(err, "bye\n");
    let states = lab.agent.states(&TaskId::from("t-exit3"));
    assert_eq!(
        states,
        [
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFailed
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_waiting_for_ovn_ends_the_launch_and_cleans_up() {
    let lab = Lab::start().await;
    let p = Port::nth(9); // no lsp-add: the wait for ovn-installed would last 30 s
    let mut spec = lab.spec("ex-killwait");
    spec.env.retain(|(k, _)| k != "OVN_MESOS_INSTALL_TIMEOUT");
    let mut ex = lab.executor(&spec).await;
    let id = ExecutorId::from("ex-killwait");
    lab.agent
        .launch(&id, task("t-killwait", &p, "true"))
        .unwrap();
    let t = TaskId::from("t-killwait");
    lab.agent
        .wait_update(&t, TaskState::TaskStarting, T)
        .await
        .unwrap();
    ovn_mesos_tests::wait_for("the port to be added", T, || {
        Ok((lab.ports().len() == 1).then_some(()))
    })
    .unwrap();
    let started = std::time::Instant::now();
    lab.agent.kill(&id, &t, None).unwrap();
    let end = lab.agent.wait_terminal(&t, T).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        end.status.state(),
        TaskState::TaskKilled,
        "{:?}",
        end.status.message
    );
    assert_eq!(end.status.message.as_deref(), Some("killed during launch"));
    assert_eq!(end.status.reason(), Reason::TaskKilledDuringLaunch);
    assert!(ex.wait_exit(T).await.unwrap().success());
    lab.assert_nothing_left(&netns_of("t-killwait"));
}
