//! End to end through a real mesos-local master and agent: a framework
//! launches two tasks with `ExecutorInfo{CUSTOM, command: ovn-mesos-executor}`
//! and their attachments; the agent starts the executors with the Mesos
//! environment; the tasks reach each other over TCP; the scheduler sees
//! TASK_RUNNING with the task IP; a KILL and the framework's teardown leave
//! no port, veth or namespace. Stopping the agent gives the executor its
//! grace period: it kills its task and removes the task's network first.

mod executor_common;

use std::collections::HashMap;
use std::time::Duration;

use executor_common::{attachment_labels, curl_until_answered, in_netns, Lab, Port};
use mesos_local::client::{EventStream, SchedulerClient};
use mesos_local::cluster;
use mesos_local::resources::Resources;
use mesos_local::testing::{fast_cluster_config, framework_info};
use mesos_proto::v1::scheduler::{call, event, Call};
use mesos_proto::v1::{
    container_info, environment, executor_info, framework_info::capability,
    framework_info::Capability, offer::operation, CommandInfo, ContainerInfo, Environment,
    ExecutorInfo, TaskInfo, TaskState, TaskStatus,
};
use mesos_proto::Encoding;
use ovn_mesos_executor::attachment::{label, NETNS};
use ovn_mesos_executor::status::TASK_PID;
use ovn_mesos_tests::wait_for;

const WAIT: Duration = Duration::from_secs(30);

