//! Checks of one VM's rendered provisioning files: the Mesos units (their
//! command lines parsed by `mesos-local`'s CLI for the fallback), the
//! walk-through's args file, the master's OVN central, and the `ovn-mesos`
//! unit and `/etc/default/ovn-mesos` (parsed by `ovn-mesos run`'s CLI) where
//! the framework runs; in both modes of the lab.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use mesos_local::cli::{Cli, Command as LocalCommand};
use ovn_mesos::cli::Cli as OvnMesosCli;

use super::files::{flags, parse_env_file, Unit};
use super::{
    repo, run, tool, Mode, Vm, API_PORT, GATEWAY_IP, GATEWAY_NIC, MASTER_IP, MESOS_ZK, OVN_MESOS_ZK,
};

/// The agent attribute naming an agent's OVN chassis (`ovn-chassis:<VM>`).
pub const CHASSIS_ATTRIBUTE: &str = "ovn-chassis";

/// The ZooKeeper session timeout of the Mesos masters and agents with
/// `LAB_HA=1` (Mesos' default).
pub const ZK_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

pub fn read(dest: &Path, rel: &str) -> String {
    std::fs::read_to_string(dest.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn env_file(dest: &Path, rel: &str) -> BTreeMap<String, String> {
    parse_env_file(&read(dest, rel)).unwrap_or_else(|e| panic!("{rel}: {e:#}"))
}

pub fn unit(dest: &Path, rel: &str) -> Unit {
    let unit = Unit::parse(&read(dest, rel)).unwrap_or_else(|e| panic!("{rel}: {e:#}"));
    let sections = unit.section_names();
    assert_eq!(
        sections,
        BTreeSet::from(["Install", "Service", "Unit"]),
        "{rel}: sections"
    );
    assert_eq!(
        unit.value("Install", "WantedBy").unwrap(),
        "multi-user.target",
        "{rel}"
    );
    assert!(
        unit.value("Unit", "Description").is_ok(),
        "{rel}: no Description"
    );
    unit
}

pub fn expect(vars: &BTreeMap<String, String>, name: &str, value: &str, what: &str) {
    assert_eq!(
        vars.get(name).map(String::as_str),
        Some(value),
        "{what}: {name}"
    );
}

/// `mesos-ROLE.service` of `vm`: the daemon, its address, hostname and work
/// dir, and where it finds the leading master (`mode`).
pub fn check_mesos_unit(dest: &Path, vm: &Vm, role: &str, mesos_impl: &str, mode: Mode) {
    let rel = format!("etc/systemd/system/mesos-{role}.service");
    let unit = unit(dest, &rel);
    let words = unit.exec_start().unwrap();
    let what = format!("{} {rel} ({mode})", vm.name);
    let master = mode.mesos_master();
    let attributes = format!("{CHASSIS_ATTRIBUTE}:{}", vm.name);
    let after = unit.value("Unit", "After").unwrap();
    assert_eq!(
        after.split_whitespace().any(|u| u == "zookeeper.service"),
        mode.runs_zookeeper(vm),
        "{what}: ordered after ZooKeeper exactly where it runs: {after}"
    );
    if mesos_impl == "mesos-local" {
        assert_eq!(words[0], "/usr/local/bin/mesos-local", "{what}");
        // the fallback's command line must be what mesos-local accepts
        let cli = Cli::try_parse_from(&words)
            .unwrap_or_else(|e| panic!("{what}: mesos-local refuses {words:?}: {e}"));
        match (role, cli.command) {
            ("master", LocalCommand::Master(m)) => {
                assert_eq!(
                    (m.ip.to_string(), m.port, m.hostname.as_deref()),
                    (vm.overlay_ip.to_string(), 5050, Some(vm.name)),
                    "{what}"
                );
                assert!(m.work_dir.is_some(), "{what}: no work dir");
                let zk = m.zk.zk.as_ref().map(ToString::to_string);
                let expected = mode.is_ha().then(|| MESOS_ZK.to_string());
                assert_eq!(zk, expected, "{what}: --zk");
                if mode.is_ha() {
                    assert_eq!(
                        m.zk.zk_session_timeout, ZK_SESSION_TIMEOUT,
                        "{what}: --zk-session-timeout"
                    );
                }
            }
            ("agent", LocalCommand::Agent(a)) => {
                assert_eq!(
                    (a.master.as_str(), a.ip.to_string(), a.port),
                    (master.as_str(), vm.overlay_ip.to_string(), 5051),
                    "{what}"
                );
                assert_eq!(a.hostname.as_deref(), Some(vm.name), "{what}: hostname");
                assert_eq!(
                    a.shape.attributes.as_deref(),
                    Some(attributes.as_str()),
                    "{what}: attributes"
                );
                if mode.is_ha() {
                    assert_eq!(
                        a.zk_session_timeout, ZK_SESSION_TIMEOUT,
                        "{what}: --zk-session-timeout"
                    );
                }
            }
            (role, other) => panic!("{what}: a {role} runs {other:?}"),
        }
        return;
    }
    assert_eq!(words[0], format!("/usr/sbin/mesos-{role}"), "{what}");
    let flags = flags(&words[1..]).unwrap_or_else(|e| panic!("{what}: {e:#}"));
    expect(&flags, "ip", vm.overlay_ip, &what);
    expect(&flags, "advertise_ip", vm.overlay_ip, &what);
    expect(&flags, "hostname", vm.name, &what);
    assert!(flags.contains_key("work_dir"), "{what}: no --work_dir");
    if role == "master" {
        expect(&flags, "port", "5050", &what);
        let ha_flags = ["zk", "quorum", "zk_session_timeout", "registry", "log_dir"];
        if !mode.is_ha() {
            for flag in ha_flags {
                assert!(!flags.contains_key(flag), "{what}: --{flag} without LAB_HA");
            }
            return;
        }
        // three masters: a majority of their replicated log, in work_dir
        expect(&flags, "zk", MESOS_ZK, &what);
        expect(&flags, "quorum", "2", &what);
        expect(&flags, "zk_session_timeout", "10secs", &what);
        expect(&flags, "registry", "replicated_log", &what);
        let log_dir = flags.get("log_dir").map(String::as_str).unwrap_or_default();
        assert!(
            log_dir.starts_with("/var/log/mesos"),
            "{what}: --log_dir={log_dir}"
        );
        assert_eq!(
            unit.value("Service", "LogsDirectory").ok(),
            log_dir.strip_prefix("/var/log/"),
            "{what}: systemd creates the --log_dir"
        );
        return;
    }
    expect(&flags, "port", "5051", &what);
    expect(&flags, "master", &master, &what);
    expect(&flags, "attributes", &attributes, &what);
    expect(&flags, "no-switch_user", "", &what);
    let isolation = flags
        .get("isolation")
        .map(String::as_str)
        .unwrap_or_default();
    assert!(
        !isolation.contains("network/") && !isolation.contains("filesystem/linux"),
        "{what}: executors must share the host's network and mount namespaces: {isolation}"
    );
}

pub fn check_args_file(dest: &Path, vm: &Vm) {
    let rel = format!("home/vagrant/setup_{}_args.sh", vm.role);
    let vars = env_file(dest, &rel);
    let what = format!("{} {rel}", vm.name);
    expect(&vars, "OVERLAY_IP", vm.overlay_ip, &what);
    expect(&vars, "MASTER_IP", MASTER_IP, &what);
    expect(&vars, "GATEWAY_IP", GATEWAY_IP, &what);
    expect(&vars, "SYSTEM_ID", vm.name, &what);
    expect(&vars, "OVN_NB_DB", &format!("tcp:{MASTER_IP}:6641"), &what);
    assert_eq!(
        vars.get("PUBLIC_IP2").map(String::as_str),
        vm.gateway_nic_ip,
        "{what}: PUBLIC_IP2"
    );
    let nic = vm.gateway_nic_ip.map(|_| GATEWAY_NIC);
    assert_eq!(
        vars.get("PHYSICAL_INTERFACE").map(String::as_str),
        nic,
        "{what}: PHYSICAL_INTERFACE"
    );
    // sourced by a shell, the walk-through sees the same values, exported
    let file = dest.join(&rel);
    let shown = run(Command::new(tool("bash"))
        .arg("-c")
        .arg(". \"$1\" && env")
        .arg("args")
        .arg(&file)
        .env_clear())
    .unwrap();
    let exported: BTreeMap<&str, &str> = shown.lines().filter_map(|l| l.split_once('=')).collect();
    for (name, value) in &vars {
        assert_eq!(
            exported.get(name.as_str()),
            Some(&value.as_str()),
            "{what}: {name} is not exported as {value}"
        );
    }
    run(Command::new(tool("shellcheck"))
        .args(["--shell=bash", "--severity=style"])
        .arg(&file))
    .unwrap_or_else(|e| panic!("{what}: {e:#}"));
}

/// The master's `/etc/default/ovn-central`: NB and SB on tcp for every VM.
pub fn check_ovn_central(dest: &Path) {
    let central = env_file(dest, "etc/default/ovn-central");
    let opts: BTreeSet<&str> = central["OVN_CTL_OPTS"].split_whitespace().collect();
    for opt in [
        "--db-nb-addr=10.10.1.11",
        "--db-nb-port=6641",
        "--db-nb-create-insecure-remote=yes",
        "--db-sb-addr=10.10.1.11",
        "--db-sb-port=6642",
        "--db-sb-create-insecure-remote=yes",
    ] {
        assert!(
            opts.contains(opt),
            "ovn-central: {opt} missing from {opts:?}"
        );
    }
}

/// `ovn-mesos.service`, `/etc/default/ovn-mesos` (parsed by `ovn-mesos
/// run`'s CLI) and the task files of a VM that runs the framework: with
/// `LAB_HA=1` the instance follows the Mesos masters and elects its leader in
/// ZooKeeper, and serves and advertises its API on the VM's overlay address.
pub fn check_framework_files(dest: &Path, vm: &Vm, mode: Mode) {
    let what = format!("{} ovn-mesos ({mode})", vm.name);
    let service = unit(dest, "etc/systemd/system/ovn-mesos.service");
    assert_eq!(
        service.value("Service", "EnvironmentFile").unwrap(),
        "/etc/default/ovn-mesos",
        "{what}"
    );
    assert_eq!(
        service.exec_start().unwrap(),
        ["/usr/local/bin/ovn-mesos", "run"],
        "{what}"
    );
    let after: BTreeSet<&str> = service
        .value("Unit", "After")
        .unwrap()
        .split_whitespace()
        .collect();
    assert!(
        after.contains("mesos-master.service"),
        "{what}: ovn-mesos starts after the Mesos master"
    );
    assert_eq!(
        after.contains("zookeeper.service"),
        mode.is_ha(),
        "{what}: ovn-mesos starts after ZooKeeper with LAB_HA=1"
    );

    let vars = env_file(dest, "etc/default/ovn-mesos");
    let what = format!("{what}: /etc/default/ovn-mesos");
    expect(&vars, "OVN_MESOS_MASTER", &mode.mesos_master(), &what);
    expect(&vars, "OVN_MESOS_TASKS", "/etc/ovn-mesos/tasks", &what);
    expect(&vars, "OVN_NB_DB", &format!("tcp:{MASTER_IP}:6641"), &what);
    expect(&vars, "OVN_MESOS_STATE_DIR", "/var/lib/ovn-mesos", &what);
    expect(
        &vars,
        "OVN_MESOS_EXECUTOR",
        "/usr/local/bin/ovn-mesos-executor",
        &what,
    );
    expect(
        &vars,
        "OVN_MESOS_CHASSIS_ATTRIBUTE",
        CHASSIS_ATTRIBUTE,
        &what,
    );
    if mode.is_ha() {
        // the others proxy writes to the leader at the address it advertises
        let api = format!("{}:{API_PORT}", vm.overlay_ip);
        expect(&vars, "OVN_MESOS_ZK", OVN_MESOS_ZK, &what);
        expect(&vars, "OVN_MESOS_API", &api, &what);
        expect(&vars, "OVN_MESOS_ADVERTISE_API", &api, &what);
    } else {
        expect(
            &vars,
            "OVN_MESOS_API",
            &format!("127.0.0.1:{API_PORT}"),
            &what,
        );
        for name in ["OVN_MESOS_ZK", "OVN_MESOS_ADVERTISE_API"] {
            assert!(!vars.contains_key(name), "{what}: {name} without LAB_HA");
        }
    }
    check_run_reads(&vars);
    for task in ["apachecoke", "apachepepsi", "nginxcoke", "nginxpepsi"] {
        let shipped = std::fs::read(repo().join(format!("tasks/{task}.json"))).unwrap();
        assert_eq!(
            std::fs::read(dest.join(format!("etc/ovn-mesos/tasks/{task}.json"))).unwrap(),
            shipped,
            "{what}: {task}.json differs from tasks/"
        );
    }
}

/// Every variable of /etc/default/ovn-mesos is one `ovn-mesos run` reads, and
/// its value is one it accepts: the variables become their flags, parsed by
/// the framework's own command line.
pub fn check_run_reads(vars: &BTreeMap<String, String>) {
    let cli = OvnMesosCli::command();
    let run_cmd = cli
        .find_subcommand("run")
        .expect("ovn-mesos has a run subcommand");
    let args: Vec<&clap::Arg> = cli.get_arguments().chain(run_cmd.get_arguments()).collect();
    let mut argv = vec!["ovn-mesos".to_string(), "run".to_string()];
    for (name, value) in vars {
        let arg = args
            .iter()
            .find(|a| a.get_env().is_some_and(|e| e == name.as_str()))
            .unwrap_or_else(|| {
                panic!("/etc/default/ovn-mesos: {name} is no variable of `ovn-mesos run`")
            });
        let long = arg
            .get_long()
            .unwrap_or_else(|| panic!("{name}: no long flag"));
        argv.push(format!("--{long}={value}"));
    }
    if let Err(e) = OvnMesosCli::try_parse_from(&argv) {
        panic!("`ovn-mesos run` refuses /etc/default/ovn-mesos as {argv:?}: {e}");
    }
}
