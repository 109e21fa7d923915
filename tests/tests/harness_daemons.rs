//! Tests of the test harness itself against real daemons: OVN central, a Raft
//! NB cluster, a local Open_vSwitch database and the daemon life cycle.

use std::path::PathBuf;
use std::time::Duration;

use ovn_mesos_tests::daemon::pid_is_alive;
use ovn_mesos_tests::workdir::KEEP_ENV;
use ovn_mesos_tests::{wait_for, Daemon, DaemonSpec, LocalOvs, OvnCentral, RaftNb, WorkDir};

fn keeping_dirs() -> bool {
    std::env::var(KEEP_ENV).is_ok_and(|v| v == "1")
}

/// Names of the logical switches in `ovn-nbctl ls-list` output.
fn switch_names(ls_list: &str) -> Vec<String> {
    let mut names: Vec<String> = ls_list
        .lines()
        .filter_map(|l| {
            l.split_once(" (")
                .map(|(_, n)| n.trim_end_matches(')').to_string())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn central_starts_and_nbctl_and_sync_sb_work() {
    let central = OvnCentral::start().unwrap();
    assert!(central.nb_remote().starts_with("unix:"));
    assert!(central.nb_remote().ends_with("/nb.sock"));
    assert!(central.sb_remote().ends_with("/sb.sock"));
    assert!(central.dir().starts_with(std::env::temp_dir()) || central.dir().starts_with("/tmp"));

    central.nbctl(&["ls-add", "sw0"]).unwrap();
    assert_eq!(switch_names(&central.nbctl(&["ls-list"]).unwrap()), ["sw0"]);

    central.sync_sb().unwrap();
    // After --wait=sb, northd has already created the datapath for sw0.
    let datapaths = central
        .sbctl(&["--columns=external_ids", "list", "Datapath_Binding"])
        .unwrap();
    assert!(datapaths.contains("name=sw0"), "{datapaths}");
    central.check_logs().unwrap();
}

#[test]
fn a_failing_nbctl_names_its_arguments_and_stderr() {
    let central = OvnCentral::start().unwrap();
    let err = central
        .nbctl(&["lsp-add", "no-such-switch", "p1"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("lsp-add no-such-switch p1"), "{err}");
    assert!(err.contains("no-such-switch"), "{err}");
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn nb_dump_is_equal_for_an_unchanged_db_and_differs_after_a_change() {
    let central = OvnCentral::start().unwrap();
    central.nbctl(&["ls-add", "a"]).unwrap();
    // northd writes NB_Global once it has processed the change: wait for it.
    central.sync_sb().unwrap();
    let first = central.nb_dump().unwrap();
    let second = central.nb_dump().unwrap();
    assert_eq!(first, second);
    assert_eq!(first["Logical_Switch"].as_array().unwrap().len(), 1);
    assert_eq!(first["NB_Global"].as_array().unwrap().len(), 1);

    central
        .nbctl(&[
            "set",
            "Logical_Switch",
            "a",
            "other_config:subnet=10.0.0.0/24",
        ])
        .unwrap();
    let third = central.nb_dump().unwrap();
    assert_ne!(first, third);
    let config = &third["Logical_Switch"][0]["other_config"];
    assert_eq!(
        config,
        &serde_json::json!(["map", [["subnet", "10.0.0.0/24"]]])
    );
}

#[test]
fn kill_nb_and_restart_nb_keep_the_data() {
    let mut central = OvnCentral::start().unwrap();
    central.nbctl(&["ls-add", "before"]).unwrap();
    central.sync_sb().unwrap();
    let before = central.nb_dump().unwrap();
    let old_pid = central.nb_daemon().pid;

    central.kill_nb();
    assert!(!central.nb_daemon().is_alive());
    assert!(!pid_is_alive(old_pid));

    central.restart_nb().unwrap();
    assert!(central.nb_daemon().is_alive());
    assert_ne!(central.nb_daemon().pid, old_pid);
    assert_eq!(central.nb_dump().unwrap(), before);

    central.nbctl(&["ls-add", "after"]).unwrap();
    assert_eq!(
        switch_names(&central.nbctl(&["ls-list"]).unwrap()),
        ["after", "before"]
    );
    // northd reconnects to the new server and processes the new switch.
    central.sync_sb().unwrap();
    let datapaths = central
        .sbctl(&["--columns=external_ids", "list", "Datapath_Binding"])
        .unwrap();
    assert!(datapaths.contains("name=after"), "{datapaths}");
    central.check_logs().unwrap();
}

#[test]
fn dropping_central_leaves_no_process_and_no_directory() {
    let central = OvnCentral::start().unwrap();
    let pids = [
        central.nb_daemon().pid,
        central.sb_daemon().pid,
        central.northd_daemon().pid,
    ];
    let dir: PathBuf = central.dir().to_path_buf();
    assert!(pids.iter().all(|&p| pid_is_alive(p)));
    assert!(dir.join("nb.db").exists());

    drop(central);
    for pid in pids {
        assert!(!pid_is_alive(pid), "pid {pid} still alive after drop");
    }
    if !keeping_dirs() {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}

#[test]
fn a_raft_cluster_elects_a_new_leader_and_keeps_accepting_writes() {
    let mut raft = RaftNb::start(3).unwrap();
    assert_eq!(raft.len(), 3);
    assert_eq!(raft.remotes().split(',').count(), 3);
    assert!(raft.member_remote(2).ends_with("/s3.sock"));

    let old = raft.leader().unwrap();
    raft.nbctl(&["ls-add", "a"]).unwrap();

    raft.kill(old);
    assert!(!raft.member(old).is_alive());
    let new = wait_for(
        "a leader other than the killed one",
        Duration::from_secs(30),
        || Ok(raft.leader().ok().filter(|&l| l != old)),
    )
    .unwrap();
    assert_ne!(new, old);

    raft.nbctl(&["ls-add", "b"]).unwrap();
    assert_eq!(switch_names(&raft.nbctl(&["ls-list"]).unwrap()), ["a", "b"]);

    raft.restart(old).unwrap();
    raft.wait_member_connected(old, Duration::from_secs(30))
        .unwrap();
    let dump = raft.nb_dump().unwrap();
    assert_eq!(dump["Logical_Switch"].as_array().unwrap().len(), 2);
    raft.check_logs().unwrap();

    let pids: Vec<i32> = (0..raft.len()).map(|i| raft.member(i).pid).collect();
    let dir = raft.dir().to_path_buf();
    drop(raft);
    for pid in pids {
        assert!(!pid_is_alive(pid), "pid {pid} still alive after drop");
    }
    if !keeping_dirs() {
        assert!(!dir.exists());
    }
}

#[test]
fn local_ovs_starts_with_the_system_id() {
    let ovs = LocalOvs::start("chassis-1").unwrap();
    assert!(ovs.db_remote().ends_with("/db.sock"));
    let id = ovs
        .vsctl(&["get", "Open_vSwitch", ".", "external_ids:system-id"])
        .unwrap();
    assert_eq!(id, "chassis-1");
    let dp = ovs
        .vsctl(&[
            "get",
            "Open_vSwitch",
            ".",
            "external_ids:ovn-bridge-datapath-type",
        ])
        .unwrap();
    assert_eq!(dp, "netdev");
    assert_eq!(
        ovs.dump().unwrap()["Open_vSwitch"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    ovs.check_logs().unwrap();

    let pid = ovs.daemon().pid;
    drop(ovs);
    assert!(!pid_is_alive(pid));
}

#[test]
fn a_daemon_with_its_default_control_socket_stops_gracefully_and_stop_is_idempotent() {
    let work = WorkDir::new().unwrap();
    let db = work.file("conf.db").display().to_string();
    work.run(
        "ovsdb-tool",
        &["create", &db, "/usr/share/openvswitch/vswitch.ovsschema"],
    )
    .unwrap();
    let mut d = Daemon::start(
        work.path(),
        DaemonSpec::new("plain", "ovsdb-server")
            .arg(db)
            .default_unixctl(),
    )
    .unwrap();
    assert_eq!(
        d.ctl,
        work.file(&format!("ovsdb-server.{}.ctl", d.pid)),
        "default control socket"
    );
    let ctl = d.ctl.display().to_string();
    let version = work.run("ovs-appctl", &["-t", &ctl, "version"]).unwrap();
    assert!(version.contains("ovsdb-server"), "{version}");

    d.stop().unwrap();
    assert!(!d.is_alive());
    // A graceful exit removes the pidfile; SIGKILL would leave it.
    assert!(!d.pidfile.exists());
    d.stop().unwrap();
    d.kill9();
}

#[test]
fn kill9_leaves_the_pidfile_and_restart_starts_a_new_process() {
    let work = WorkDir::new().unwrap();
    let db = work.file("conf.db").display().to_string();
    work.run(
        "ovsdb-tool",
        &["create", &db, "/usr/share/openvswitch/vswitch.ovsschema"],
    )
    .unwrap();
    let mut d = Daemon::start(work.path(), DaemonSpec::new("k", "ovsdb-server").arg(db)).unwrap();
    let old = d.pid;
    d.kill9();
    assert!(!d.is_alive());
    assert!(d.pidfile.exists(), "SIGKILL leaves the pidfile");
    d.restart().unwrap();
    assert!(d.is_alive());
    assert_ne!(d.pid, old);
}

/// A network namespace with a unique name, deleted on drop.
struct Netns(String);

impl Netns {
    fn create() -> Netns {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("omt-{}-{nanos}", std::process::id());
        let st = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(st.success(), "ip netns add {name}");
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

#[test]
fn a_daemon_started_in_a_netns_runs_there() {
    let ns = Netns::create();
    let work = WorkDir::new().unwrap();
    let db = work.file("conf.db").display().to_string();
    work.run(
        "ovsdb-tool",
        &["create", &db, "/usr/share/openvswitch/vswitch.ovsschema"],
    )
    .unwrap();
    let mut d = Daemon::start(
        work.path(),
        DaemonSpec::new("inns", "ovsdb-server")
            .arg(db)
            .in_netns(&ns.0),
    )
    .unwrap();
    let theirs = std::fs::read_link(format!("/proc/{}/ns/net", d.pid)).unwrap();
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(theirs, ours);
    // The control socket is a file, so it is reachable from any netns.
    d.stop().unwrap();
    assert!(!d.pidfile.exists(), "stopped gracefully through ovs-appctl");
}
