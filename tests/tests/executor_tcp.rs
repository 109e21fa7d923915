//! Two tasks launched through the executor API on one logical switch reach
//! each other over TCP (an HTTP server in one, curl from the other and from
//! a task command), report their IP and namespace on TASK_RUNNING, have tx
//! checksum offload off, and leave nothing behind when killed.

mod executor_common;

use std::time::Duration;

use executor_common::{curl_until_answered, in_netns, netns_of, task, Lab, Port};
use mesos_proto::v1::{ExecutorId, TaskId, TaskState};
use ovn_mesos_executor::attachment::{label, NETNS};

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_on_one_switch_talk_tcp_and_leave_nothing_when_killed() {
    let lab = Lab::start().await;
    let (a, b) = (Port::nth(2), Port::nth(3));
    lab.add_lsp(&a);
    lab.add_lsp(&b);
    let www = lab.sandboxes.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from task a\n").unwrap();

    let (ex_a, ex_b) = (ExecutorId::from("ex-a"), ExecutorId::from("ex-b"));
    let mut pa = lab.executor(&lab.spec("ex-a")).await;
    let mut pb = lab.executor(&lab.spec("ex-b")).await;
    let server = format!(
        "exec /usr/bin/python3 -m http.server 8080 --bind 0.0.0.0 --directory {}",
        www.display()
    );
    lab.agent
        .launch(&ex_a, task("task-a", &a, &server))
        .unwrap();
    lab.agent
        .launch(&ex_b, task("task-b", &b, "exec sleep 600"))
        .unwrap();

    let running_a = lab
        .agent
        .wait_update(&TaskId::from("task-a"), TaskState::TaskRunning, T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", pa.log()));
    lab.agent
        .wait_update(&TaskId::from("task-b"), TaskState::TaskRunning, T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", pb.log()));
    assert_eq!(
        lab.agent.states(&TaskId::from("task-a"))[..2],
        [TaskState::TaskStarting, TaskState::TaskRunning]
    );

    // TASK_RUNNING carries the IP, the namespace and the pid.
    let cs = running_a
        .status
        .container_status
        .clone()
        .expect("container_status");
    let ni = &cs.network_infos[0];
    assert_eq!(
        ni.ip_addresses[0].ip_address.as_deref(),
        Some("192.168.1.2")
    );
    let ns_a = label(ni.labels.as_ref(), NETNS).expect("netns label");
    assert_eq!(ns_a, netns_of("task-a"));
    assert!(cs.executor_pid.is_some());
    let ns_b = netns_of("task-b");

    // The container side as the contract says: MAC, IP, MTU, route, offload off.
    let link = in_netns(&ns_a, &["ip", "-o", "link", "show", "eth0"]).unwrap();
    assert!(link.contains("mtu 1400") && link.contains(&a.mac), "{link}");
    let route = in_netns(&ns_a, &["ip", "route", "show", "default"]).unwrap();
    assert!(route.contains("via 192.168.1.1 dev eth0"), "{route}");
    let offload = in_netns(&ns_a, &["ethtool", "-k", "eth0"]).unwrap();
    assert!(offload.contains("tx-checksumming: off"), "{offload}");
    let iface = lab
        .chassis
        .vsctl(&[
            "get",
            "Interface",
            &ovn::attachment::TaskNames::new(executor_common::FRAMEWORK, "task-a").host_veth,
            "external_ids",
        ])
        .unwrap();
    for want in [
        "iface-id=ls1-task-2",
        "attached-mac=\"0a:58:c0:a8:01:02\"",
        "iface-status=active",
        "ovn-installed=\"true\"",
        "\"ovn-mesos/task\"=task-a",
    ] {
        assert!(iface.contains(want), "{want} missing in {iface}");
    }

    // TCP from b's namespace to a's server.
    let body = curl_until_answered(&ns_b, "http://192.168.1.2:8080/index.html");
    assert_eq!(body, "hello from task a\n");

    // A task whose own command fetches from the other task.
    let c = Port::nth(4);
    lab.add_lsp(&c);
    let ex_c = ExecutorId::from("ex-c");
    let mut pc = lab.executor(&lab.spec("ex-c")).await;
    lab.agent
        .launch(
            &ex_c,
            task(
                "task-c",
                &c,
                "curl -sSf -m 5 http://192.168.1.2:8080/index.html",
            ),
        )
        .unwrap();
    let done = lab
        .agent
        .wait_terminal(&TaskId::from("task-c"), T)
        .await
        .unwrap();
    assert_eq!(
        done.status.state(),
        TaskState::TaskFinished,
        "{:?}\n{}",
        done.status.message,
        pc.log()
    );
    assert_eq!(
        done.status.message.as_deref(),
        Some("Command exited with status 0")
    );
    let out = std::fs::read_to_string(lab.sandboxes.path().join("ex-c/stdout")).unwrap();
    assert_eq!(out, "hello from task a\n");
    pc.wait_exit(T).await.expect("an idle executor exits");

    // Kill both: TASK_KILLING then TASK_KILLED, then nothing is left.
    lab.agent
        .kill(&ex_a, &TaskId::from("task-a"), Some(Duration::from_secs(2)))
        .unwrap();
    lab.agent
        .kill(&ex_b, &TaskId::from("task-b"), None)
        .unwrap();
    for t in ["task-a", "task-b"] {
        let end = lab.agent.wait_terminal(&TaskId::from(t), T).await.unwrap();
        assert_eq!(
            end.status.state(),
            TaskState::TaskKilled,
            "{t}: {:?}",
            end.status.message
        );
        assert!(lab
            .agent
            .states(&TaskId::from(t))
            .contains(&TaskState::TaskKilling));
    }
    let sa = pa.wait_exit(T).await.unwrap();
    let sb = pb.wait_exit(T).await.unwrap();
    assert!(sa.success() && sb.success(), "{sa:?} {sb:?}");
    lab.assert_nothing_left(&ns_a);
    lab.assert_nothing_left(&ns_b);
    lab.assert_nothing_left(&netns_of("task-c"));
}
