//! Several mesos-local masters in a ZooKeeper group (`--zk`), against a
//! real ZooKeeper (the harness' standalone server) and real `mesos-local`
//! processes:
//!
//! * three masters: one `json.info_` znode each with its `MasterInfo` as
//!   JSON, the lowest one serves, the others answer the scheduler API and
//!   `/state` with 307 to it, and `/redirect` points at it on every
//!   master;
//! * an agent with `--master zk://...` registers with the leader; a task
//!   launched through the leader survives the leader's SIGKILL: a new
//!   leader is elected, the agent re-registers with its task, the
//!   scheduler resubscribes (through a 307) and reconciliation says
//!   RUNNING;
//! * a leader that loses its ZooKeeper session exits (status 1) and the
//!   others elect a new leader once ZooKeeper is back;
//! * `mesos-local run --masters 3 --zk` elects one of its masters, its
//!   agents register with it, and a master that loses leadership is
//!   restarted by `run`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use mesos_local::client::SchedulerClient;
use mesos_local::testing::scheduler::{
    acknowledge, call, executor_pid, launch_running, next_offers, next_update,
};
use mesos_local::testing::{
    agreed_leader, command_task, framework_info, get_unfollowed, master_state,
    post_subscribe_unfollowed, MesosProcess, TEST_RESOURCES,
};
use mesos_proto::v1::scheduler::{call, Call};
use mesos_proto::v1::{self, task_status, TaskState};
use mesos_proto::Encoding;
use ovn_mesos_tests::{wait_for, wait_for_async, ZooKeeper};
use reqwest::StatusCode;
use serde_json::Value;

/// ZooKeeper session timeout of the masters and agents here (Mesos: 10 s;
/// the harness' server grants 0.4 to 4 s).
const SESSION_TIMEOUT: &str = "2secs";
/// Generous bound for an election or a failover (session timeout plus a
/// busy machine).
const FAILOVER: Duration = Duration::from_secs(30);
/// The group's path.
const GROUP: &str = "/mesos";

/// Starts `mesos-local master --zk <url>` on a free port.
fn start_master(zk_url: &str, dir: &Path, name: &str) -> MesosProcess {
    let log = dir.join(format!("{name}.log"));
    MesosProcess::zk_master(zk_url, SESSION_TIMEOUT, &dir.join(name), &log).expect("master process")
}

