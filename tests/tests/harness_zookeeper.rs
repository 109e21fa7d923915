//! Tests of the ZooKeeper harness against real servers: a standalone server's
//! life cycle, a 3-member ensemble losing and regaining its quorum, and a
//! client session whose ephemeral znode disappears when it closes.

use std::time::Duration;

use ovn_mesos_tests::daemon::pid_is_alive;
use ovn_mesos_tests::zookeeper::{Mode, NOT_SERVING};
use ovn_mesos_tests::{wait_for, ZooKeeper};

/// Generous bound for anything a quorum does (an election takes well under
/// a second here); only reached when something is broken.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Pids of processes whose command line mentions `dir` (a ZooKeeper JVM of
/// that instance left behind).
fn processes_using(dir: &std::path::Path) -> Vec<i32> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
                && pid_is_alive(*pid)
        })
        .collect()
}

#[test]
fn a_standalone_server_starts_answers_ruok_and_stops_without_leftovers() {
    let mut zk = ZooKeeper::start().unwrap();
    eprintln!("standalone ZooKeeper served after {:?}", zk.started_in());
    assert_eq!(zk.len(), 1);
    let addr = zk.member_address(0);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_eq!(zk.connect_string(), addr);
    assert_eq!(zk.zk_url("/mesos"), format!("zk://{addr}/mesos"));
    assert_eq!(zk.zk_url("mesos"), format!("zk://{addr}/mesos"));

    assert!(zk.ruok(0).unwrap());
    assert_eq!(zk.mode(0).unwrap(), Some(Mode::Standalone));
    let pid = zk.pid(0).unwrap();
    assert!(pid_is_alive(pid));
    let dir = zk.dir().to_path_buf();
    assert_eq!(processes_using(&dir), [pid]);

    zk.stop_all().unwrap();
    assert!(!pid_is_alive(pid), "pid {pid} still runs");
    assert_eq!(zk.pid(0), None);
    assert!(!zk.is_running(0));
    assert!(processes_using(&dir).is_empty());
    let err = zk.ruok(0).unwrap_err();
    assert!(format!("{err:#}").contains("cannot connect"), "{err:#}");
    zk.check_logs().unwrap();

    // An ERROR line fails the log check until it is allowed.
    let log = zk.log_file(0);
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("2026-01-01 00:00:00,000 ERROR [main:X@1] - disk on fire\n");
    std::fs::write(&log, text).unwrap();
    let err = zk.check_logs().unwrap_err().to_string();
    assert!(
        err.contains("zk1.log: ") && err.contains("disk on fire"),
        "{err}"
    );
    zk.allow_log("disk on fire");
    zk.check_logs().unwrap();

    drop(zk);
    if std::env::var(ovn_mesos_tests::workdir::KEEP_ENV).is_err() {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}

#[test]
fn dropping_a_server_kills_its_jvm() {
    let zk = ZooKeeper::start().unwrap();
    let pid = zk.pid(0).unwrap();
    let dir = zk.dir().to_path_buf();
    drop(zk);
    assert!(!pid_is_alive(pid), "pid {pid} still runs");
    assert!(processes_using(&dir).is_empty());
}

#[test]
fn an_ensemble_elects_a_leader_keeps_it_with_a_majority_and_regains_quorum() {
    let mut zk = ZooKeeper::ensemble(3).unwrap();
    eprintln!("3-member ensemble served after {:?}", zk.started_in());
    assert_eq!(zk.len(), 3);
    let members: Vec<String> = (0..3).map(|i| zk.member_address(i)).collect();
    assert_eq!(zk.connect_string(), members.join(","));
    assert_eq!(
        zk.zk_url("/mesos"),
        format!("zk://{}/mesos", members.join(","))
    );
    let modes: Vec<Mode> = (0..3).map(|i| zk.mode(i).unwrap().unwrap()).collect();
    assert_eq!(
        modes.iter().filter(|m| **m == Mode::Leader).count(),
        1,
        "{modes:?}"
    );
    assert_eq!(
        modes.iter().filter(|m| **m == Mode::Follower).count(),
        2,
        "{modes:?}"
    );
    let leader = zk.leader().unwrap();
    assert_eq!(modes[leader], Mode::Leader);

    // The leader dies: the two others keep a majority and elect one of them.
    let dead = leader;
    zk.kill(dead).unwrap();
    assert!(!zk.is_running(dead));
    let leader = zk.wait_for_leader(TIMEOUT).unwrap();
    assert_ne!(leader, dead);
    for i in (0..3).filter(|i| *i != dead) {
        let mode = zk.wait_serving(i, TIMEOUT).unwrap();
        assert!(matches!(mode, Mode::Leader | Mode::Follower), "{mode:?}");
    }

    // A second member goes: the last one has no quorum and stops serving.
    let second = (0..3).find(|i| *i != dead && *i != leader).unwrap();
    zk.stop(second).unwrap();
    let last = leader;
    wait_for("the last member to stop serving", TIMEOUT, || {
        let srvr = zk.srvr(last)?;
        Ok(srvr.contains(NOT_SERVING).then_some(()))
    })
    .unwrap();
    // It still runs and answers ruok: it is only without quorum.
    assert!(zk.ruok(last).unwrap());
    assert!(zk.leader().is_err());

    // One comes back: two of three make a quorum again.
    zk.restart(second).unwrap();
    let leader = zk.wait_for_leader(TIMEOUT).unwrap();
    assert!(leader == last || leader == second, "leader {leader}");
    zk.wait_serving(last, TIMEOUT).unwrap();
    zk.wait_serving(second, TIMEOUT).unwrap();
    assert!(!zk.is_running(dead));

    let pids: Vec<i32> = (0..3).filter_map(|i| zk.pid(i)).collect();
    assert_eq!(pids.len(), 2);
    zk.stop_all().unwrap();
    for pid in pids {
        assert!(!pid_is_alive(pid), "pid {pid} still runs");
    }
    assert!(processes_using(zk.dir()).is_empty());
    zk.check_logs().unwrap();
}

/// The Mesos master contender's znode: `json.info_<10-digit sequence>`.
const MASTER_PREFIX: &str = "/mesos/json.info_";

#[tokio::test]
async fn an_ephemeral_sequential_znode_is_listed_and_goes_with_its_session() {
    use zookeeper_client as zkc;

    let zk = ZooKeeper::ensemble(3).unwrap();
    let connect = zk.connect_string();
    let acls = zkc::Acls::anyone_all();
    let contender = zkc::Client::connector()
        .with_session_timeout(Duration::from_secs(2))
        .connect(&connect)
        .await
        .unwrap();
    // The session timeout is within what the servers grant.
    let granted = contender.session_timeout();
    assert!(
        (ovn_mesos_tests::zookeeper::MIN_SESSION_TIMEOUT
            ..=ovn_mesos_tests::zookeeper::MAX_SESSION_TIMEOUT)
            .contains(&granted),
        "{granted:?}"
    );
    contender
        .create("/mesos", b"", &zkc::CreateMode::Persistent.with_acls(acls))
        .await
        .unwrap();
    let (stat, sequence) = contender
        .create(
            MASTER_PREFIX,
            br#"{"hostname":"m1"}"#,
            &zkc::CreateMode::EphemeralSequential.with_acls(acls),
        )
        .await
        .unwrap();
    assert_eq!(stat.ephemeral_owner, contender.session_id().0);
    let name = format!("json.info_{sequence}");
    assert_eq!(name.len(), "json.info_".len() + 10, "{name}");

    // Another session (a master detector) sees it, with a child watch.
    let detector = zkc::Client::connect(&connect).await.unwrap();
    let (children, watcher) = detector.list_and_watch_children("/mesos").await.unwrap();
    assert_eq!(children, std::slice::from_ref(&name));
    let (data, _) = detector.get_data(&format!("/mesos/{name}")).await.unwrap();
    assert_eq!(data, br#"{"hostname":"m1"}"#);

    // Closing the contender's session (dropping its last client) deletes
    // the znode: the detector's watch fires and the list is empty.
    drop(contender);
    let event = tokio::time::timeout(TIMEOUT, watcher.changed())
        .await
        .expect("the detector's child watch to fire after the session closed");
    assert_eq!(event.event_type, zkc::EventType::NodeChildrenChanged);
    assert_eq!(event.path, "/mesos");
    assert!(detector.list_children("/mesos").await.unwrap().is_empty());
    drop(detector);
    zk.check_logs().unwrap();
}
