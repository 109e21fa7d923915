//! Cleanup on every path: an executor killed with SIGKILL leaves its port,
//! veth and namespace (and the task running), and the next executor started
//! on the chassis removes them; SIGTERM and SHUTDOWN kill the tasks, report
//! TASK_KILLED and remove everything; a task ignoring SIGTERM is SIGKILLed
//! after the kill policy's grace period; a veth left without its port by a
//! dead executor is removed by the next one.

mod executor_common;

use std::time::{Duration, Instant};

use executor_common::{netns_of, task, Lab, Port};
use mesos_proto::v1::{ExecutorId, TaskId, TaskState};
use nix::sys::signal::Signal;
use ovn_mesos_executor::attachment::label;
use ovn_mesos_executor::proc_info::is_alive;
use ovn_mesos_executor::status::TASK_PID;
use ovn_mesos_tests::wait_for;

const T: Duration = Duration::from_secs(30);

/// A command that ignores SIGTERM, then says so in `<sandbox>/ready`.
const STUBBORN: &str = "trap '' TERM; touch ready; sleep 600 & wait; sleep 600";

fn wait_ready(lab: &Lab, executor: &str) {
    let f = lab.sandboxes.path().join(executor).join("ready");
    wait_for("the task to ignore SIGTERM", T, || {
        Ok(f.exists().then_some(()))
    })
    .unwrap();
}

