//! The Vagrant lab (`vagrant/`), checked without Vagrant or VirtualBox: the
//! scripts pass `bash -n` and shellcheck, the Vagrantfile parses and, run by
//! ruby with a recording stub, defines the seed's three VMs and address plan;
//! each VM's provisioning, rendered into a temporary DESTDIR with the
//! Vagrantfile's own environment, writes the expected units and config
//! files, in the default mode and in the high-availability mode (`LAB_HA=1`:
//! ZooKeeper on the master, whose rendered unit starts a real server, and a
//! Mesos master and an ovn-mesos instance on every VM, all through
//! `zk://`); and the rendered chassis settings, applied through the shared
//! `ovn-chassis.sh`, configure a real Open_vSwitch database.

mod vagrant_common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use ovn_mesos_tests::LocalOvs;
use vagrant_common::files::files_under;
use vagrant_common::rendered::{
    check_args_file, check_framework_files, check_mesos_unit, check_ovn_central, env_file, expect,
};
use vagrant_common::vagrantfile::Plan;
use vagrant_common::zookeeper::{check_zookeeper_files, run_rendered_server};
use vagrant_common::{
    output, render_command, run, tool, vagrant_dir, Mode, Vm, GATEWAY_IP, LAB, MASTER_IP,
};

/// Every shell script under `vagrant/` (by extension or bash shebang).
fn scripts() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for rel in files_under(&vagrant_dir()).expect("list vagrant/") {
        if rel.starts_with(".vagrant/") || rel.starts_with("bin/") {
            continue;
        }
        let path = vagrant_dir().join(&rel);
        let head = std::fs::read(&path).unwrap_or_default();
        if rel.ends_with(".sh")
            || head.starts_with(b"#!/usr/bin/env bash")
            || head.starts_with(b"#!/bin/bash")
        {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The Vagrantfile's provisioning environment of `vm`.
fn vagrant_env(plan: &Plan, vm: &Vm) -> BTreeMap<String, String> {
    let machines = plan.machines().expect("machines");
    let machine = machines
        .iter()
        .find(|m| m.name == vm.name)
        .unwrap_or_else(|| panic!("no VM {}", vm.name));
    machine.provision().expect("provisioner").1
}

/// Renders `vm` into a fresh DESTDIR; panics with the script's stderr.
fn render(plan: &Plan, vm: &Vm, mesos_impl: &str) -> tempfile::TempDir {
    let dest = tempfile::tempdir().expect("tempdir");
    let env = vagrant_env(plan, vm);
    run(&mut render_command(&env, dest.path(), mesos_impl))
        .unwrap_or_else(|e| panic!("rendering {} ({mesos_impl}): {e:#}", vm.name));
    dest
}

fn expected_files(vm: &Vm, mode: Mode) -> BTreeSet<String> {
    let mut files: BTreeSet<String> = ["etc/default/ovn-chassis"].map(String::from).into();
    for role in mode.mesos_roles(vm) {
        files.insert(format!("etc/systemd/system/mesos-{role}.service"));
    }
    files.insert(format!("home/vagrant/setup_{}_args.sh", vm.role));
    if vm.gateway_nic_ip.is_some() {
        files.insert("etc/systemd/system/ovn-mesos-gateway-nic.service".into());
    }
    if vm.role == "master" {
        files.insert("etc/default/ovn-central".into());
    }
    if mode.runs_framework(vm) {
        files.extend(
            [
                "etc/default/ovn-mesos",
                "etc/systemd/system/ovn-mesos.service",
            ]
            .map(String::from),
        );
        for task in ["apachecoke", "apachepepsi", "nginxcoke", "nginxpepsi"] {
            files.insert(format!("etc/ovn-mesos/tasks/{task}.json"));
        }
    }
    if mode.runs_zookeeper(vm) {
        files.extend(vagrant_common::zookeeper::FILES.map(String::from));
    }
    files
}

#[test]
fn every_script_under_vagrant_passes_bash_n_and_shellcheck() {
    let scripts = scripts();
    let names: BTreeSet<String> = scripts
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for needed in [
        "provision.sh",
        "lib.sh",
        "mesos.sh",
        "ovn-host.sh",
        "ovn-central.sh",
        "ovn-chassis.sh",
        "ovn-mesos-service.sh",
        "lab-args.sh",
        "zookeeper.sh",
    ] {
        assert!(
            names.contains(needed),
            "vagrant/provisioning/{needed} is missing (found {names:?})"
        );
    }
    let (bash, shellcheck) = (tool("bash"), tool("shellcheck"));
    let mut failures = Vec::new();
    for script in &scripts {
        if let Err(e) = run(Command::new(&bash).arg("-n").arg(script)) {
            failures.push(format!("bash -n: {e:#}"));
        }
        let mut check = Command::new(&shellcheck);
        check
            .args([
                "--external-sources",
                "--source-path=SCRIPTDIR",
                "--severity=style",
            ])
            .arg(script);
        if let Err(e) = run(&mut check) {
            failures.push(format!("shellcheck: {e:#}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_vagrantfile_is_valid_ruby() {
    let out = run(Command::new(tool("ruby"))
        .arg("-c")
        .arg(vagrant_dir().join("Vagrantfile")))
    .expect("ruby -c");
    assert!(out.contains("Syntax OK"), "ruby -c said: {out}");
}

#[test]
fn the_vagrantfile_defines_the_three_vms_with_the_seed_address_plan() {
    let plan = Plan::load().expect("evaluate the Vagrantfile");
    let boxes = [
        "debian/bookworm64",
        "ubuntu/jammy64",
        "bento/ubuntu-22.04",
        "bento/ubuntu-24.04",
        "cloud-image/ubuntu-24.04",
    ];
    let vm_box = plan
        .vm_attrs
        .get("box")
        .and_then(|b| b.as_str())
        .expect("config.vm.box");
    assert!(boxes.contains(&vm_box), "box {vm_box} is none of {boxes:?}");
    let folders: Vec<_> = plan
        .vm_calls
        .iter()
        .filter(|c| c.method == "synced_folder")
        .collect();
    assert!(
        folders
            .iter()
            .any(|c| c.args.first().and_then(|a| a.as_str()) == Some("..")
                && c.args.get(1).and_then(|a| a.as_str()) == Some("/ovn-mesos")),
        "the checkout is not synced to /ovn-mesos: {folders:?}"
    );

    let machines = plan.machines().expect("machines");
    let names: Vec<&str> = machines.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, LAB.map(|vm| vm.name), "the VMs, master first");
    for (machine, vm) in machines.iter().zip(LAB) {
        let what = vm.name;
        assert_eq!(
            machine.vm_attrs.get("hostname").and_then(|h| h.as_str()),
            Some(vm.name),
            "{what}: hostname"
        );
        let networks: Vec<_> = machine
            .calls("network")
            .into_iter()
            .map(|c| {
                assert_eq!(
                    c.args.first().and_then(|a| a.as_str()),
                    Some("private_network"),
                    "{what}: {c:?}"
                );
                assert_eq!(
                    c.options.get("netmask").and_then(|n| n.as_str()),
                    Some("255.255.255.0"),
                    "{what}: {c:?}"
                );
                let ip = c
                    .options
                    .get("ip")
                    .and_then(|i| i.as_str())
                    .unwrap_or_default()
                    .to_string();
                let configured = c
                    .options
                    .get("auto_config")
                    .and_then(|a| a.as_bool())
                    .unwrap_or(true);
                (ip, configured)
            })
            .collect();
        let mut expected = vec![(vm.overlay_ip.to_string(), true)];
        if let Some(gw) = vm.gateway_nic_ip {
            expected.push((gw.to_string(), false));
        }
        assert_eq!(
            networks, expected,
            "{what}: networks (address, configured in the guest)"
        );

        for provider in ["virtualbox", "libvirt"] {
            let (attrs, _) = machine.provider(provider).unwrap();
            let memory = attrs.get("memory").and_then(|m| m.as_i64()).unwrap_or(0);
            let cpus = attrs.get("cpus").and_then(|c| c.as_i64()).unwrap_or(0);
            assert!(
                memory >= 2048 && cpus >= 2,
                "{what} {provider}: memory {memory}, cpus {cpus}"
            );
        }
        let (_, customize) = machine.provider("virtualbox").unwrap();
        let promisc = customize.iter().any(|c| {
            c.method == "customize"
                && c.args
                    .first()
                    .map(|a| a.to_string())
                    .is_some_and(|a| a.contains("--nicpromisc3") && a.contains("allow-all"))
        });
        assert_eq!(
            promisc,
            vm.gateway_nic_ip.is_some(),
            "{what}: the gateway NIC is promiscuous exactly where there is one"
        );

        let (path, env) = machine.provision().unwrap();
        assert!(
            vagrant_dir().join(&path).is_file(),
            "{what}: provisioner {path} does not exist"
        );
        expect(&env, "LAB_NODE", vm.name, what);
        expect(&env, "LAB_ROLE", vm.role, what);
        expect(&env, "OVERLAY_IP", vm.overlay_ip, what);
        expect(&env, "MASTER_IP", MASTER_IP, what);
        expect(&env, "GATEWAY_IP", GATEWAY_IP, what);
        assert_eq!(
            env.get("PUBLIC_IP2").map(String::as_str),
            vm.gateway_nic_ip,
            "{what}: PUBLIC_IP2"
        );
    }
}

#[test]
fn lab_ha_is_passed_to_every_vm_only_when_set() {
    for mode in Mode::ALL {
        let plan = Plan::load_with(mode.host_settings()).expect("evaluate the Vagrantfile");
        for vm in &LAB {
            let env = vagrant_env(&plan, vm);
            assert_eq!(
                env.get("LAB_HA").map(String::as_str),
                mode.is_ha().then_some("1"),
                "{} ({mode}): LAB_HA",
                vm.name
            );
        }
    }
}

#[test]
fn each_vm_renders_its_units_and_config_files() {
    for mode in Mode::ALL {
        let plan = Plan::load_with(mode.host_settings()).expect("evaluate the Vagrantfile");
        for vm in &LAB {
            for mesos_impl in ["mesos-local", "mesos"] {
                check_rendered_vm(&plan, vm, mesos_impl, mode);
            }
        }
    }
}

/// Renders `vm` with the Vagrantfile's environment in `mode` and checks
/// every file.
fn check_rendered_vm(plan: &Plan, vm: &Vm, mesos_impl: &str, mode: Mode) {
    let what = format!("{} ({mesos_impl}, {mode})", vm.name);
    let dest = render(plan, vm, mesos_impl);
    let dest = dest.path();
    assert_eq!(
        files_under(dest).unwrap(),
        expected_files(vm, mode),
        "{what}: rendered files"
    );

    let chassis = env_file(dest, "etc/default/ovn-chassis");
    expect(&chassis, "SYSTEM_ID", vm.name, &what);
    expect(&chassis, "ENCAP_IP", vm.overlay_ip, &what);
    expect(
        &chassis,
        "OVN_REMOTE",
        &format!("tcp:{MASTER_IP}:6642"),
        &what,
    );
    expect(&chassis, "DATAPATH_TYPE", "system", &what);

    for role in mode.mesos_roles(vm) {
        check_mesos_unit(dest, vm, role, mesos_impl, mode);
    }
    check_args_file(dest, vm);
    if vm.role == "master" {
        check_ovn_central(dest);
    }
    if mode.runs_framework(vm) {
        check_framework_files(dest, vm, mode);
    }
    if mode.runs_zookeeper(vm) {
        check_zookeeper_files(dest);
    }
}

#[test]
fn the_rendered_zookeeper_unit_starts_a_real_zookeeper() {
    let plan = Plan::load_with(Mode::Ha.host_settings()).expect("evaluate the Vagrantfile");
    let master = LAB.iter().find(|vm| Mode::Ha.runs_zookeeper(vm)).unwrap();
    let dest = render(&plan, master, "mesos-local");
    check_zookeeper_files(dest.path());
    run_rendered_server(dest.path()).unwrap_or_else(|e| panic!("{e:#}"));
}

#[test]
fn the_rendered_chassis_settings_configure_open_vswitch_through_ovn_chassis_sh() {
    let plan = Plan::load().expect("evaluate the Vagrantfile");
    for vm in &LAB {
        let ovs = LocalOvs::start(&format!("before-{}", vm.name))
            .expect("start an Open_vSwitch database");
        let dest = render(&plan, vm, "mesos-local");
        let vsctl = format!(
            "{} --no-wait --timeout=20 --db={}",
            tool("ovs-vsctl").display(),
            ovs.db_remote()
        );
        let mut apply = Command::new(tool("bash"));
        apply
            .arg(vagrant_dir().join("provisioning/ovn-host.sh"))
            .arg("--chassis-only")
            .env("DESTDIR", dest.path())
            .env("VSCTL", &vsctl);
        run(&mut apply).unwrap_or_else(|e| panic!("{}: {e:#}", vm.name));
        let get = |key: &str| {
            ovs.vsctl(&["get", "Open_vSwitch", ".", &format!("external_ids:{key}")])
                .unwrap()
                .trim_matches('"')
                .to_string()
        };
        assert_eq!(get("system-id"), vm.name);
        assert_eq!(get("hostname"), vm.name);
        assert_eq!(get("ovn-remote"), format!("tcp:{MASTER_IP}:6642"));
        assert_eq!(get("ovn-encap-type"), "geneve");
        assert_eq!(get("ovn-encap-ip"), vm.overlay_ip);
        assert_eq!(get("ovn-bridge-datapath-type"), "system");
        assert_eq!(
            ovs.vsctl(&["get", "Bridge", "br-int", "datapath_type"])
                .unwrap(),
            "system",
            "{}: br-int",
            vm.name
        );
    }
}

#[test]
fn bad_settings_stop_the_renderer_with_a_one_line_reason() {
    let default_plan = Plan::load().expect("evaluate the Vagrantfile");
    let ha_plan = Plan::load_with(Mode::Ha.host_settings()).expect("evaluate the Vagrantfile");
    let master = vagrant_env(&default_plan, &LAB[0]);
    let ha_agent = vagrant_env(&ha_plan, &LAB[2]);
    type Case<'a> = (
        &'a BTreeMap<String, String>,
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
    );
    let cases: [Case; 7] = [
        (
            &master,
            "LAB_ROLE",
            "boss",
            None,
            "LAB_ROLE must be master or agent",
        ),
        (
            &master,
            "MESOS_IMPL",
            "marathon",
            None,
            "MESOS_IMPL must be auto, mesos or mesos-local",
        ),
        (
            &master,
            "GATEWAY_NIC",
            "",
            Some("GATEWAY_NIC"),
            "GATEWAY_NIC is not set",
        ),
        (
            &master,
            "LAB_HA",
            "2",
            None,
            "LAB_HA must be 0 or 1, not '2'",
        ),
        (
            &master,
            "LAB_HA",
            "yes",
            None,
            "LAB_HA must be 0 or 1, not 'yes'",
        ),
        (
            &ha_agent,
            "LAB_HA",
            "true",
            None,
            "LAB_HA must be 0 or 1, not 'true'",
        ),
        (
            &ha_agent,
            "OVN_MESOS_API",
            "localhost",
            None,
            "OVN_MESOS_API must be HOST:PORT, not 'localhost'",
        ),
    ];
    for (env, name, value, remove, message) in cases {
        let dest = tempfile::tempdir().unwrap();
        let mut cmd = render_command(env, dest.path(), "mesos-local");
        cmd.env(name, value);
        if let Some(var) = remove {
            cmd.env_remove(var);
        }
        let out = output(&mut cmd).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}={value:?} was accepted");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
        assert!(
            errors.len() == 1 && errors[0].contains(message),
            "{name}={value:?}: expected one error line with {message:?}, stderr was {stderr}"
        );
    }
}
