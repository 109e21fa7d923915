//! The vagrant lab booted for real. `scripts/machines.sh` boots one Debian 12
//! machine per VM of `vagrant/Vagrantfile` (systemd-nspawn, systemd as PID
//! 1, the Vagrantfile's address plan on a host bridge at 10.10.1.1) and runs
//! `vagrant/provisioning/provision.sh` in each with the Vagrantfile's
//! settings, as `vagrant up` does. Then the walk-through of
//! `vagrant/README.md` runs in them as the `vagrant` user, and from this
//! host both tenants' VIPs must serve Apache and nginx; `systemctl restart
//! ovn-mesos` must keep the tasks and their addresses; a halted and booted
//! `mesos-agent2` must bring its services back by itself, its tasks must be
//! replaced and the VIPs recover. First, an `up` killed half-way must leave
//! nothing behind `down`.
//!
//! Needs root and the tools `scripts/install-deps.sh` installs; a missing
//! one fails the test with the reason (it never skips). It runs alone (see
//! the Makefile's `test` rule): the machines hold the host's 10.10.1.0/24.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use ovn_mesos_tests::binaries::{executor_binary, mesos_local_binary, ovn_mesos_binary};
use ovn_mesos_tests::poll::wait_for;
use serde_json::Value;

const MASTER: &str = "mesos-master";
const AGENT1: &str = "mesos-agent1";
const AGENT2: &str = "mesos-agent2";
/// The tenants' VIPs on their gateway routers (coke on the master, pepsi on agent1).
const VIPS: [&str; 2] = ["10.10.1.12:32350", "10.10.1.14:32350"];
/// What the shipped tasks answer with.
const BACKENDS: [&str; 2] = ["apache", "nginx"];