async fn running_pid(lab: &Lab, t: &str) -> i32 {
    let r = lab
        .agent
        .wait_update(&TaskId::from(t), TaskState::TaskRunning, T)
        .await
        .unwrap();
    label(r.status.labels.as_ref(), TASK_PID)
        .expect("task pid")
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_executors_port_is_removed_by_the_next_executor() {
    let lab = Lab::start().await;
    let p = Port::nth(2);
    lab.add_lsp(&p);
    let mut first = lab.executor(&lab.spec("ex-1")).await;
    lab.agent
        .launch(
            &ExecutorId::from("ex-1"),
            task("t-orphan", &p, "exec sleep 600"),
        )
        .unwrap();
    let pid = running_pid(&lab, "t-orphan").await;
    first.kill9();
    let ns = netns_of("t-orphan");
    assert_eq!(lab.ports().len(), 1, "the port stays after SIGKILL");
    assert_eq!(lab.task_links().len(), 1);
    assert!(std::path::Path::new("/var/run/netns").join(&ns).exists());
    assert!(is_alive(pid, None), "the task outlives its executor");

    let mut second = lab.executor(&lab.spec("ex-2")).await; // collects at start
    lab.assert_nothing_left(&ns);
    wait_for("the orphaned task to be killed", T, || {
        Ok((!is_alive(pid, None)).then_some(()))
    })
    .unwrap();
    assert!(
        second.log().contains("removing a stale task port"),
        "{}",
        second.log()
    );
    lab.agent.shutdown(&ExecutorId::from("ex-2")).unwrap();
    assert!(second.wait_exit(T).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_kills_the_tasks_and_removes_their_networks() {
    let lab = Lab::start().await;
    let (a, b) = (Port::nth(3), Port::nth(4));
    lab.add_lsp(&a);
    lab.add_lsp(&b);
    let mut spec = lab.spec("ex-term");
    spec.env
        .push(("OVN_MESOS_EXIT_WHEN_IDLE".into(), "false".into()));
    let mut ex = lab.executor(&spec).await;
    let id = ExecutorId::from("ex-term");
    lab.agent
        .launch(&id, task("t-1", &a, "exec sleep 600"))
        .unwrap();
    lab.agent
        .launch(&id, task("t-2", &b, "exec sleep 600"))
        .unwrap();
    let pids = [
        running_pid(&lab, "t-1").await,
        running_pid(&lab, "t-2").await,
    ];
    assert_eq!(lab.ports().len(), 2);
    ex.signal(Signal::SIGTERM);
    let status = ex.wait_exit(T).await.unwrap();
    assert!(status.success(), "{status:?}\n{}", ex.log());
    for t in ["t-1", "t-2"] {
        let end = lab.agent.wait_terminal(&TaskId::from(t), T).await.unwrap();
        assert_eq!(end.status.state(), TaskState::TaskKilled);
        lab.assert_nothing_left(&netns_of(t));
    }
    assert!(pids.iter().all(|p| !is_alive(*p, None)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_a_task_ignoring_sigterm_within_the_grace_period() {
    let lab = Lab::start().await;
    let p = Port::nth(5);
    lab.add_lsp(&p);
    let mut spec = lab.spec("ex-stubborn");
    spec.grace = Duration::from_secs(2);
    let mut ex = lab.executor(&spec).await;
    let id = ExecutorId::from("ex-stubborn");
    lab.agent
        .launch(&id, task("t-stubborn", &p, STUBBORN))
        .unwrap();
    running_pid(&lab, "t-stubborn").await;
    wait_ready(&lab, "ex-stubborn");
    let started = Instant::now();
    lab.agent.shutdown(&id).unwrap();
    let status = ex.wait_exit(T).await.unwrap();
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(2),
        "exit took {took:?}, beyond the 2 s grace period\n{}",
        ex.log()
    );
    assert!(
        took >= Duration::from_millis(950),
        "SIGKILL comes only after half the grace period: {took:?}\n{}",
        ex.log()
    );
    let end = lab
        .agent
        .wait_terminal(&TaskId::from("t-stubborn"), T)
        .await
        .unwrap();
    assert_eq!(end.status.state(), TaskState::TaskKilled);
    assert_eq!(
        end.status.message.as_deref(),
        Some("Command killed by signal 9 (SIGKILL)")
    );
    lab.assert_nothing_left(&netns_of("t-stubborn"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_uses_the_kill_policy_grace_period() {
    let lab = Lab::start().await;
    let p = Port::nth(6);
    lab.add_lsp(&p);
    let mut ex = lab.executor(&lab.spec("ex-kill")).await;
    let id = ExecutorId::from("ex-kill");
    lab.agent.launch(&id, task("t-kill", &p, STUBBORN)).unwrap();
    running_pid(&lab, "t-kill").await;
    wait_ready(&lab, "ex-kill");
    let started = Instant::now();
    lab.agent
        .kill(
            &id,
            &TaskId::from("t-kill"),
            Some(Duration::from_millis(700)),
        )
        .unwrap();
    let end = lab
        .agent
        .wait_terminal(&TaskId::from("t-kill"), T)
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(end.status.state(), TaskState::TaskKilled);
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}\n{}",
        ex.log()
    );
    assert_eq!(
        lab.agent.states(&TaskId::from("t-kill")),
        [
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskKilling,
            TaskState::TaskKilled
        ]
    );
    lab.assert_nothing_left(&netns_of("t-kill"));
    assert!(ex.wait_exit(T).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_veth_its_dead_executor_never_plugged_is_removed_at_start() {
    let lab = Lab::start().await;
    let id = std::process::id();
    let (veth, ns) = (format!("ovnmt{id:09x}"), format!("ovnm-t{id:09x}"));
    let ip = |args: &[&str]| {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ip(&["netns", "add", &ns]);
    let host = lab.chassis.netns().to_string();
    ip(&[
        "-n", &host, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
    ]);
    // Pid 4194305 is above the kernel's limit: that executor is surely gone.
    let alias = format!("ovn-mesos pid=4194305 start=1 netns={ns}");
    ip(&["-n", &host, "link", "set", &veth, "alias", &alias]);
    assert_eq!(lab.task_links(), std::slice::from_ref(&veth));

    let mut ex = lab.executor(&lab.spec("ex-gc")).await; // collects at start
    lab.assert_nothing_left(&ns);
    assert!(ex.log().contains("never plugged"), "{}", ex.log());
    lab.agent.shutdown(&ExecutorId::from("ex-gc")).unwrap();
    assert!(ex.wait_exit(T).await.unwrap().success());
}