fn typed(kind: call::Type) -> Call {
    Call {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn resources(text: &str) -> Vec<mesos_proto::v1::Resource> {
    Resources::parse(text)
        .map(|r| r.to_protos(None))
        .unwrap_or_default()
}

/// A task on its own ovn-mesos-executor, attached to `port`.
fn ovn_task(lab: &Lab, id: &str, agent: &str, port: &Port, command: &str) -> TaskInfo {
    let var = |name: &str, value: String| environment::Variable {
        name: name.into(),
        value: Some(value),
        ..Default::default()
    };
    let mut task =
        executor_common::task_with(id, Some(&port.ip), &attachment_labels(port), command);
    task.agent_id = agent.into();
    // With an ExecutorInfo the command travels in `data` (Mesos JSON CommandInfo).
    let command = task.command.take().expect("command");
    task.data = Some(mesos_proto::to_json_vec(&command).expect("CommandInfo as JSON"));
    task.resources = resources("cpus:0.1;mem:32");
    let container = task.container.get_or_insert_with(ContainerInfo::default);
    container.set_type(container_info::Type::Mesos);
    task.executor = Some(ExecutorInfo {
        r#type: Some(executor_info::Type::Custom as i32),
        executor_id: format!("ovn-{id}").as_str().into(),
        command: Some(CommandInfo {
            value: Some(lab.binary.display().to_string()),
            environment: Some(Environment {
                variables: vec![
                    var("OVN_MESOS_OVS_DB", lab.chassis.ovs_remote()),
                    var("OVN_MESOS_HOST_NETNS", lab.chassis.netns().into()),
                    var("OVN_MESOS_LOG", "debug".into()),
                ],
            }),
            ..Default::default()
        }),
        resources: resources("cpus:0.1;mem:32"),
        ..Default::default()
    });
    task
}

async fn ack(client: &SchedulerClient, status: &TaskStatus) {
    if let (Some(agent_id), Some(uuid)) = (status.agent_id.clone(), status.uuid.clone()) {
        client
            .call(Call {
                acknowledge: Some(call::Acknowledge {
                    agent_id,
                    task_id: status.task_id.clone(),
                    uuid,
                }),
                ..typed(call::Type::Acknowledge)
            })
            .await
            .expect("ACKNOWLEDGE accepted");
    }
}

/// Every update seen so far, acknowledged as it arrives.
#[derive(Default)]
struct Seen(HashMap<String, Vec<TaskStatus>>);

impl Seen {
    fn get(&self, task: &str, state: TaskState) -> Option<TaskStatus> {
        self.0
            .get(task)?
            .iter()
            .find(|s| s.state() == state)
            .cloned()
    }

    /// Reads (and acknowledges) updates of any task until `task` reports `state`.
    async fn until(
        &mut self,
        client: &SchedulerClient,
        events: &mut EventStream,
        task: &str,
        state: TaskState,
    ) -> TaskStatus {
        loop {
            if let Some(s) = self.get(task, state) {
                return s;
            }
            let event = events
                .next_matching(&format!("{task} to reach {state:?}"), WAIT, |e| {
                    e.update.is_some()
                })
                .await
                .unwrap_or_else(|e| panic!("{e}; seen: {:?}", self.states()));
            let status = event.update.expect("update").status;
            ack(client, &status).await;
            let id = status.task_id.value.clone();
            assert!(
                id != task || status.state() == state || !status.state().is_terminal(),
                "{task} ended {:?}: {:?}",
                status.state(),
                status.message
            );
            self.0.entry(id).or_default().push(status);
        }
    }

    fn states(&self) -> Vec<(String, Vec<TaskState>)> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(TaskStatus::state).collect()))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_launched_through_mesos_local_talk_tcp_and_clean_up() {
    let lab = Lab::start().await;
    let (a, b) = (Port::nth(2), Port::nth(3));
    lab.add_lsp(&a);
    lab.add_lsp(&b);
    let www = lab.sandboxes.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "served through mesos-local\n").unwrap();

    let work = tempfile::tempdir().unwrap();
    let mesos = cluster::start(fast_cluster_config(work.path(), 1))
        .await
        .expect("mesos-local");
    assert!(mesos.wait_agents_registered(WAIT).await);
    let mut client = SchedulerClient::new(&mesos.master_endpoint(), Encoding::Protobuf);
    let mut info = framework_info("ovn-mesos-executor-e2e");
    info.capabilities.push(Capability {
        r#type: Some(capability::Type::TaskKillingState as i32),
    });
    let mut events = client.subscribe(info).await.expect("subscribed");
    let offer = first_offer(&mut events).await;
    let agent = offer.agent_id.value.clone();
    let server = format!(
        "exec /usr/bin/python3 -m http.server 8080 --directory {}",
        www.display()
    );
    let tasks = vec![
        ovn_task(&lab, "web-a", &agent, &a, &server),
        ovn_task(&lab, "client-b", &agent, &b, "exec sleep 600"),
    ];
    client
        .call(Call {
            accept: Some(call::Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![mesos_proto::v1::offer::Operation {
                    r#type: Some(operation::Type::Launch as i32),
                    launch: Some(operation::Launch { task_infos: tasks }),
                    ..Default::default()
                }],
                filters: None,
            }),
            ..typed(call::Type::Accept)
        })
        .await
        .expect("ACCEPT");

    let mut seen = Seen::default();
    let running_a = seen
        .until(&client, &mut events, "web-a", TaskState::TaskRunning)
        .await;
    let running_b = seen
        .until(&client, &mut events, "client-b", TaskState::TaskRunning)
        .await;
    let ni = |s: &TaskStatus| {
        s.container_status
            .clone()
            .expect("container_status")
            .network_infos[0]
            .clone()
    };
    assert_eq!(
        ni(&running_a).ip_addresses[0].ip_address.as_deref(),
        Some("192.168.1.2")
    );
    let ns_a = label(ni(&running_a).labels.as_ref(), NETNS).expect("netns of a");
    let ns_b = label(ni(&running_b).labels.as_ref(), NETNS).expect("netns of b");

    let body = curl_until_answered(&ns_b, "http://192.168.1.2:8080/index.html");
    assert_eq!(body, "served through mesos-local\n");
    assert!(in_netns(&ns_a, &["ip", "-o", "addr", "show", "eth0"])
        .unwrap()
        .contains("192.168.1.2/24"));

    client
        .call(Call {
            kill: Some(call::Kill {
                task_id: "web-a".into(),
                ..Default::default()
            }),
            ..typed(call::Type::Kill)
        })
        .await
        .expect("KILL");
    let killed = seen
        .until(&client, &mut events, "web-a", TaskState::TaskKilled)
        .await;
    let states: Vec<TaskState> = seen.0["web-a"].iter().map(TaskStatus::state).collect();
    assert_eq!(
        states,
        [
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskKilling,
            TaskState::TaskKilled
        ]
    );
    assert!(
        killed.message().starts_with("Command "),
        "{:?}",
        killed.message
    );
    assert!(
        !std::path::Path::new("/var/run/netns").join(&ns_a).exists(),
        "netns of a removed"
    );
    assert_eq!(lab.ports().len(), 1, "only b's port is left");

    client
        .call(typed(call::Type::Teardown))
        .await
        .expect("TEARDOWN");
    wait_for("b's network to be removed after the teardown", WAIT, || {
        Ok((lab.ports().is_empty()
            && lab.task_links().is_empty()
            && !std::path::Path::new("/var/run/netns").join(&ns_b).exists())
        .then_some(()))
    })
    .unwrap();
    mesos.shutdown().await;
    lab.assert_nothing_left(&ns_a);
    lab.assert_nothing_left(&ns_b);
}

