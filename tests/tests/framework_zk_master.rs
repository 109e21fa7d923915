//! `--master zk://...`: finding the leading Mesos master in a real ZooKeeper
//! and following it to another master, against real mesos-local masters.
//!
//! mesos-local masters do not contend through ZooKeeper themselves here: the
//! test registers them exactly as a Mesos master does, each from a
//! ZooKeeper session of its own holding an EPHEMERAL_SEQUENTIAL znode
//! `json.info_<sequence>` whose data is the master's `MasterInfo` as JSON
//! (stout's form: sorted keys, the `uint32` ip in network byte order).
//! Closing a member's session deletes its znode, as when a master dies or
//! loses its ZooKeeper session.
//!
//! * the detector picks the lowest `json.info_` sequence (ignoring a 0.2x
//!   binary `info_` member and a `log_replicas` child), follows the next
//!   leader and an empty or missing group;
//! * the subscription layer subscribes through `zk://` and, when the
//!   leader's znode goes, ends with `LeaderChanged` and resubscribes to the
//!   other master with the same framework id;
//! * `ovn-mesos run --master zk://...` waits (warning) while no master is
//!   registered, subscribes to the leader, and fails over to the next one
//!   keeping its framework id;
//! * bad URLs are one-line usage errors; `teardown` against an empty group
//!   or an unreachable ZooKeeper exits 1 with one line.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use mesos_local::config::MasterConfig;
use mesos_local::master::{self, MasterHandle};
use mesos_local::testing::framework_info;
use mesos_proto::v1::scheduler::event;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovn_mesos::mesos::{
    subscribe, Detection, Detector, MasterSpec, MesosConfig, MesosError, ZooKeeperUrl,
};
use ovn_mesos_tests::{wait_for, wait_for_async, OvnCentral, ZooKeeper};
use serde_json::{json, Value};
use zookeeper_client as zkc;

/// Bound of anything that should take well under a second.
const WAIT: Duration = Duration::from_secs(20);

/// How long a failover may take end to end (ZooKeeper's notification, the
/// first resubscription backoff of 500 ms, SUBSCRIBE).
const FAILOVER_BOUND: Duration = Duration::from_secs(5);

/// The group's path, as Mesos' `--zk=zk://.../mesos`.
const GROUP: &str = "/mesos";

/// A master's membership: a ZooKeeper session of its own holding its
/// ephemeral sequential znode. Dropping it closes the session, which
/// deletes the znode.
struct Member {
    client: zkc::Client,
    node: String,
}

impl Member {
    /// Joins the group at `path` with `label_<sequence>` and `data`,
    /// creating the path as a master does.
    async fn join(zk: &ZooKeeper, path: &str, label: &str, data: &[u8]) -> Result<Member> {
        let client = zkc::Client::connector()
            .with_session_timeout(Duration::from_secs(2))
            .connect(&zk.connect_string())
            .await
            .context("a contender's ZooKeeper session")?;
        let acls = zkc::Acls::anyone_all();
        client
            .mkdir(path, &zkc::CreateMode::Persistent.with_acls(acls))
            .await
            .with_context(|| format!("creating {path}"))?;
        let (_, sequence) = client
            .create(
                &format!("{path}/{label}_"),
                data,
                &zkc::CreateMode::EphemeralSequential.with_acls(acls),
            )
            .await
            .with_context(|| format!("joining {path} as {label}_"))?;
        Ok(Member {
            client,
            node: format!("{label}_{sequence}"),
        })
    }

    /// Joins as a Mesos 1.x master at `addr` does.
    async fn master(zk: &ZooKeeper, path: &str, master: &MasterHandle) -> Result<Member> {
        let info = master_info(master);
        Member::join(zk, path, "json.info", info.to_string().as_bytes()).await
    }

    /// Leaves the group: the session closes and ZooKeeper deletes the znode.
    fn leave(self) {
        drop(self.client);
    }
}

