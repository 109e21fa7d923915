//! Mesos health checks run by the executor, against real OVN (a chassis,
//! the task's namespace plugged into br-int) and the test agent: HTTP, TCP
//! and COMMAND checks, each healthy and unhealthy; every report a
//! TASK_RUNNING update with `healthy` and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;
//! `consecutive_failures` kill the task (TASK_KILLED, `healthy` false, the
//! message says why); the delay, the grace period and its end at the first
//! success; a hanging check bounded by its timeout, leaving no process, while
//! the executor goes on killing another task at once.

mod executor_common;

use std::time::{Duration, Instant};

use executor_common::{netns_of, task, Lab, Port};
use mesos_proto::v1::environment::Variable;
use mesos_proto::v1::health_check::{HttpCheckInfo, TcpCheckInfo, Type};
use mesos_proto::v1::task_status::Reason;
use mesos_proto::v1::{
    CommandInfo, Environment, ExecutorId, HealthCheck, TaskId, TaskInfo, TaskState,
};
use ovn_mesos_executor::test_agent::Received;
use ovn_mesos_tests::wait_for;

const T: Duration = Duration::from_secs(30);

/// A check of `kind` polled every 0.3 s, timing out after 2 s, with no delay
/// and no grace, killing after 2 failures.
fn check(kind: Type) -> HealthCheck {
    HealthCheck {
        r#type: Some(kind as i32),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.3),
        timeout_seconds: Some(2.0),
        grace_period_seconds: Some(0.0),
        consecutive_failures: Some(2),
        ..Default::default()
    }
}

fn http(port: u32, path: &str) -> HealthCheck {
    HealthCheck {
        http: Some(HttpCheckInfo {
            port,
            path: Some(path.into()),
            ..Default::default()
        }),
        ..check(Type::Http)
    }
}

fn tcp(port: u32) -> HealthCheck {
    HealthCheck {
        tcp: Some(TcpCheckInfo {
            port,
            ..Default::default()
        }),
        ..check(Type::Tcp)
    }
}

fn command(line: &str) -> HealthCheck {
    HealthCheck {
        command: Some(CommandInfo {
            value: Some(line.into()),
            ..Default::default()
        }),
        ..check(Type::Command)
    }
}

/// `check` with a 10 s grace period: a server that is still starting is
/// not reported unhealthy.
fn graced(mut check: HealthCheck) -> HealthCheck {
    check.grace_period_seconds = Some(10.0);
    check
}

/// A task on port `n` running `command`, with `check`.
fn checked(id: &str, n: u8, command: &str, check: HealthCheck) -> TaskInfo {
    let mut t = task(id, &Port::nth(n), command);
    t.health_check = Some(check);
    t
}

/// The health reports of `task` so far: TASK_RUNNING updates with `healthy`.
fn reports(lab: &Lab, task: &TaskId) -> Vec<Received> {
    lab.agent
        .updates(task)
        .into_iter()
        .filter(|r| r.status.state() == TaskState::TaskRunning && r.status.healthy.is_some())
        .collect()
}

/// Waits for a health report of `task` saying `healthy`.
async fn wait_report(lab: &Lab, task: &str, healthy: bool) -> Received {
    let id = TaskId::from(task);
    let what = format!("{task} reported healthy={healthy}");
    let deadline = Instant::now() + T;
    loop {
        if let Some(r) = reports(lab, &id)
            .into_iter()
            .find(|r| r.status.healthy == Some(healthy))
        {
            assert_eq!(
                r.status.reason(),
                Reason::TaskHealthCheckStatusUpdated,
                "{what}: {:?}",
                r.status
            );
            assert!(
                r.status.container_status.is_some(),
                "a health report keeps the network: {:?}",
                r.status
            );
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; states {:?}",
            lab.agent.states(&id)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for `task` to be killed for its health; returns its message.
async fn killed_for_health(lab: &Lab, task: &str, failures: u32) -> String {
    let id = TaskId::from(task);
    let end = lab
        .agent
        .wait_terminal(&id, T)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        end.status.state(),
        TaskState::TaskKilled,
        "{:?}",
        end.status
    );
    assert_eq!(end.status.healthy, Some(false), "{:?}", end.status);
    let message = end.status.message.clone().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "killed after {failures} consecutive failed health checks"
        )),
        "{message}"
    );
    let unhealthy: Vec<_> = reports(lab, &id)
        .into_iter()
        .filter(|r| r.status.healthy == Some(false))
        .collect();
    assert_eq!(
        unhealthy.len(),
        failures as usize,
        "one report per failure, as Mesos"
    );
    message
}