/// Waits until the master at `leader` has `count` agents registered.
async fn wait_agents(leader: &str, count: usize, what: &str) {
    wait_for_async(what, FAILOVER, || async {
        let doc = master_state(leader).await?;
        Ok(doc["slaves"]
            .as_array()
            .is_some_and(|s| s.len() == count)
            .then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
}

fn start_agent(master: &str, dir: &Path) -> MesosProcess {
    let work = dir.join("agent").display().to_string();
    let args = [
        "agent",
        "--master",
        master,
        "--zk-session-timeout",
        SESSION_TIMEOUT,
        "--ip",
        "127.0.0.1",
        "--port",
        "0",
        "--work-dir",
        &work,
        "--resources",
        TEST_RESOURCES,
    ];
    MesosProcess::start(&args, 1, &dir.join("agent.log")).expect("agent process")
}

/// The group's members as ZooKeeper has them: znode name -> data.
async fn members(zk: &ZooKeeper) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let client = zookeeper_client::Client::connect(&zk.connect_string()).await?;
    let mut found = BTreeMap::new();
    for child in client.list_children(GROUP).await? {
        if let Ok((data, _)) = client.get_data(&format!("{GROUP}/{child}")).await {
            found.insert(child, data);
        }
    }
    Ok(found)
}

/// The masters' `json.info_` members, lowest first, as `(znode, MasterInfo)`.
async fn master_infos(zk: &ZooKeeper) -> anyhow::Result<Vec<(String, v1::MasterInfo)>> {
    let mut infos = Vec::new();
    for (name, data) in members(zk).await? {
        anyhow::ensure!(name.starts_with("json.info_"), "unexpected znode {name}");
        infos.push((name, mesos_proto::from_json_slice::<v1::MasterInfo>(&data)?));
    }
    Ok(infos)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_masters_elect_the_lowest_znode_and_the_others_redirect_to_it() {
    let zk = ZooKeeper::start().expect("ZooKeeper");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = zk.zk_url(GROUP);
    let masters: Vec<MesosProcess> = (0..3)
        .map(|i| start_master(&url, dir.path(), &format!("master-{i}")))
        .collect();
    let addrs: Vec<&str> = masters.iter().map(|m| m.addresses()[0].as_str()).collect();

    // One json.info_ znode per master, with its MasterInfo as JSON.
    let infos = wait_for_async("one json.info_ znode per master", FAILOVER, || async {
        let infos = master_infos(&zk).await?;
        Ok((infos.len() == 3).then_some(infos))
    })
    .await
    .expect("three members");
    for (name, info) in &infos {
        assert!(
            name.len() == "json.info_".len() + 10,
            "10-digit sequence: {name}"
        );
        let pid = info.pid.clone().expect("pid");
        let addr = pid.strip_prefix("master@").expect("master@ip:port");
        assert!(addrs.contains(&addr), "{pid} is one of {addrs:?}");
        assert_eq!(
            info.ip,
            u32::from_le_bytes([127, 0, 0, 1]),
            "ip as Mesos packs it"
        );
        assert_eq!(format!("127.0.0.1:{}", info.port), addr);
        assert_eq!(info.hostname.as_deref(), Some("127.0.0.1"));
        assert_eq!(info.version.as_deref(), Some("1.11.0"));
        let address = info.address.clone().expect("address");
        assert_eq!(address.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(address.port, i32::try_from(info.port).unwrap());
        assert!(!info.id.is_empty());
    }
    // As stout writes it: compact, keys sorted, the ip a number.
    let raw = members(&zk).await.unwrap()[&infos[0].0].clone();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with(r#"{"address":{"hostname":"#), "{text}");
    let raw: Value = serde_json::from_str(&text).unwrap();
    assert!(raw["ip"].is_u64() && raw["port"].is_u64() && raw["address"]["ip"].is_string());
    assert!(text.find(r#""id":"#) < text.find(r#""version":"#), "{text}");
    let lowest = infos[0].1.pid.clone().unwrap();
    let leader = lowest.trim_start_matches("master@").to_string();

    // Every master agrees; the lowest znode's master serves.
    let agreed = wait_for_async("the masters to agree on a leader", FAILOVER, || {
        agreed_leader(&addrs)
    })
    .await
    .expect("a leader");
    assert_eq!(agreed, leader, "the lowest sequence leads");
    let doc = master_state(&leader).await.expect("leader state");
    assert_eq!(doc["leader_info"]["id"], infos[0].1.id.as_str());
    assert_eq!(doc["id"], infos[0].1.id.as_str());

    for addr in &addrs {
        // `/redirect` and `/master/redirect` point at the leader on every
        // master (the leader included), as protocol-relative URLs.
        for path in ["/redirect", "/master/redirect"] {
            let (status, location) = get_unfollowed(addr, path).await.unwrap();
            assert_eq!(status, StatusCode::TEMPORARY_REDIRECT, "{addr}{path}");
            assert_eq!(location, Some(format!("//{leader}")), "{addr}{path}");
        }
        let (status, _) = get_unfollowed(addr, "/redirect/x").await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND, "no redirect loop");
        let (status, _) = get_unfollowed(addr, "/health").await.unwrap();
        assert_eq!(status, StatusCode::OK, "every master is healthy");
        if *addr == leader {
            continue;
        }
        for path in ["/api/v1/scheduler", "/master/api/v1/scheduler"] {
            let (status, location) = post_subscribe_unfollowed(addr, path).await.unwrap();
            assert_eq!(status, StatusCode::TEMPORARY_REDIRECT, "{addr}{path}");
            assert_eq!(location, Some(format!("//{leader}{path}")));
        }
        // Also before any other check (a GET is still redirected).
        let (status, location) = get_unfollowed(addr, "/api/v1/scheduler").await.unwrap();
        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(location, Some(format!("//{leader}/api/v1/scheduler")));
        let (status, location) = get_unfollowed(addr, "/state?jsonp=x").await.unwrap();
        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(location, Some(format!("//{leader}/state?jsonp=x")));
    }

    // A scheduler pointed at a follower follows the 307 and then talks to
    // the leader.
    let follower = addrs.iter().find(|a| **a != leader).unwrap();
    let mut client = SchedulerClient::new(follower, Encoding::Json);
    let _events = client
        .subscribe(framework_info("redirected"))
        .await
        .expect("subscribed through the redirect");
    assert_eq!(client.url(), format!("http://{leader}/api/v1/scheduler"));
    client
        .call(call(call::Type::Revive))
        .await
        .expect("calls go to the leader");
    let doc = master_state(&leader).await.unwrap();
    assert_eq!(doc["frameworks"][0]["name"], "redirected");

    drop(masters);
    zk.check_logs().expect("ZooKeeper logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_survives_the_leaders_death_through_agent_reregistration() {
    let zk = ZooKeeper::start().expect("ZooKeeper");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = zk.zk_url(GROUP);
    let mut masters: Vec<MesosProcess> = (0..3)
        .map(|i| start_master(&url, dir.path(), &format!("master-{i}")))
        .collect();
    let addrs: Vec<String> = masters.iter().map(|m| m.addresses()[0].clone()).collect();
    let all: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let mut agent = start_agent(&url, dir.path());

    let leader = wait_for_async("a leader", FAILOVER, || agreed_leader(&all))
        .await
        .expect("a leader");
    wait_agents(&leader, 1, "the agent to register with the leader").await;

    // A scheduler (through a follower's 307) launches a long task.
    let follower = all.iter().find(|a| **a != leader).unwrap();
    let mut client = SchedulerClient::new(follower, Encoding::Json);
    let mut events = client
        .subscribe(framework_info("survivor"))
        .await
        .expect("subscribed");
    let framework_id = client.framework_id.clone().expect("framework id");
    let offer = next_offers(&mut events).await.expect("offers").remove(0);
    let agent_id = offer.agent_id.clone();
    let task = command_task("long", &agent_id.value, "sleep 1000", "cpus:0.5;mem:64");
    let running = launch_running(&client, &mut events, &offer, task)
        .await
        .expect("running");
    let pid = executor_pid(&running).expect("task pid");

    // The leader crashes.
    let dead = addrs.iter().position(|a| *a == leader).unwrap();
    let killed = Instant::now();
    masters[dead].kill();
    drop(events);
    let survivors: Vec<&str> = all.iter().copied().filter(|a| *a != leader).collect();

    // Its znode goes with its session; a survivor is elected.
    let new_leader = wait_for_async("a new leader", FAILOVER, || agreed_leader(&survivors))
        .await
        .expect("new leader");
    let elected_after = killed.elapsed();
    assert_ne!(new_leader, leader);
    let infos = master_infos(&zk).await.unwrap();
    assert_eq!(infos.len(), 2, "the dead master's znode is gone: {infos:?}");
    assert_eq!(
        infos[0].1.pid.as_deref(),
        Some(format!("master@{new_leader}").as_str()),
        "the lowest remaining znode leads"
    );

    // The agent re-registers with the new leader, bringing its task.
    wait_for_async(
        "the agent to re-register with its task",
        FAILOVER,
        || async {
            let doc = master_state(&new_leader).await?;
            let task = &doc["frameworks"][0]["tasks"][0];
            Ok((doc["slaves"][0]["id"] == agent_id.value.as_str()
                && doc["frameworks"][0]["id"] == framework_id.value.as_str()
                && task["id"] == "long"
                && task["state"] == "TASK_RUNNING")
                .then_some(()))
        },
    )
    .await
    .expect("agent re-registered");
    let reregistered_after = killed.elapsed();

    // The scheduler fails over to the new leader (through any survivor:
    // a follower answers 307) and reconciles.
    let mut info = framework_info("survivor");
    info.id = Some(framework_id.clone());
    let mut client = SchedulerClient::new(survivors[0], Encoding::Json);
    let mut events = client.subscribe(info).await.expect("resubscribed");
    assert_eq!(client.framework_id, Some(framework_id));
    assert_eq!(
        client.url(),
        format!("http://{new_leader}/api/v1/scheduler")
    );
    client
        .call(Call {
            reconcile: Some(call::Reconcile {
                tasks: vec![call::reconcile::Task {
                    task_id: "long".into(),
                    agent_id: Some(agent_id.clone()),
                }],
            }),
            ..call(call::Type::Reconcile)
        })
        .await
        .expect("RECONCILE accepted");
    // An update whose acknowledgement died with the old leader is resent
    // by the agent first: acknowledge it, the reconciliation answer follows.
    let status = loop {
        let status = next_update(&mut events, "long", TaskState::TaskRunning)
            .await
            .expect("RUNNING");
        if status.reason() == task_status::Reason::Reconciliation {
            break status;
        }
        acknowledge(&client, &status).await.expect("acknowledged");
    };
    assert_eq!(status.source(), task_status::Source::Master);
    let failed_over_after = killed.elapsed();
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the task process {pid} still runs"
    );
    eprintln!(
        "failover (session timeout {SESSION_TIMEOUT}): new leader after {elected_after:?}, \
         agent re-registered after {reregistered_after:?}, task reconciled RUNNING after \
         {failed_over_after:?}"
    );

    drop(events);
    agent.stop();
    drop(masters);
    zk.check_logs().expect("ZooKeeper logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_its_zookeeper_session_exits_and_another_is_elected() {
    let mut zk = ZooKeeper::start().expect("ZooKeeper");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = zk.zk_url(GROUP);
    let mut masters: Vec<MesosProcess> = (0..3)
        .map(|i| start_master(&url, dir.path(), &format!("master-{i}")))
        .collect();
    let addrs: Vec<String> = masters.iter().map(|m| m.addresses()[0].clone()).collect();
    let all: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let leader = wait_for_async("a leader", FAILOVER, || agreed_leader(&all))
        .await
        .expect("a leader");
    let index = addrs.iter().position(|a| *a == leader).unwrap();

    // ZooKeeper goes away: the leader's session is lost after the session
    // timeout, and the leader exits with status 1 ("committing suicide").
    zk.kill(0).expect("ZooKeeper killed");
    let lost = Instant::now();
    let status = wait_for("the leader to exit", FAILOVER, || {
        Ok(masters[index].try_wait())
    })
    .expect("the leader exited");
    let exited_after = lost.elapsed();
    assert_eq!(status.code(), Some(1), "{status:?}");
    let log = std::fs::read_to_string(dir.path().join(format!("master-{index}.log"))).unwrap();
    assert!(log.contains("committing suicide"), "{log}");
    eprintln!(
        "leader exited {exited_after:?} after ZooKeeper died (session timeout {SESSION_TIMEOUT})"
    );
    // Followers keep running, and know no leader.
    let followers: Vec<&str> = all.iter().copied().filter(|a| *a != leader).collect();
    for (i, m) in masters.iter_mut().enumerate() {
        if i != index {
            assert_eq!(m.try_wait(), None, "follower {i} still runs");
        }
    }
    wait_for_async("the followers to lose the leader", FAILOVER, || async {
        for addr in &followers {
            if get_unfollowed(addr, "/redirect").await?.0 != StatusCode::SERVICE_UNAVAILABLE {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })
    .await
    .expect("no leader without ZooKeeper");

    // ZooKeeper is back: the followers contend again and one leads.
    zk.restart(0).expect("ZooKeeper restarted");
    let new_leader = wait_for_async("a new leader", FAILOVER, || agreed_leader(&followers))
        .await
        .expect("a new leader");
    assert!(followers.contains(&new_leader.as_str()));
    wait_for_async("only the survivors' znodes", FAILOVER, || async {
        Ok((master_infos(&zk).await?.len() == 2).then_some(()))
    })
    .await
    .expect("two members");
    drop(masters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_three_masters_elects_one_and_restarts_a_master_that_lost_leadership() {
    let mut zk = ZooKeeper::start().expect("ZooKeeper");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = zk.zk_url(GROUP);
    let work = dir.path().join("run").display().to_string();
    let args = [
        "run",
        "--ip",
        "127.0.0.1",
        "--port",
        "0",
        "--masters",
        "3",
        "--zk",
        &url,
        "--zk-session-timeout",
        SESSION_TIMEOUT,
        "--agents",
        "2",
        "--work-dir",
        &work,
        "--resources",
        TEST_RESOURCES,
        "--allocation-interval",
        "50ms",
    ];
    let mut run = MesosProcess::start(&args, 5, &dir.path().join("run.log")).expect("run");
    let masters: Vec<String> = run.addresses()[..3].to_vec();
    let all: Vec<&str> = masters.iter().map(String::as_str).collect();
    let leader = wait_for_async("a leader", FAILOVER, || agreed_leader(&all))
        .await
        .expect("a leader");
    assert_eq!(master_infos(&zk).await.unwrap().len(), 3);
    wait_agents(&leader, 2, "both agents to register with the leader").await;
    let follower = all.iter().find(|a| **a != leader).unwrap();
    let (status, location) = post_subscribe_unfollowed(follower, "/api/v1/scheduler")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(location, Some(format!("//{leader}/api/v1/scheduler")));

    // ZooKeeper dies: the leading master aborts and `run` restarts it on
    // its port; once ZooKeeper is back, all three contend again.
    zk.kill(0).expect("ZooKeeper killed");
    wait_for(
        "run to restart the master that lost leadership",
        FAILOVER,
        || {
            let log = std::fs::read_to_string(dir.path().join("run.log"))?;
            Ok(log.contains("aborted: ").then_some(()))
        },
    )
    .expect("restarted");
    assert_eq!(run.try_wait(), None, "run keeps running");
    zk.restart(0).expect("ZooKeeper restarted");
    wait_for_async("three live members again", FAILOVER, || async {
        let infos = master_infos(&zk).await?;
        let ports: Vec<String> = infos
            .iter()
            .filter_map(|(_, i)| i.pid.clone())
            .map(|p| p.trim_start_matches("master@").to_string())
            .collect();
        Ok((infos.len() == 3 && all.iter().all(|a| ports.iter().any(|p| p == a))).then_some(()))
    })
    .await
    .expect("three members");
    let leader = wait_for_async("a leader again", FAILOVER, || agreed_leader(&all))
        .await
        .expect("a leader");
    wait_agents(&leader, 2, "the agents to register with it").await;
    run.stop();
}