/// The MasterInfo JSON a Mesos 1.x master writes for `master`.
fn master_info(master: &MasterHandle) -> Value {
    let addr = master.addr;
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) => u32::from_le_bytes(ip.octets()),
        std::net::IpAddr::V6(_) => 0,
    };
    let id = master.state_json()["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("master-{}", addr.port()));
    json!({
        "address": {"hostname": "localhost", "ip": addr.ip().to_string(), "port": addr.port()},
        "capabilities": [{"type": "AGENT_UPDATE"}, {"type": "AGENT_DRAINING"}, {"type": "QUOTA_V2"}],
        "hostname": "localhost",
        "id": id,
        "ip": ip,
        "pid": format!("master@{addr}"),
        "port": addr.port(),
        "version": "1.11.0",
    })
}

/// A mesos-local master in this process on a free port.
async fn start_master(dir: &Path, name: &str) -> Result<MasterHandle> {
    let config = MasterConfig {
        ip: Ipv4Addr::LOCALHOST.into(),
        port: 0,
        work_dir: Some(dir.join(name)),
        heartbeat_interval: Duration::from_secs(1),
        allocation_interval: Duration::from_millis(50),
        ..MasterConfig::default()
    };
    master::start(config)
        .await
        .with_context(|| format!("starting master {name}"))
}

/// The `zk://` URL of `path` in `zk`, parsed.
fn zk_url(zk: &ZooKeeper, path: &str) -> ZooKeeperUrl {
    match zk.zk_url(path).parse::<MasterSpec>() {
        Ok(MasterSpec::ZooKeeper(url)) => url,
        other => panic!("{}: {other:?}", zk.zk_url(path)),
    }
}

/// The next detection, within [`WAIT`].
async fn next_detection(detector: &mut Detector) -> Result<Detection> {
    tokio::time::timeout(WAIT, detector.changed())
        .await
        .context("no new detection")?
        .context("detector")
}

