//! The `ovn-mesos` binary against real OVN daemons: the seed's network steps,
//! idempotent re-runs, VIP lookups, and one-line errors with the right exit codes.

use std::net::SocketAddrV4;
use std::process::{Command, Output};

use anyhow::{Context, Result};
use ovn::ovsdb::{Client, ClientConfig};
use ovn::services::{ensure_service, Protocol, ServiceSpec};
use ovn_mesos_tests::{LocalOvs, OvnCentral};

const BIN: &str = env!("CARGO_BIN_EXE_ovn-mesos");

struct Lab {
    central: OvnCentral,
    ovs: LocalOvs,
}

impl Lab {
    fn start() -> Result<Lab> {
        Ok(Lab {
            central: OvnCentral::start()?,
            ovs: LocalOvs::start("mesos-master")?,
        })
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("OVN_NB_DB", self.central.nb_remote())
            .env("OVN_MESOS_OVS_DB", self.ovs.db_remote())
            .env("OVN_MESOS_DB_TIMEOUT", "3secs")
            .output()
            .expect("run ovn-mesos")
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ovn-mesos {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command that must fail with `code`; returns its one stderr line.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "ovn-mesos {args:?}: {stderr}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "not one line: {stderr:?}"
        );
        stderr.trim_end().to_owned()
    }

    fn seed(&self) {
        self.ok(&["tenant-init", "--tenant-name", "coke"]);
        self.ok(&[
            "gateway-init",
            "--cluster-ip-subnet=192.168.0.0/16",
            "--localnet=physnet",
            "--physical-ip=10.10.1.12/24",
            "--default-gw=10.10.1.1",
            "--tenant-name=coke",
        ]);
        self.ok(&[
            "network-init",
            "--network-name=coke1",
            "--subnet=192.168.1.0/24",
            "--tenant-name=coke",
        ]);
    }
}