/// The walk-through of `vagrant/README.md`, as the `vagrant` user: (machine,
/// the file it sources, the commands). Each command must be in the README.
const WALK_THROUGH: [(&str, &str, &[&str]); 2] = [
    (
        MASTER,
        "setup_master_args.sh",
        &[
            "sudo ovn-mesos --nb \"$OVN_NB_DB\" tenant-init --tenant-name coke",
            "sudo ovn-mesos --nb \"$OVN_NB_DB\" gateway-init --tenant-name coke \\\n    --cluster-ip-subnet 192.168.0.0/16 --localnet physnet --physical-interface \"$PHYSICAL_INTERFACE\" \\\n    --physical-ip \"$PUBLIC_IP2/24\" --default-gw \"$GATEWAY_IP\"",
            "sudo ovn-mesos --nb \"$OVN_NB_DB\" network-init --tenant-name coke \\\n    --network-name coke1 --subnet 192.168.1.0/24",
        ],
    ),
    (
        AGENT1,
        "setup_agent_args.sh",
        &[
            "sudo ovn-mesos --nb \"$OVN_NB_DB\" tenant-init --tenant-name pepsi",
            "sudo ovn-mesos --nb \"$OVN_NB_DB\" gateway-init --tenant-name pepsi \\\n    --cluster-ip-subnet 192.168.0.0/16 --localnet physnet --physical-interface \"$PHYSICAL_INTERFACE\" \\\n    --physical-ip \"$PUBLIC_IP2/24\" --default-gw \"$GATEWAY_IP\"",
            "sudo ovn-mesos --nb \"$OVN_NB_DB\" network-init --tenant-name pepsi \\\n    --network-name pepsi1 --subnet 192.168.1.0/24",
        ],
    ),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn machines_sh() -> Command {
    Command::new(repo().join("scripts/machines.sh"))
}

/// Runs `cmd`; Err names it, its status and its output.
fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out: Output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end(),
            String::from_utf8_lossy(&out.stdout).trim_end()
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// `machines.sh exec MACHINE ARGS...`: stdout, or Err with the output.
fn exec(machine: &str, args: &[&str]) -> anyhow::Result<String> {
    run(machines_sh().arg("exec").arg(machine).args(args))
}

/// A shell line run as the `vagrant` user in its login shell.
fn as_vagrant(machine: &str, line: &str) -> anyhow::Result<String> {
    exec(machine, &["runuser", "-l", "vagrant", "-c", line])
}

/// The lab, torn down with `machines.sh down` on drop (also after a panic).
struct Lab;

/// Where `machines.sh` keeps the machines (its default).
const MACHINES_DIR: &str = "/var/lib/ovn-mesos-machines";

/// `machines.sh up` killed once the master has booted, then `down`: nothing
/// of the lab may be left (no machine process, bridge, NAT table or dir).
fn an_interrupted_up_is_removed_by_down(bin: &Path) {
    let mut up = machines_sh();
    up.arg("up")
        .env("LAB_BIN", bin)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut up = up.spawn().expect("start machines.sh up");
    let pid_file = Path::new(MACHINES_DIR)
        .join("machines")
        .join(MASTER)
        .join("nspawn.pid");
    let waited = wait_for(
        "mesos-master booted by the up to interrupt",
        Duration::from_secs(300),
        || {
            if let Some(status) = up.try_wait()? {
                bail!("machines.sh up ended ({status}) before it could be interrupted");
            }
            let status = run(machines_sh().arg("status"))?;
            Ok(status
                .lines()
                .any(|l| l.starts_with(MASTER) && l.contains("running"))
                .then_some(()))
        },
    );
    // the whole group of the up: the script, its nsenter and what that runs
    let _ = run(Command::new("kill").args(["-KILL", "--", &format!("-{}", up.id())]));
    let _ = up.wait();
    waited.unwrap_or_else(|e| panic!("{e:#}"));
    let nspawn: u32 = std::fs::read_to_string(&pid_file)
        .expect("the master's nspawn.pid")
        .trim()
        .parse()
        .expect("a pid");
    run(machines_sh().arg("down"))
        .unwrap_or_else(|e| panic!("down after an interrupted up: {e:#}"));
    assert!(
        !Path::new(&format!("/proc/{nspawn}")).exists(),
        "mesos-master's systemd-nspawn (pid {nspawn}) survived down"
    );
    assert!(
        !Path::new(MACHINES_DIR).exists(),
        "{MACHINES_DIR} survived down"
    );
    assert!(
        run(Command::new("ip").args(["link", "show", "ovnm-lab"])).is_err(),
        "the host bridge survived down"
    );
    assert!(
        run(Command::new("nft").args(["list", "table", "ip", "ovnm_lab"])).is_err(),
        "the NAT table survived down"
    );
}

impl Lab {
    /// Removes what an earlier, interrupted run left, then `machines.sh up`
    /// with this build's binaries (debug info stripped) as `vagrant/bin`.
    fn up(bin: &Path) -> Lab {
        run(machines_sh().arg("down")).expect("machines.sh down before up");
        an_interrupted_up_is_removed_by_down(bin);
        let lab = Lab;
        eprintln!("machines.sh up (the Debian base is made once and cached)");
        let status = machines_sh()
            .arg("up")
            .env("LAB_BIN", bin)
            .stdin(Stdio::null())
            .status()
            .expect("run machines.sh up");
        assert!(
            status.success(),
            "machines.sh up failed ({status}): see its output above"
        );
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = run(machines_sh().arg("down")) {
            eprintln!("machines.sh down failed: {e:#}");
        }
    }
}

/// The three binaries of this build, stripped of debug info, in `dir`.
fn stage_binaries(dir: &Path) {
    for (name, path) in [
        ("ovn-mesos", ovn_mesos_binary()),
        ("ovn-mesos-executor", executor_binary()),
        ("mesos-local", mesos_local_binary()),
    ] {
        let path = path.unwrap_or_else(|e| panic!("{e}"));
        run(Command::new("objcopy")
            .arg("--strip-debug")
            .arg(&path)
            .arg(dir.join(name)))
        .unwrap_or_else(|e| panic!("staging {name}: {e:#}"));
    }
}

/// The answer of `http://vip/`, trimmed, or Err.
fn http_get(vip: &str) -> anyhow::Result<String> {
    Ok(
        run(Command::new("curl").args(["-sS", "-m", "2", &format!("http://{vip}/")]))?
            .trim()
            .to_owned(),
    )
}

/// Polls each VIP until both Apache and nginx have answered through it.
fn both_backends_answer(when: &str, timeout: Duration) {
    for vip in VIPS {
        let mut seen = BTreeSet::new();
        wait_for(
            &format!("{when}: apache and nginx through {vip} (seen so far {seen:?})"),
            timeout,
            || {
                let body = http_get(vip)?;
                if !BACKENDS.contains(&body.as_str()) {
                    bail!("{vip} answered {body:?}");
                }
                seen.insert(body);
                Ok((seen.len() == BACKENDS.len()).then_some(()))
            },
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
    }
}

/// The framework's tasks (from its API on the master): id -> (ip, hostname, state).
fn tasks() -> anyhow::Result<BTreeMap<String, (String, String, String)>> {
    let body = exec(
        MASTER,
        &["curl", "-sS", "-m", "5", "http://127.0.0.1:8089/v1/tasks"],
    )?;
    let json: Value = serde_json::from_str(&body).with_context(|| format!("not JSON: {body}"))?;
    let mut out = BTreeMap::new();
    for task in json["tasks"].as_array().context("no tasks list")? {
        let field = |k: &str| task[k].as_str().unwrap_or_default().to_owned();
        out.insert(
            field("id"),
            (field("ip"), field("hostname"), field("state")),
        );
    }
    Ok(out)
}

/// The four shipped tasks, all running: id -> (ip, hostname).
fn running_tasks(what: &str, timeout: Duration) -> BTreeMap<String, (String, String)> {
    wait_for(what, timeout, || {
        let tasks = tasks()?;
        let running: BTreeMap<_, _> = tasks
            .iter()
            .filter(|(_, (_, _, state))| state == "TASK_RUNNING")
            .map(|(id, (ip, host, _))| (id.clone(), (ip.clone(), host.clone())))
            .collect();
        if running.len() != 4 {
            bail!("{} of 4 tasks running: {tasks:?}", running.len());
        }
        Ok(Some(running))
    })
    .unwrap_or_else(|e| panic!("{e:#}"))
}

/// Waits until each unit is active on `machine`.
fn units_active(machine: &str, units: &[&str], timeout: Duration) {
    wait_for(&format!("{units:?} active on {machine}"), timeout, || {
        let mut args = vec!["systemctl", "is-active"];
        args.extend_from_slice(units);
        exec(machine, &args).map(|_| Some(()))
    })
    .unwrap_or_else(|e| panic!("{e:#}"));
}

/// The units provisioning enables on `machine`, which must come back at boot.
fn enabled_units(machine: &str) -> Vec<&'static str> {
    let mut units = vec!["openvswitch-switch", "ovn-mesos-underlay", "ovn-controller"];
    if machine == MASTER {
        units.extend(["ovn-central", "ovn-northd", "mesos-master"]);
    } else {
        units.push("mesos-agent");
    }
    if machine != AGENT2 {
        units.push("ovn-mesos-gateway-nic");
    }
    units
}

#[test]
fn the_machine_tool_and_its_vagrantfile_reader_pass_their_checks() {
    run(Command::new("shellcheck")
        .args(["--external-sources", "--severity=style"])
        .arg(repo().join("scripts/machines.sh")))
    .unwrap_or_else(|e| panic!("{e:#}"));
    let plan = run(Command::new("ruby")
        .arg(repo().join("scripts/vagrantfile-plan.rb"))
        .arg(repo().join("vagrant/Vagrantfile"))
        .env("DATAPATH_TYPE", "netdev"))
    .unwrap_or_else(|e| panic!("{e:#}"));
    let machines: Vec<&str> = plan
        .lines()
        .filter_map(|l| l.strip_prefix("machine "))
        .collect();
    assert_eq!(machines, [MASTER, AGENT1, AGENT2], "{plan}");
    for (line, why) in [
        (
            "network 10.10.1.11 255.255.255.0 auto",
            "master's overlay NIC",
        ),
        (
            "network 10.10.1.12 255.255.255.0 manual",
            "coke's gateway NIC",
        ),
        (
            "network 10.10.1.14 255.255.255.0 manual",
            "pepsi's gateway NIC",
        ),
        ("env DATAPATH_TYPE=netdev", "the datapath, passed through"),
        ("env LAB_ROLE=master", "the master's role"),
    ] {
        assert!(
            plan.lines().any(|l| l == line),
            "no `{line}` ({why}) in:\n{plan}"
        );
    }
    assert!(
        plan.lines()
            .filter_map(|l| l.strip_prefix("provision "))
            .all(|p| p.ends_with("vagrant/provisioning/provision.sh")),
        "{plan}"
    );
    let out = machines_sh()
        .arg("exec")
        .arg("mesos-nowhere")
        .arg("true")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no machine 'mesos-nowhere'"), "{err}");
}

#[test]
fn the_lab_boots_provisions_serves_both_vips_and_survives_restart_and_reboot() {
    let uid = run(Command::new("id").arg("-u")).expect("id -u");
    assert_eq!(
        uid.trim(),
        "0",
        "the machine test needs root (systemd-nspawn, a host bridge, NAT)"
    );
    let readme = std::fs::read_to_string(repo().join("vagrant/README.md")).unwrap();
    for (_, _, commands) in WALK_THROUGH {
        for command in commands {
            assert!(
                readme.contains(command),
                "vagrant/README.md lacks `{command}`"
            );
        }
    }
    let bin = tempfile::tempdir().unwrap();
    stage_binaries(bin.path());
    let _lab = Lab::up(bin.path());

    // 1. Booted with systemd and provisioned: the units are enabled and active.
    for machine in [MASTER, AGENT1, AGENT2] {
        let state = exec(machine, &["systemctl", "is-system-running"]).unwrap_or_else(|e| {
            let failed = exec(machine, &["systemctl", "--failed", "--no-legend"]);
            panic!("{machine} is not running cleanly: {e:#}; failed units: {failed:?}")
        });
        assert_eq!(state.trim(), "running", "{machine}");
        let units = enabled_units(machine);
        let mut args = vec!["systemctl", "is-enabled"];
        args.extend_from_slice(&units);
        exec(machine, &args).unwrap_or_else(|e| panic!("{machine}: {e:#}"));
        units_active(machine, &units, Duration::from_secs(30));
        let hostname = exec(machine, &["hostname"]).unwrap();
        assert_eq!(hostname.trim(), machine);
    }
    exec(MASTER, &["systemctl", "is-enabled", "ovn-mesos"]).unwrap_or_else(|e| panic!("{e:#}"));
    // every machine is a chassis in the master's southbound database
    wait_for("the three chassis in SB", Duration::from_secs(60), || {
        let sb = exec(MASTER, &["ovn-sbctl", "--columns=name", "list", "Chassis"])?;
        Ok([MASTER, AGENT1, AGENT2]
            .iter()
            .all(|m| sb.contains(m))
            .then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e:#}"));

    // 2. The walk-through of vagrant/README.md, as the vagrant user.
    for (machine, args_file, commands) in WALK_THROUGH {
        let line = format!("source ~/{args_file} && {}", commands.join(" && "));
        as_vagrant(machine, &line).unwrap_or_else(|e| panic!("walk-through on {machine}: {e:#}"));
    }
    exec(MASTER, &["systemctl", "start", "ovn-mesos"]).unwrap_or_else(|e| panic!("{e:#}"));
    let before = running_tasks("the four shipped tasks running", Duration::from_secs(120));
    both_backends_answer("after the walk-through", Duration::from_secs(120));

    // 3. The framework's log is in the journal.
    let journal = exec(MASTER, &["journalctl", "-u", "ovn-mesos", "--no-pager"]).unwrap();
    assert!(journal.contains("subscribed framework_id="), "{journal}");
    assert!(journal.contains("task launched"), "{journal}");

    // 4. A restart keeps the tasks and their addresses.
    exec(MASTER, &["systemctl", "restart", "ovn-mesos"]).unwrap_or_else(|e| panic!("{e:#}"));
    wait_for(
        "ovn-mesos subscribed again after the restart",
        Duration::from_secs(60),
        || {
            let health = exec(
                MASTER,
                &["curl", "-sf", "-m", "2", "http://127.0.0.1:8089/health"],
            )?;
            Ok(health.contains("ok").then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let after = running_tasks("the four tasks after the restart", Duration::from_secs(30));
    assert_eq!(
        after, before,
        "a restart of ovn-mesos replaced tasks or moved addresses"
    );
    let journal = exec(MASTER, &["journalctl", "-u", "ovn-mesos", "--no-pager"]).unwrap();
    assert!(
        journal.contains("tasks of the earlier run recovered kept=4"),
        "{journal}"
    );
    both_backends_answer("after systemctl restart ovn-mesos", Duration::from_secs(60));

    // 5. mesos-agent2 halted and booted again: its services come back by
    // themselves, its tasks are replaced (the master finds the agent gone by
    // its health checks, the framework replaces a task unreachable for 60 s)
    // and the VIPs recover.
    let on_agent2: BTreeSet<String> = before
        .iter()
        .filter(|(_, (_, host))| host == AGENT2)
        .map(|(id, _)| id.clone())
        .collect();
    run(machines_sh().args(["halt", AGENT2])).unwrap_or_else(|e| panic!("{e:#}"));
    run(machines_sh().args(["boot", AGENT2])).unwrap_or_else(|e| panic!("{e:#}"));
    units_active(AGENT2, &enabled_units(AGENT2), Duration::from_secs(60));
    let replaced = wait_for(
        &format!("the tasks of {AGENT2} ({on_agent2:?}) replaced, four running"),
        Duration::from_secs(360),
        || {
            let tasks = tasks()?;
            let running: BTreeMap<_, _> = tasks
                .iter()
                .filter(|(_, (_, _, state))| state == "TASK_RUNNING")
                .collect();
            let old_gone = on_agent2.iter().all(|id| !running.contains_key(id));
            Ok((old_gone && running.len() == 4).then_some(tasks))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        replaced.keys().any(|id| !before.contains_key(id)),
        "no new task: {replaced:?}"
    );
    both_backends_answer("after mesos-agent2 rebooted", Duration::from_secs(120));
}