/// The framework `id` in `master`'s `/state`, if there: whether it is
/// active (subscribed).
fn framework_state(master: &MasterHandle, id: &str) -> Option<bool> {
    master.state_json()["frameworks"]
        .as_array()?
        .iter()
        .find(|f| f["id"] == id)
        .map(|f| f["active"] == true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_detector_follows_the_lowest_json_info_sequence() -> Result<()> {
    let zk = ZooKeeper::start()?;
    let dir = tempfile::tempdir()?;
    let a = start_master(dir.path(), "a").await?;
    let b = start_master(dir.path(), "b").await?;

    // A 0.2x master's binary member, older than every JSON one, and the
    // replicated log's znode: neither is a leader for Mesos >= 1.0.
    let legacy = Member::join(&zk, GROUP, "info", b"\x0a\x03old\x10\x01").await?;
    legacy
        .client
        .create(
            &format!("{GROUP}/log_replicas"),
            b"",
            &zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all()),
        )
        .await?;
    let member_a = Member::master(&zk, GROUP, &a).await?;
    let member_b = Member::master(&zk, GROUP, &b).await?;
    let sequence = |node: &str| node.rsplit('_').next().and_then(|s| s.parse::<i64>().ok());
    assert!(
        sequence(&legacy.node) < sequence(&member_a.node)
            && sequence(&member_a.node) < sequence(&member_b.node),
        "{} {} {}",
        legacy.node,
        member_a.node,
        member_b.node
    );

    let mut detector = Detector::start(zk_url(&zk, GROUP), Duration::from_secs(10));
    let leader = detector.leader().await?;
    assert_eq!(leader.node, member_a.node);
    assert_eq!(leader.address, a.endpoint());
    assert_eq!(leader.info.pid, Some(format!("master@{}", a.addr)));
    assert_eq!(
        Some(leader.info.id.as_str()),
        master_info(&a)["id"].as_str()
    );

    // The leader leaves: the next sequence leads.
    let left = Instant::now();
    member_a.leave();
    let Detection::Leader(next) = next_detection(&mut detector).await? else {
        bail!("expected a leader, got {:?}", detector.current());
    };
    eprintln!(
        "detector saw the new leader {:?} after the old one left",
        left.elapsed()
    );
    assert_eq!(next.node, member_b.node);
    assert_eq!(next.address, b.endpoint());

    // The last JSON member leaves: no master, though `info_` remains.
    member_b.leave();
    assert_eq!(next_detection(&mut detector).await?, Detection::NoMaster);
    let error = detector.leader().await.expect_err("no master");
    assert!(matches!(error, MesosError::NoMaster { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("no Mesos master registered under {}", zk.zk_url(GROUP))
    );
    assert!(error.is_retryable());

    // A master joins again.
    let member_a = Member::master(&zk, GROUP, &a).await?;
    let Detection::Leader(again) = next_detection(&mut detector).await? else {
        bail!("expected a leader, got {:?}", detector.current());
    };
    assert_eq!(again.node, member_a.node);

    // A path that does not exist is an empty group until it appears.
    let mut elsewhere = Detector::start(zk_url(&zk, "/elsewhere/mesos"), Duration::from_secs(10));
    let error = elsewhere.leader().await.expect_err("no such path");
    assert!(matches!(error, MesosError::NoMaster { .. }), "{error:?}");
    let member_b = Member::master(&zk, "/elsewhere/mesos", &b).await?;
    let Detection::Leader(found) = next_detection(&mut elsewhere).await? else {
        bail!("expected a leader, got {:?}", elsewhere.current());
    };
    assert_eq!(found.node, member_b.node);
    assert_eq!(found.address, b.endpoint());

    drop((detector, elsewhere, member_a, member_b, legacy));
    a.shutdown().await;
    b.shutdown().await;
    zk.check_logs()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_follows_the_leader_to_another_master() -> Result<()> {
    let zk = ZooKeeper::start()?;
    let dir = tempfile::tempdir()?;
    let a = start_master(dir.path(), "a").await?;
    let b = start_master(dir.path(), "b").await?;
    let member_a = Member::master(&zk, GROUP, &a).await?;
    let _member_b = Member::master(&zk, GROUP, &b).await?;

    let config = MesosConfig::new(zk.zk_url(GROUP), framework_info("zk-failover-test"));
    let mut subscription = subscribe(&config, None).await?;
    let framework_id = subscription.framework_id().clone();
    assert_eq!(
        subscription.caller().master(),
        format!("http://{}/api/v1/scheduler", a.endpoint())
    );
    assert_eq!(
        subscription.detected_leader().map(|l| l.node.as_str()),
        Some(member_a.node.as_str())
    );
    assert_eq!(framework_state(&a, framework_id.as_str()), Some(true));

    // Master a's znode goes: the stream ends at once with LeaderChanged
    // (heartbeats, 1 s apart, keep arriving meanwhile).
    let left = Instant::now();
    member_a.leave();
    let error = tokio::time::timeout(WAIT, async {
        loop {
            match subscription.next().await {
                Ok(event) if event.r#type() == event::Type::Heartbeat => continue,
                Ok(event) => bail!("unexpected event {:?}", event.r#type()),
                Err(error) => return Ok(error),
            }
        }
    })
    .await
    .context("the subscription did not end")??;
    let detected = left.elapsed();
    assert!(
        matches!(
            &error,
            MesosError::LeaderChanged { from, to } if *from == a.endpoint() && *to == b.endpoint()
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert!(matches!(
        subscription.next().await,
        Err(MesosError::StreamEnded)
    ));
    drop(subscription);

    // The failover the scheduler makes: the same framework id, on b.
    let subscription = subscribe(&config, Some(&framework_id)).await?;
    let resubscribed = left.elapsed();
    eprintln!(
        "leader change seen by the stream after {detected:?}; resubscribed to the new leader after {resubscribed:?}"
    );
    assert_eq!(subscription.framework_id(), &framework_id);
    assert_eq!(
        subscription.caller().master(),
        format!("http://{}/api/v1/scheduler", b.endpoint())
    );
    assert_eq!(framework_state(&b, framework_id.as_str()), Some(true));
    assert!(resubscribed < FAILOVER_BOUND, "{resubscribed:?}");
    wait_for_async("master a to see the framework go", WAIT, || async {
        Ok((framework_state(&a, framework_id.as_str()) != Some(true)).then_some(()))
    })
    .await?;

    subscription.caller().teardown().await?;
    drop(subscription);
    a.shutdown().await;
    b.shutdown().await;
    zk.check_logs()?;
    Ok(())
}

/// A running `ovn-mesos run`, its stderr in `log`; SIGTERM (then SIGKILL)
/// by pid on drop.
struct Framework {
    child: Child,
    log: std::path::PathBuf,
}

impl Framework {
    fn start(nb: &str, master: &str, dir: &Path) -> Result<Framework> {
        let bin = ovn_mesos_tests::binaries::ovn_mesos_binary()?;
        let tasks = dir.join("tasks");
        std::fs::create_dir_all(&tasks)?;
        let log = dir.join("run.log");
        let file = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .args(["--nb", nb, "--log", "info", "run", "--master", master])
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--tasks")
            .arg(&tasks)
            .args(["--api", &free_addr().to_string()])
            .env_remove("OVN_MESOS_MASTER")
            .env_remove("OVN_MESOS_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .spawn()
            .context("spawning ovn-mesos run")?;
        Ok(Framework { child, log })
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails if the process has exited.
    fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("ovn-mesos run exited {status}:\n{}", self.log_text());
        }
        Ok(())
    }

    /// The framework id it saved.
    fn framework_id(&self, dir: &Path) -> Option<String> {
        let text = std::fs::read_to_string(dir.join("state/framework.json")).ok()?;
        let file: Value = serde_json::from_str(&text).ok()?;
        file["framework_id"].as_str().map(str::to_owned)
    }

    /// SIGTERM, wait; SIGKILL if it does not stop.
    fn stop(&mut self) -> Result<std::process::ExitStatus> {
        let pid = Pid::from_raw(self.child.id() as i32);
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let _ = kill(pid, Signal::SIGTERM);
        match wait_for("ovn-mesos run to stop", WAIT, || {
            Ok(self.child.try_wait()?)
        }) {
            Ok(status) => Ok(status),
            Err(e) => {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = self.child.wait();
                Err(e)
            }
        }
    }
}

impl Drop for Framework {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovn_mesos_run_waits_for_a_master_and_fails_over_through_zookeeper() -> Result<()> {
    let zk = ZooKeeper::start()?;
    let central = OvnCentral::start()?;
    let dir = tempfile::tempdir()?;
    let a = start_master(dir.path(), "a").await?;
    let b = start_master(dir.path(), "b").await?;
    let url = zk.zk_url(GROUP);

    // No master registered yet: `run` keeps trying and says why.
    let mut framework = Framework::start(&central.nb_remote(), &url, dir.path())?;
    let waiting = format!("no Mesos master registered under {url}");
    wait_for_async("run to warn that no master is registered", WAIT, || {
        let seen = framework.log_text().contains(&waiting);
        let running = framework.check_running();
        async move {
            running?;
            Ok(seen.then_some(()))
        }
    })
    .await?;
    let warnings = framework
        .log_text()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(&url))
        .count();
    ensure!(warnings >= 1, "{}", framework.log_text());

    // Masters register: `run` subscribes to the lowest sequence.
    let member_a = Member::master(&zk, GROUP, &a).await?;
    let _member_b = Member::master(&zk, GROUP, &b).await?;
    let state = dir.path().to_path_buf();
    let framework_id = wait_for_async("run to subscribe to master a", WAIT, || {
        let id = framework.framework_id(&state);
        let running = framework.check_running();
        let active = id
            .as_deref()
            .and_then(|id| framework_state(&a, id))
            .unwrap_or(false);
        async move {
            running?;
            Ok(id.filter(|_| active))
        }
    })
    .await?;
    assert_eq!(framework_state(&b, &framework_id), None);

    // Master a leaves the group: `run` fails over to b with its id.
    let left = Instant::now();
    member_a.leave();
    wait_for_async("run to fail over to master b", WAIT, || {
        let active = framework_state(&b, &framework_id) == Some(true);
        let running = framework.check_running();
        async move {
            running?;
            Ok(active.then_some(()))
        }
    })
    .await?;
    let failover = left.elapsed();
    eprintln!("ovn-mesos run was subscribed to the new leader {failover:?} after the old one left ZooKeeper");
    assert!(failover < FAILOVER_BOUND, "{failover:?}");
    assert_eq!(
        framework.framework_id(&state).as_deref(),
        Some(framework_id.as_str())
    );
    let log = framework.log_text();
    assert!(
        log.contains(&format!(
            "the leading Mesos master changed from {} to {}",
            a.endpoint(),
            b.endpoint()
        )),
        "{log}"
    );

    let status = framework.stop()?;
    assert!(status.success(), "{status}: {}", framework.log_text());
    a.shutdown().await;
    b.shutdown().await;
    zk.check_logs()?;
    Ok(())
}

/// `ovn-mesos --log off <args>`: exit code and stderr.
fn ovn_mesos(args: &[&str]) -> Result<(Option<i32>, String)> {
    let out = Command::new(ovn_mesos_tests::binaries::ovn_mesos_binary()?)
        .args(["--log", "off"])
        .args(args)
        .env_remove("OVN_MESOS_MASTER")
        .env_remove("OVN_MESOS_LOG")
        .output()?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
    ))
}

#[test]
fn bad_urls_and_empty_groups_are_one_line_errors() -> Result<()> {
    let zk = ZooKeeper::start()?;
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state)?;
    std::fs::write(
        state.join("framework.json"),
        r#"{"version": 1, "framework_id": "zk-test-framework"}"#,
    )?;
    let state = state.display().to_string();
    let tasks = dir.path().display().to_string();

    let servers = zk.connect_string();
    for (master, reason) in [
        ("zk://".to_string(), "no ZooKeeper server"),
        (format!("zk://{servers}"), "no path"),
        (format!("zk://{servers}/"), "the ZooKeeper root /"),
        (
            "zk://127.0.0.1:99999/mesos".to_string(),
            "bad port \"99999\"",
        ),
        (format!("zk://mesos:secret@{servers}/mesos"), "credentials"),
    ] {
        for command in [
            vec!["teardown", "--master", &master, "--state-dir", &state],
            vec!["run", "--master", &master, "--tasks", &tasks],
        ] {
            let (code, stderr) = ovn_mesos(&command)?;
            assert_eq!(code, Some(64), "{command:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{command:?}: {stderr}");
            assert!(
                stderr.contains(&master) && stderr.contains("--master") && stderr.contains(reason),
                "{command:?}: {stderr}"
            );
        }
    }

    // A group without masters: teardown cannot reach the framework.
    let empty = zk.zk_url("/empty");
    let started = Instant::now();
    let (code, stderr) = ovn_mesos(&["teardown", "--master", &empty, "--state-dir", &state])?;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("ovn-mesos: error: ")
            && stderr.ends_with(&format!("no Mesos master registered under {empty}")),
        "{stderr}"
    );
    eprintln!(
        "teardown against an empty group failed after {:?}",
        started.elapsed()
    );

    // No ZooKeeper at all: after the 10 s timeout, one line naming it.
    let nobody = format!("zk://{}/mesos", free_addr());
    let started = Instant::now();
    let (code, stderr) = ovn_mesos(&["teardown", "--master", &nobody, "--state-dir", &state])?;
    let took = started.elapsed();
    eprintln!("teardown against an unreachable ZooKeeper failed after {took:?}: {stderr}");
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot find the leading Mesos master in {nobody}: no answer from ZooKeeper for 10s"
        )),
        "{stderr}"
    );
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(20),
        "{took:?}"
    );

    // The state dir keeps its framework id.
    assert!(
        std::fs::read_to_string(dir.path().join("state/framework.json"))?
            .contains("zk-test-framework")
    );
    zk.check_logs()?;
    Ok(())
}