#[test]
fn the_seed_steps_run_twice_leave_the_same_database() -> Result<()> {
    let lab = Lab::start()?;
    lab.seed();
    lab.central.sync_sb()?;
    let first = lab.central.nb_dump()?;
    lab.seed();
    assert_eq!(lab.central.nb_dump()?, first, "a second run changed the NB");
    let again = lab.ok(&["tenant-init", "--tenant-name", "coke"]);
    assert_eq!(again.trim(), "tenant coke: already up to date");
    let again = lab.ok(&[
        "gateway-init",
        "--cluster-ip-subnet=192.168.0.0/16",
        "--localnet=physnet",
        "--physical-ip=10.10.1.12/24",
        "--default-gw=10.10.1.1",
        "--tenant-name=coke",
    ]);
    assert!(again.contains("already up to date"), "{again}");
    assert!(!again.contains("does not exist"), "{again}");
    let nat = lab
        .central
        .nbctl(&["lr-nat-list", "GR_coke_mesos-master"])?;
    assert_eq!(nat.matches("snat").count(), 1, "{nat}");
    let mappings = lab.ovs.vsctl(&[
        "get",
        "Open_vSwitch",
        ".",
        "external_ids:ovn-bridge-mappings",
    ])?;
    assert_eq!(mappings.trim(), "\"physnet:br-ex\"");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vip_prints_the_service_with_its_backends() -> Result<()> {
    let lab = Lab::start()?;
    lab.seed();
    let config = ovn::services::monitor_services(ovn::topology::monitor_nb(ClientConfig::new(
        &lab.central.nb_remote(),
        "OVN_Northbound",
    )?));
    let nb = Client::connect(config).await?;
    let backends: Vec<SocketAddrV4> = vec!["192.168.1.2:80".parse()?, "192.168.1.3:80".parse()?];
    ensure_service(
        &nb,
        &ServiceSpec {
            tenant: "coke".into(),
            name: "coke-web".into(),
            protocol: Protocol::Tcp,
            port: 32350,
            backends,
            cluster_ip: None,
            dns_name: None,
            health: None,
        },
    )
    .await
    .context("ensure_service")?;
    nb.close().await;

    let text = lab.ok(&["vip", "coke-web"]);
    assert!(
        text.contains("10.10.1.12:32350 on GR_coke_mesos-master -> 192.168.1.2:80, 192.168.1.3:80"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&lab.ok(&["vip", "coke-web", "--json"]))?;
    assert_eq!(json["tenant"], "coke");
    assert_eq!(json["vips"][0]["vip"], "10.10.1.12:32350");
    assert_eq!(json["vips"][0]["backends"][1], "192.168.1.3:80");

    let missing = lab.fails(&["vip", "fanta-web"], 1);
    assert!(missing.contains("no service named fanta-web"), "{missing}");
    Ok(())
}

#[test]
fn bad_input_is_one_line_and_changes_nothing() -> Result<()> {
    let lab = Lab::start()?;
    lab.seed();
    lab.central.sync_sb()?;
    let before = lab.central.nb_dump()?;
    let cases: [(&[&str], i32, &str); 7] = [
        (
            &[
                "network-init",
                "--network-name=coke1",
                "--subnet=192.168.7.0/24",
                "--tenant-name=coke",
            ],
            1,
            "network-init coke1: network coke1 of tenant coke has subnet 192.168.1.0/24, not 192.168.7.0/24",
        ),
        (
            &[
                "network-init",
                "--network-name=c2",
                "--subnet=10.99.0.0/24",
                "--tenant-name=coke",
            ],
            1,
            "outside cluster subnet",
        ),
        (
            &[
                "network-init",
                "--network-name=c3",
                "--subnet=192.168.1.128/25",
                "--tenant-name=coke",
            ],
            1,
            "overlaps network coke1",
        ),
        (
            &[
                "network-init",
                "--network-name=x1",
                "--subnet=192.168.5.0/24",
                "--tenant-name=fanta",
            ],
            1,
            "tenant fanta does not exist",
        ),
        (
            &[
                "network-init",
                "--network-name=c4",
                "--subnet=192.168.1.0/33",
                "--tenant-name=coke",
            ],
            64,
            "--subnet",
        ),
        (
            &["network-init", "--network-name=c5", "--tenant-name=coke"],
            64,
            "--subnet",
        ),
        (
            &[
                "gateway-init",
                "--cluster-ip-subnet=192.168.0.0/16",
                "--physical-ip=10.10.1.12/24",
                "--default-gw=10.10.1.1",
                "--tenant-name=coke",
            ],
            1,
            "--localnet PHYSNET or --physical-interface",
        ),
    ];
    for (args, code, needle) in cases {
        let line = lab.fails(args, code);
        assert!(line.contains(needle), "{args:?}: {line}");
    }
    assert_eq!(
        lab.central.nb_dump()?,
        before,
        "a failed command changed the NB"
    );
    Ok(())
}

#[test]
fn refused_task_files_are_reported_one_line_each() -> Result<()> {
    let lab = Lab::start()?;
    lab.seed();
    let dir = tempfile::tempdir()?;
    let shipped = |name: &str| {
        std::fs::read_to_string(format!("{}/../tasks/{name}", env!("CARGO_MANIFEST_DIR")))
    };
    let good = dir.path().join("a-good.json");
    std::fs::write(&good, shipped("apachecoke.json")?)?;
    let broken = dir.path().join("b-broken.json");
    std::fs::write(&broken, "{\"name\": \"x\",\n  \"resources\": [}\n")?;
    let no_switch = dir.path().join("c-no-switch.json");
    std::fs::write(
        &no_switch,
        shipped("nginxcoke.json")?.replace("\"logical_switch\"", "\"switch\""),
    )?;
    let state = dir.path().join("state");
    let out = lab.run(&[
        "run",
        "--master=127.0.0.1:9",
        "--api=127.0.0.1:0",
        &format!("--state-dir={}", state.display()),
        &format!("--tasks={}", dir.path().display()),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // stderr also carries the info log; each problem is an error line.
    let errors: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("ovn-mesos: error: "))
        .collect();
    assert_eq!(errors.len(), 2, "one line per bad file: {stderr}");
    assert!(
        errors[0].starts_with(&format!("{}: invalid JSON: ", broken.display()))
            && errors[0].contains("line 2 column"),
        "{}",
        errors[0]
    );
    assert_eq!(
        errors[1],
        format!(
            "{}: container.network_infos[0].labels: no logical_switch label",
            no_switch.display()
        )
    );
    assert!(!stderr.contains("a-good.json"), "{stderr}");
    assert!(!state.exists(), "the state dir was created");
    Ok(())
}

#[test]
fn a_dead_database_is_named_in_one_line() -> Result<()> {
    let out = Command::new(BIN)
        .args(["tenant-init", "--tenant-name", "coke"])
        .env("OVN_NB_DB", "unix:/nonexistent/ovnnb_db.sock")
        .env("OVN_MESOS_DB_TIMEOUT", "300ms")
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot reach the OVN NB database at unix:/nonexistent/ovnnb_db.sock"),
        "{stderr}"
    );
    let bad = Command::new(BIN)
        .args([
            "--nb",
            "ssl:10.0.0.1:6641",
            "tenant-init",
            "--tenant-name",
            "coke",
        ])
        .output()?;
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ssl:10.0.0.1:6641"), "{stderr}");
    Ok(())
}

#[test]
fn the_deletes_restore_the_empty_database() -> Result<()> {
    let lab = Lab::start()?;
    let empty = tables(lab.central.nb_dump()?);
    lab.seed();
    let refused = lab.fails(&["tenant-delete", "--tenant-name=coke"], 1);
    assert!(refused.contains("coke"), "{refused}");
    lab.ok(&[
        "network-delete",
        "--network-name=coke1",
        "--tenant-name=coke",
    ]);
    lab.ok(&["gateway-delete", "--tenant-name=coke"]);
    lab.ok(&["tenant-delete", "--tenant-name=coke"]);
    lab.central.sync_sb()?;
    assert_eq!(tables(lab.central.nb_dump()?), empty);
    Ok(())
}

#[test]
fn deleting_a_network_that_does_not_exist_says_so_and_succeeds() -> Result<()> {
    let lab = Lab::start()?;
    lab.seed();
    lab.central.sync_sb()?;
    let before = tables(lab.central.nb_dump()?);
    let typo = lab.ok(&[
        "network-delete",
        "--network-name=coke9",
        "--tenant-name=coke",
    ]);
    assert_eq!(
        typo.trim_end(),
        "network coke9 of tenant coke does not exist: nothing to delete"
    );
    lab.central.sync_sb()?;
    assert_eq!(tables(lab.central.nb_dump()?), before, "the NB changed");

    // Deleting twice: the first run names what it deleted, the second
    // finds nothing.
    let first = lab.ok(&[
        "network-delete",
        "--network-name=coke1",
        "--tenant-name=coke",
    ]);
    assert!(first.contains("deleted Logical_Switch coke1"), "{first}");
    let again = lab.ok(&[
        "network-delete",
        "--network-name=coke1",
        "--tenant-name=coke",
    ]);
    assert_eq!(
        again.trim_end(),
        "network coke1 of tenant coke does not exist: nothing to delete"
    );
    Ok(())
}

#[test]
fn deleting_a_gateway_or_tenant_that_does_not_exist_says_so_and_succeeds() -> Result<()> {
    let lab = Lab::start()?;
    lab.seed();
    lab.central.sync_sb()?;
    let before = tables(lab.central.nb_dump()?);
    let typo = lab.ok(&["tenant-delete", "--tenant-name=fanta"]);
    assert_eq!(
        typo.trim_end(),
        "tenant fanta does not exist: nothing to delete"
    );
    let typo = lab.ok(&["gateway-delete", "--tenant-name=fanta"]);
    assert!(
        typo.starts_with("gateway GR_fanta_")
            && typo
                .trim_end()
                .ends_with(" of tenant fanta does not exist: nothing to delete"),
        "{typo}"
    );
    lab.central.sync_sb()?;
    assert_eq!(tables(lab.central.nb_dump()?), before, "the NB changed");

    lab.ok(&[
        "network-delete",
        "--network-name=coke1",
        "--tenant-name=coke",
    ]);
    let first = lab.ok(&["gateway-delete", "--tenant-name=coke"]);
    assert!(first.contains("deleted"), "{first}");
    let again = lab.ok(&["gateway-delete", "--tenant-name=coke"]);
    assert!(
        again.contains("does not exist: nothing to delete"),
        "{again}"
    );
    let first = lab.ok(&["tenant-delete", "--tenant-name=coke"]);
    assert!(first.contains("deleted"), "{first}");
    assert!(
        first.contains("deleted the service fabric of tenant coke"),
        "{first}"
    );
    for table in ["Load_Balancer_Group", "DNS", "Port_Group"] {
        assert_eq!(lab.central.nbctl(&["list", table])?, "", "{table} left");
    }
    let again = lab.ok(&["tenant-delete", "--tenant-name=coke"]);
    assert_eq!(
        again.trim_end(),
        "tenant coke does not exist: nothing to delete"
    );
    Ok(())
}

/// The dump without NB_Global, whose sequence numbers move with every sync.
fn tables(mut dump: serde_json::Value) -> serde_json::Value {
    if let Some(o) = dump.as_object_mut() {
        o.remove("NB_Global");
    }
    dump
}