const SERVER: &str = "exec /usr/bin/python3 -m http.server 8080 --bind 0.0.0.0 --directory /";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tcp_and_command_checks_report_health_and_kill_after_failures() {
    let lab = Lab::start().await;
    for n in 2..=9 {
        lab.add_lsp(&Port::nth(n));
    }
    let ex = ExecutorId::from("ex-health");
    let mut p = lab.executor(&lab.spec("ex-health")).await;
    let mut env_task = checked(
        "cmd-env-ok",
        7,
        "exec sleep 600",
        // the task's environment, and its own namespace (eth0 has its address)
        graced(command(
            "test \"$COLOUR\" = blue && ip -4 addr show dev eth0 | grep -q 192.168.1.7/24",
        )),
    );
    env_task.command.as_mut().unwrap().environment = Some(Environment {
        variables: vec![Variable {
            name: "COLOUR".into(),
            value: Some("blue".into()),
            ..Default::default()
        }],
    });
    let tasks = vec![
        checked("http-ok", 2, SERVER, graced(http(8080, "/"))),
        // graced: the failures that count are the server's 404s, not the
        // refused connections of a server still starting on a busy machine
        checked("http-404", 3, SERVER, graced(http(8080, "/no-such-file"))),
        checked("tcp-ok", 4, SERVER, graced(tcp(8080))),
        checked("tcp-closed", 5, SERVER, tcp(8081)),
        checked("cmd-ok", 6, "exec sleep 600", command("true")),
        env_task,
        checked("cmd-fails", 8, "exec sleep 600", command("exit 3")),
        {
            // statuses: only 404 counts as healthy here
            let mut c = http(8080, "/no-such-file");
            c.http.as_mut().unwrap().statuses = vec![404];
            checked("http-404-wanted", 9, SERVER, graced(c))
        },
    ];
    for t in tasks {
        lab.agent.launch(&ex, t).unwrap();
    }
    for healthy in [
        "http-ok",
        "tcp-ok",
        "cmd-ok",
        "cmd-env-ok",
        "http-404-wanted",
    ] {
        wait_report(&lab, healthy, true).await;
    }
    let m = killed_for_health(&lab, "http-404", 2).await;
    assert!(m.contains("answered 404"), "{m}");
    let m = killed_for_health(&lab, "tcp-closed", 2).await;
    assert!(
        m.contains("TCP connection to 192.168.1.5:8081 failed"),
        "{m}"
    );
    let m = killed_for_health(&lab, "cmd-fails", 2).await;
    assert!(m.contains("command exited with status 3"), "{m}");
    // the healthy ones stay running and report nothing new while healthy
    for healthy in [
        "http-ok",
        "tcp-ok",
        "cmd-ok",
        "cmd-env-ok",
        "http-404-wanted",
    ] {
        let id = TaskId::from(healthy);
        assert_eq!(
            reports(&lab, &id).len(),
            1,
            "{healthy}: {:?}",
            lab.agent.states(&id)
        );
        assert!(!lab.agent.states(&id).iter().any(|s| s.is_terminal()));
    }
    lab.agent.shutdown(&ex).unwrap();
    p.wait_exit(T).await.unwrap();
    lab.assert_nothing_left(&netns_of("http-ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delay_and_the_grace_period_hold_off_reports_until_their_edges() {
    let lab = Lab::start().await;
    for n in 2..=4 {
        lab.add_lsp(&Port::nth(n));
    }
    let ex = ExecutorId::from("ex-grace");
    let mut p = lab.executor(&lab.spec("ex-grace")).await;
    // fails until the task has made its file (after 1.5 s)
    let becomes_ready = "sleep 1.5; touch \"$MESOS_SANDBOX/ready-$PORT\"; exec sleep 600";
    let ready_check = |port: &str| command(&format!("test -f \"$MESOS_SANDBOX/ready-{port}\""));
    let mut graced = checked(
        "graced",
        2,
        &becomes_ready.replace("$PORT", "a"),
        ready_check("a"),
    );
    {
        let c = graced.health_check.as_mut().unwrap();
        c.grace_period_seconds = Some(5.0);
        c.consecutive_failures = Some(1);
    }
    let mut ungraced = checked(
        "ungraced",
        3,
        &becomes_ready.replace("$PORT", "b"),
        ready_check("b"),
    );
    ungraced.health_check.as_mut().unwrap().consecutive_failures = Some(1);
    let mut delayed = checked("delayed", 4, "exec sleep 600", command("true"));
    delayed.health_check.as_mut().unwrap().delay_seconds = Some(2.0);
    for t in [graced, ungraced, delayed] {
        lab.agent.launch(&ex, t).unwrap();
    }
    // failures inside the grace period are not reported; the first success is
    let first = wait_report(&lab, "graced", true).await;
    assert_eq!(
        reports(&lab, &TaskId::from("graced")).len(),
        1,
        "no unhealthy report before it"
    );
    // without a grace period the first failure counts (and here kills)
    killed_for_health(&lab, "ungraced", 1).await;
    // the delay: no check before 2 s after TASK_RUNNING
    let running = lab
        .agent
        .wait_update(&TaskId::from("delayed"), TaskState::TaskRunning, T)
        .await
        .unwrap();
    let report = wait_report(&lab, "delayed", true).await;
    // (both as the agent receives them: TASK_RUNNING travels a little after
    // the checks' clock has started)
    let waited = report.at.duration_since(running.at);
    assert!(
        waited >= Duration::from_millis(1900),
        "first check {waited:?} after TASK_RUNNING"
    );
    assert!(first.status.healthy == Some(true));
    lab.agent.shutdown(&ex).unwrap();
    p.wait_exit(T).await.unwrap();
}

/// Processes whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let line = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if line.contains(marker) {
                found.push(format!("{}: {line}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_check_times_out_leaves_no_process_and_stalls_nothing() {
    let lab = Lab::start().await;
    for n in 2..=3 {
        lab.add_lsp(&Port::nth(n));
    }
    let ex = ExecutorId::from("ex-hang");
    let mut p = lab.executor(&lab.spec("ex-hang")).await;
    let marker = "4711.25";
    let mut hangs = checked(
        "hangs",
        2,
        "exec sleep 600",
        command(&format!("sleep {marker}; true")),
    );
    {
        let c = hangs.health_check.as_mut().unwrap();
        c.timeout_seconds = Some(1.0);
        c.consecutive_failures = Some(3);
    }
    lab.agent.launch(&ex, hangs).unwrap();
    lab.agent
        .launch(&ex, task("other", &Port::nth(3), "exec sleep 600"))
        .unwrap();
    let other = TaskId::from("other");
    lab.agent
        .wait_update(&other, TaskState::TaskRunning, T)
        .await
        .unwrap();
    // while a check hangs, a KILL of the other task is carried out at once
    wait_for("a hanging check under way", T, || {
        Ok((!processes_with(marker).is_empty()).then_some(()))
    })
    .unwrap();
    let asked = Instant::now();
    lab.agent
        .kill(&ex, &other, Some(Duration::from_secs(1)))
        .unwrap();
    let end = lab.agent.wait_terminal(&other, T).await.unwrap();
    assert_eq!(end.status.state(), TaskState::TaskKilled);
    assert!(
        end.at.duration_since(asked) < Duration::from_millis(1500),
        "the kill took {:?}",
        end.at.duration_since(asked)
    );
    let m = killed_for_health(&lab, "hangs", 3).await;
    assert!(m.contains("timed out after 1s"), "{m}");
    wait_for("no check process left", Duration::from_secs(5), || {
        let left = processes_with(marker);
        if left.is_empty() {
            Ok(Some(()))
        } else {
            anyhow::bail!("left: {left:?}")
        }
    })
    .unwrap();
    // both tasks ended: the executor leaves by itself
    p.wait_exit(T).await.unwrap();
    lab.assert_nothing_left(&netns_of("hangs"));
}
