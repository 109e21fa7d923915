//! The master and an agent as separate `mesos-local` processes, as in the
//! end-to-end setup where each agent runs in its own network namespace:
//! a command task runs across processes; an agent that crashes (SIGKILL)
//! loses its tasks after the master's ping timeouts; an agent restarted on
//! the same work directory kills the executors its crashed predecessor
//! left behind and registers anew.

use std::path::Path;
use std::time::{Duration, Instant};

use mesos_local::testing::scheduler::{
    executor_pid, launch_running, next_offers, next_update, subscribe, WAIT,
};
use mesos_local::testing::{command_task, framework_info, MesosProcess, TEST_RESOURCES};
use mesos_proto::v1::{task_status, TaskState};
use mesos_proto::Encoding;

/// Kills the process group of a task left behind if the test fails before
/// the restarted agent does (only while it still runs in `sandbox_root`).
struct Leftover {
    pid: u32,
    sandbox_root: std::path::PathBuf,
}

impl Drop for Leftover {
    fn drop(&mut self) {
        let cwd = std::fs::read_link(format!("/proc/{}/cwd", self.pid)).ok();
        if cwd.is_some_and(|c| c.starts_with(&self.sandbox_root)) {
            if let Ok(pid) = i32::try_from(self.pid) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

fn start_agent(master: &str, work_dir: &Path, log: &Path) -> MesosProcess {
    let dir = work_dir.to_string_lossy().into_owned();
    let args = [
        "agent",
        "--master",
        master,
        "--ip",
        "127.0.0.1",
        "--port",
        "0",
        "--work-dir",
        &dir,
        "--resources",
        TEST_RESOURCES,
        "--attributes",
        "host:one",
    ];
    MesosProcess::start(&args, 1, log).expect("agent process started")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_agent_loses_its_tasks_and_its_successor_cleans_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let master = MesosProcess::start(
        &[
            "master",
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--agent-ping-timeout",
            "200ms",
            "--max-agent-ping-timeouts",
            "3",
            "--allocation-interval",
            "100ms",
        ],
        1,
        &dir.path().join("master.log"),
    )
    .expect("master process started");
    let master_addr = master.addresses()[0].clone();
    let work_dir = dir.path().join("agent");
    let mut agent = start_agent(&master_addr, &work_dir, &dir.path().join("agent-1.log"));

    let (client, mut events) =
        subscribe(&master_addr, Encoding::Protobuf, framework_info("across"))
            .await
            .expect("subscribed");
    let offer = next_offers(&mut events)
        .await
        .expect("offer from the agent process")
        .remove(0);
    assert_eq!(offer.attributes[0].name, "host");
    let task = command_task(
        "orphan",
        &offer.agent_id.value,
        "sleep 1000",
        "cpus:0.5;mem:64",
    );
    let running = launch_running(&client, &mut events, &offer, task)
        .await
        .expect("running");
    let pid = executor_pid(&running).expect("task pid");
    let _leftover = Leftover {
        pid,
        sandbox_root: work_dir.clone(),
    };

    agent.kill();
    let lost = next_update(&mut events, "orphan", TaskState::TaskLost)
        .await
        .expect("TASK_LOST after ping timeouts");
    assert_eq!(lost.reason(), task_status::Reason::AgentRemoved);
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the crash leaves the task process behind"
    );

    let _successor = start_agent(&master_addr, &work_dir, &dir.path().join("agent-2.log"));
    let deadline = Instant::now() + WAIT;
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "waiting for the restarted agent to kill leftover process {pid}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = next_offers(&mut events)
        .await
        .expect("offer from the restarted agent");
    assert_ne!(
        again[0].agent_id, offer.agent_id,
        "a restarted agent registers as a new agent"
    );
}