/// Should the test fail, what the executor did not remove goes: the task
/// process (by pid) and its namespace.
struct RemoveOnDrop {
    task_pid: i32,
    netns: String,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if alive(self.task_pid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.task_pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if std::path::Path::new("/var/run/netns")
            .join(&self.netns)
            .exists()
        {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.netns])
                .status();
        }
    }
}

/// Whether process `pid` exists.
fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_agent_lets_the_executor_remove_its_task_and_network() {
    let lab = Lab::start().await;
    let a = Port::nth(4);
    lab.add_lsp(&a);
    let work = tempfile::tempdir().unwrap();
    let mesos = cluster::start(fast_cluster_config(work.path(), 1))
        .await
        .expect("mesos-local");
    assert!(mesos.wait_agents_registered(WAIT).await);
    let mut client = SchedulerClient::new(&mesos.master_endpoint(), Encoding::Protobuf);
    let mut events = client
        .subscribe(framework_info("agent-stop"))
        .await
        .expect("subscribed");
    let offer = first_offer(&mut events).await;
    let task = ovn_task(&lab, "held", &offer.agent_id.value, &a, "exec sleep 600");
    client
        .call(Call {
            accept: Some(call::Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![mesos_proto::v1::offer::Operation {
                    r#type: Some(operation::Type::Launch as i32),
                    launch: Some(operation::Launch {
                        task_infos: vec![task],
                    }),
                    ..Default::default()
                }],
                filters: None,
            }),
            ..typed(call::Type::Accept)
        })
        .await
        .expect("ACCEPT");
    let running = Seen::default()
        .until(&client, &mut events, "held", TaskState::TaskRunning)
        .await;
    let netns = label(
        running
            .container_status
            .as_ref()
            .expect("container_status")
            .network_infos[0]
            .labels
            .as_ref(),
        NETNS,
    )
    .expect("netns of the task");
    let task_pid: i32 = label(running.labels.as_ref(), TASK_PID)
        .and_then(|p| p.parse().ok())
        .expect("pid of the task");
    let executor_pid = running
        .container_status
        .as_ref()
        .and_then(|c| c.executor_pid)
        .expect("pid of the executor") as i32;
    let _failing = RemoveOnDrop {
        task_pid,
        netns: netns.clone(),
    };
    assert!(alive(task_pid) && alive(executor_pid));
    assert!(std::path::Path::new("/var/run/netns").join(&netns).exists());

    // The agent stops: the executor gets SHUTDOWN and its grace period, so
    // it kills its task and removes its network before it exits.
    mesos.shutdown().await;
    wait_for(
        "the executor to exit after removing the task, its port, veth and namespace",
        WAIT,
        || {
            Ok((!alive(executor_pid)
                && !alive(task_pid)
                && lab.ports().is_empty()
                && lab.task_links().is_empty()
                && !std::path::Path::new("/var/run/netns").join(&netns).exists())
            .then_some(()))
        },
    )
    .unwrap();
    lab.assert_nothing_left(&netns);
    let sandbox_log = std::fs::read_to_string(
        walk(work.path())
            .into_iter()
            .find(|p| p.ends_with("stderr") && p.to_string_lossy().contains("ovn-held"))
            .expect("the executor's stderr in its sandbox"),
    )
    .unwrap();
    assert!(
        sandbox_log.contains("executor exits outcome=Shutdown"),
        "the executor ended on SHUTDOWN, not by a signal:\n{sandbox_log}"
    );
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

/// The first offer of the next OFFERS event.
async fn first_offer(events: &mut EventStream) -> mesos_proto::v1::Offer {
    events
        .next_of(event::Type::Offers, WAIT)
        .await
        .expect("offers")
        .offers
        .expect("offers")
        .offers
        .remove(0)
}
