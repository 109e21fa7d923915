//! The async OVSDB client against real ovsdb-server: unix and tcp, checked
//! transactions, read-your-writes, the cache following other writers, reconnect
//! and resync after a crash, the echo probe against a frozen server, and a Raft
//! cluster losing its leader while the client writes.

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovn::ovsdb::{
    Cache, Client, ClientConfig, Datum, Error, Expect, Mutation, OpErrorKind, Operation, Remote,
    Row, Txn,
};
use ovn_mesos_tests::workdir::{ovs_command, run_command};
use ovn_mesos_tests::{wait_for, OvnCentral, RaftNb};
use uuid::Uuid;

const NB: &str = "OVN_Northbound";
const LS: &str = "Logical_Switch";
const LSP: &str = "Logical_Switch_Port";
const WAIT: Duration = Duration::from_secs(10);

/// Runs a blocking harness call without stalling the client's tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn nb_config(remotes: &str) -> ClientConfig {
    ClientConfig::new(remotes, NB)
        .unwrap()
        .monitor(LS)
        .monitor(LSP)
}

fn named(name: &str) -> Row {
    Row::from([("name".to_string(), Datum::string(name))])
}

fn switch(c: &Cache, name: &str) -> Option<Uuid> {
    c.find(LS, "name", &Datum::string(name))
        .first()
        .map(|(u, _)| *u)
}

fn port_names(c: &Cache) -> Vec<String> {
    let mut names: Vec<String> = c
        .table(LSP)
        .filter_map(|(_, r)| r.get("name")?.as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Adds a logical switch with a fixed uuid; returns the uuid.
async fn add_switch(client: &Client, name: &str) -> Uuid {
    let mut txn = Txn::new(NB);
    let (_, uuid) = txn.insert(LS, named(name));
    client.transact(&txn).await.unwrap();
    uuid
}

/// The TCP port ovsdb-server bound for a `ptcp:0:127.0.0.1` remote.
fn add_tcp_remote(central: &OvnCentral) -> u16 {
    let nb = central.nb_daemon();
    let mut cmd = ovs_command(central.dir(), "ovs-appctl");
    cmd.arg("-t")
        .arg(&nb.ctl)
        .args(["ovsdb-server/add-remote", "ptcp:0:127.0.0.1"]);
    run_command(cmd).unwrap();
    wait_for("ovsdb-server to log its tcp port", WAIT, || {
        let log = std::fs::read_to_string(&nb.log)?;
        Ok(log
            .lines()
            .filter_map(|l| l.split_once("listening on port ").map(|(_, p)| p.trim()))
            .filter_map(|p| p.parse::<u16>().ok())
            .next_back())
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_unix_loads_the_snapshot_and_follows_nbctl() {
    let central = OvnCentral::start().unwrap();
    central.nbctl(&["ls-add", "sw0"]).unwrap();
    let client = Client::connect(nb_config(&central.nb_remote()))
        .await
        .unwrap();
    assert!(client.is_connected());
    assert_eq!(
        client.current_remote().unwrap().to_string(),
        central.nb_remote()
    );
    assert_eq!(client.schema().name, NB);
    assert!(
        client.read(|c| switch(c, "sw0")).is_some(),
        "the initial snapshot has sw0"
    );

    blocking(|| {
        central.nbctl(&[
            "lsp-add",
            "sw0",
            "p1",
            "--",
            "lsp-set-addresses",
            "p1",
            "0a:00:00:00:00:01 10.0.0.2",
        ])
    })
    .unwrap();
    client
        .wait_until("p1 with its address in the cache", WAIT, |c| {
            c.find(LSP, "name", &Datum::string("p1"))
                .first()
                .is_some_and(|(_, r)| r["addresses"] == Datum::set(["0a:00:00:00:00:01 10.0.0.2"]))
        })
        .await
        .unwrap();
    blocking(|| {
        central.nbctl(&[
            "set",
            "Logical_Switch",
            "sw0",
            "external_ids:owner=test",
            "other_config:a=b",
        ])
    })
    .unwrap();
    client
        .wait_until("sw0 external_ids in the cache", WAIT, |c| {
            let sw = switch(c, "sw0").unwrap();
            c.row(LS, &sw).unwrap()["external_ids"] == Datum::map([("owner", "test")])
        })
        .await
        .unwrap();
    blocking(|| central.nbctl(&["ls-del", "sw0"])).unwrap();
    client
        .wait_until("sw0 and p1 gone from the cache", WAIT, |c| {
            c.len(LS) == 0 && c.len(LSP) == 0
        })
        .await
        .unwrap();
    client.echo().await.unwrap();
    client.close().await;
    assert!(!client.is_connected());
    assert!(matches!(client.echo().await, Err(Error::NotConnected)));
    central.check_logs().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_tcp_transacts() {
    let central = OvnCentral::start().unwrap();
    let port = blocking(|| add_tcp_remote(&central));
    let remote = format!("tcp:127.0.0.1:{port}");
    let client = Client::connect(nb_config(&remote)).await.unwrap();
    assert_eq!(
        client.current_remote(),
        Some(Remote::Tcp {
            host: "127.0.0.1".into(),
            port
        })
    );
    let sw = add_switch(&client, "tcp-sw").await;
    assert!(client.read(|c| c.contains(LS, &sw)));
    assert!(blocking(|| central.nbctl(&["ls-list"]))
        .unwrap()
        .contains("tcp-sw"));
    client.echo().await.unwrap();
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checked_writes_are_visible_in_the_cache_as_soon_as_transact_returns() {
    let central = OvnCentral::start().unwrap();
    let client = Client::connect(nb_config(&central.nb_remote()))
        .await
        .unwrap();

    // Insert a switch and a port referenced from it, in one transaction.
    let mut txn = Txn::new(NB);
    let (sw_ref, sw) = txn.insert(LS, named("sw0"));
    let (port_ref, port) = txn.insert(LSP, named("p1"));
    txn.push(
        Operation::Mutate {
            table: LS.into(),
            conditions: vec![ovn::ovsdb::Condition::eq("_uuid", sw_ref)],
            mutations: vec![Mutation::insert("ports", port_ref)],
        },
        Expect::Exactly(1),
    );
    let results = client.transact(&txn).await.unwrap();
    assert_eq!(
        (results[0].uuid, results[1].uuid, results[2].count),
        (Some(sw), Some(port), Some(1))
    );
    client.read(|c| {
        assert_eq!(c.row(LS, &sw).unwrap()["ports"], Datum::set([port]));
        assert_eq!(port_names(c), ["p1"]);
    });

    // Update: the new external_ids are read back at once.
    let mut txn = Txn::new(NB);
    txn.update_row(
        LS,
        sw,
        Row::from([(
            "external_ids".to_string(),
            Datum::map([("owner", "ovn-mesos")]),
        )]),
    );
    assert_eq!(client.transact(&txn).await.unwrap()[0].count, Some(1));
    client.read(|c| {
        assert_eq!(
            c.row(LS, &sw).unwrap()["external_ids"],
            Datum::map([("owner", "ovn-mesos")])
        )
    });

    // Mutate: delete the port reference (the port is garbage-collected).
    let mut txn = Txn::new(NB);
    txn.mutate_row(LS, sw, vec![Mutation::delete("ports", Datum::uuid(port))]);
    client.transact(&txn).await.unwrap();
    client.read(|c| assert!(c.row(LS, &sw).unwrap()["ports"].is_empty()));

    // Delete by uuid.
    let mut txn = Txn::new(NB);
    txn.delete_row(LS, sw);
    client.transact(&txn).await.unwrap();
    assert!(client.read(|c| !c.contains(LS, &sw)));
    assert_eq!(blocking(|| central.nbctl(&["ls-list"])).unwrap(), "");

    // Single-insert transactions: rough cost, including read-your-writes.
    let n = 200;
    let started = Instant::now();
    for i in 0..n {
        add_switch(&client, &format!("timing{i}")).await;
    }
    let per_txn = started.elapsed() / n;
    eprintln!(
        "single-insert transaction over unix, cache updated: {per_txn:?} each ({n} in a row)"
    );
    assert_eq!(client.read(|c| c.len(LS)), n as usize);
    assert!(
        per_txn < Duration::from_millis(100),
        "{per_txn:?} per insert"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_operations_and_unexpected_counts_are_typed_errors() {
    let central = OvnCentral::start().unwrap();
    let client = Client::connect(nb_config(&central.nb_remote()))
        .await
        .unwrap();
    let sw = add_switch(&client, "sw0").await;

    // A mutate of a row that does not exist matches nothing: Count, not
    // success, and the transaction is aborted (the switch is not added).
    let mut txn = Txn::new(NB);
    txn.insert(LS, named("must-not-exist"));
    txn.mutate_row(
        LS,
        Uuid::new_v4(),
        vec![Mutation::insert("external_ids", Datum::map([("a", "b")]))],
    );
    match client.transact(&txn).await.unwrap_err() {
        Error::Count {
            index,
            op,
            table,
            count,
            expect,
        } => {
            assert_eq!(
                (index, op, table.as_str(), count, expect),
                (1, "mutate", LS, 0, Expect::Exactly(1))
            );
        }
        other => panic!("expected a count error, got {other:?}"),
    }

    assert!(!blocking(|| central.nbctl(&["ls-list"]))
        .unwrap()
        .contains("must-not-exist"));

    // A value out of the column's range: the failing operation's index and kind.
    let mut txn = Txn::new(NB);
    let (port_ref, _) = txn.insert(LSP, named("p-bad"));
    let mut bad = named("p-tag");
    bad.insert("tag".into(), Datum::int(5000));
    let (bad_ref, _) = txn.insert(LSP, bad);
    txn.mutate_row(
        LS,
        sw,
        vec![
            Mutation::insert("ports", port_ref),
            Mutation::insert("ports", bad_ref),
        ],
    );
    match client.transact(&txn).await.unwrap_err() {
        Error::Op {
            index,
            op,
            table,
            kind,
            details,
        } => {
            assert_eq!((index, op, table.as_deref()), (1, "insert", Some(LSP)));
            assert_eq!(kind, OpErrorKind::ConstraintViolation);
            assert!(details.contains("5000"), "{details}");
        }
        other => panic!("expected an operation error, got {other:?}"),
    }

    // Two ports with the same name: the name index is checked at commit.
    let mut txn = Txn::new(NB);
    let (a, _) = txn.insert(LSP, named("dup"));
    let (b, _) = txn.insert(LSP, named("dup"));
    txn.mutate_row(
        LS,
        sw,
        vec![Mutation::insert("ports", a), Mutation::insert("ports", b)],
    );
    match client.transact(&txn).await.unwrap_err() {
        Error::Commit { kind, details } => {
            assert_eq!(kind, OpErrorKind::ConstraintViolation);
            assert!(details.contains("index on column \"name\""), "{details}");
        }
        other => panic!("expected a commit error, got {other:?}"),
    }

    // Inserting a fixed uuid twice is "duplicate uuid".
    let mut txn = Txn::new(NB);
    txn.insert_with_uuid(LS, named("again"), sw);
    match client.transact(&txn).await.unwrap_err() {
        Error::Op {
            index: 0,
            kind: OpErrorKind::DuplicateUuid,
            ..
        } => {}
        other => panic!("expected duplicate uuid, got {other:?}"),
    }

    // Nothing of the failed transactions is in the database or the cache.
    assert_eq!(client.read(|c| (c.len(LS), c.len(LSP))), (1, 0));
    assert_eq!(
        blocking(|| central.nbctl(&["--bare", "--columns=name", "list", LSP])).unwrap(),
        ""
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_are_reported_at_connect() {
    let central = OvnCentral::start().unwrap();
    let remote = central.nb_remote();
    let unknown_table = ClientConfig::new(&remote, NB)
        .unwrap()
        .monitor("No_Such_Table");
    assert!(matches!(
        Client::connect(unknown_table).await,
        Err(Error::Schema(_))
    ));
    let unknown_column = ClientConfig::new(&remote, NB)
        .unwrap()
        .monitor_columns(LS, &["name", "nope"]);
    assert!(matches!(
        Client::connect(unknown_column).await,
        Err(Error::Schema(_))
    ));
    let unknown_db = ClientConfig::new(&remote, "No_Such_DB").unwrap();
    assert!(matches!(
        Client::connect(unknown_db).await,
        Err(Error::NoDatabase { .. })
    ));

    let dir = tempfile::tempdir().unwrap();
    let mut dead =
        ClientConfig::new(&format!("unix:{}/absent.sock", dir.path().display()), NB).unwrap();
    dead.connect_timeout = Duration::from_millis(300);
    let started = Instant::now();
    match Client::connect(dead).await {
        Err(Error::NoServer { remotes, last }) => {
            assert!(remotes.ends_with("absent.sock"), "{remotes}");
            assert!(last.contains("absent.sock"), "{last}");
        }
        other => panic!("expected NoServer, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );

    // A server that accepts connections but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut mute = ClientConfig::new(&format!("tcp:127.0.0.1:{port}"), NB).unwrap();
    mute.connect_timeout = Duration::from_millis(300);
    let started = Instant::now();
    match Client::connect(mute).await {
        Err(Error::NoServer { last, .. }) => assert!(last.contains("no answer"), "{last}"),
        other => panic!("expected NoServer, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_reconnected_and_the_cache_resynced() {
    let mut central = OvnCentral::start().unwrap();
    central.nbctl(&["ls-add", "before"]).unwrap();
    central.nbctl(&["ls-add", "doomed"]).unwrap();
    let client = Client::connect(nb_config(&central.nb_remote()))
        .await
        .unwrap();
    assert_eq!(client.read(|c| c.len(LS)), 2);

    blocking(|| central.kill_nb());
    blocking(|| {
        wait_for("the client to notice the crash", WAIT, || {
            Ok((!client.is_connected()).then_some(()))
        })
    })
    .unwrap();
    let mut txn = Txn::new(NB);
    txn.insert(LS, named("while-down"));
    assert!(matches!(
        client.transact(&txn).await,
        Err(Error::NotConnected)
    ));

    // Change the database file while the server is down: the client can only
    // learn this from a full resync.
    let db = central.dir().join("nb.db");
    let offline = r#"["OVN_Northbound",
        {"op":"insert","table":"Logical_Switch","row":{"name":"offline"}},
        {"op":"delete","table":"Logical_Switch","where":[["name","==","doomed"]]}]"#;
    let mut cmd = ovs_command(central.dir(), "ovsdb-tool");
    cmd.arg("transact").arg(&db).arg(offline);
    blocking(|| run_command(cmd)).unwrap();

    blocking(|| central.restart_nb()).unwrap();
    let restarted = Instant::now();
    client
        .wait_until(
            "the resynced cache with offline and without doomed",
            WAIT,
            |c| {
                switch(c, "offline").is_some()
                    && switch(c, "doomed").is_none()
                    && switch(c, "before").is_some()
            },
        )
        .await
        .unwrap();
    eprintln!(
        "reconnected and resynced {:?} after the restart",
        restarted.elapsed()
    );
    assert!(client.is_connected());
    assert_eq!(client.reconnects(), 1);
    let sw = add_switch(&client, "after").await;
    assert!(client.read(|c| c.contains(LS, &sw)));
    assert!(blocking(|| central.nbctl(&["ls-list"]))
        .unwrap()
        .contains("after"));
    client.close().await;
}

/// Resumes a stopped process even when the test fails.
struct Continue(i32);

impl Drop for Continue {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGCONT);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_probe_detects_a_frozen_server() {
    let central = OvnCentral::start().unwrap();
    let mut config = nb_config(&central.nb_remote());
    config.probe_interval = Duration::from_millis(200);
    config.connect_timeout = Duration::from_millis(500);
    let client = Client::connect(config).await.unwrap();
    let pid = central.nb_daemon().pid;

    kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
    let resume = Continue(pid);
    let frozen = Instant::now();
    blocking(|| {
        wait_for("the probe to drop the frozen server", WAIT, || {
            Ok((!client.is_connected()).then_some(()))
        })
    })
    .unwrap();
    let detected = frozen.elapsed();
    eprintln!("frozen server detected after {detected:?} (probe interval 200 ms)");
    assert!(detected >= Duration::from_millis(200), "{detected:?}");

    drop(resume);
    blocking(|| {
        wait_for("the client to reconnect after SIGCONT", WAIT, || {
            Ok((client.is_connected() && client.reconnects() >= 1).then_some(()))
        })
    })
    .unwrap();
    let sw = add_switch(&client, "thawed").await;
    assert!(client.read(|c| c.contains(LS, &sw)));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_client_ends_up_on_the_leader_even_when_a_follower_is_listed_first() {
    let cluster = blocking(|| RaftNb::start(3)).unwrap();
    let leader = blocking(|| cluster.leader()).unwrap();
    let order: Vec<usize> = (0..3).map(|k| (leader + 1 + k) % 3).collect();
    assert_ne!(order[0], leader);
    let remotes = order
        .iter()
        .map(|&i| cluster.member_remote(i))
        .collect::<Vec<_>>()
        .join(",");
    let client = Client::connect(nb_config(&remotes)).await.unwrap();
    assert_eq!(
        client.current_remote().unwrap().to_string(),
        cluster.member_remote(leader)
    );
    let sw = add_switch(&client, "on-the-leader").await;
    assert!(client.read(|c| c.contains(LS, &sw)));
    client.close().await;
}

/// One `ensure` per port: add port `name` with a fixed uuid to switch `sw0`
/// unless the cache already has it.
async fn ensure_port(client: &Client, i: u128) -> Result<(), Error> {
    let name = format!("port{i:03}");
    let uuid = Uuid::from_u128(0x0bad_cafe_0000_0000_0000_0000_0000_0000 + i);
    client
        .ensure(&format!("port {name}"), |c| {
            if !c.find(LSP, "name", &Datum::string(&name)).is_empty() {
                return Ok((None, ()));
            }
            let sw = switch(c, "sw0").ok_or_else(|| Error::Schema("sw0 is missing".into()))?;
            let mut txn = Txn::new(NB);
            let port = txn.insert_with_uuid(LSP, named(&name), uuid);
            txn.mutate_row(LS, sw, vec![Mutation::insert("ports", port)]);
            Ok((Some(txn), ()))
        })
        .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_the_leader_being_killed_without_loss_or_duplicates() {
    let mut cluster = blocking(|| RaftNb::start(3)).unwrap();
    let mut config = nb_config(&cluster.remotes());
    config.probe_interval = Duration::from_millis(500);
    let client = Client::connect(config).await.unwrap();
    add_switch(&client, "sw0").await;

    let n = 200u128;
    let writer = {
        let client = client.clone();
        tokio::spawn(async move {
            for i in 0..n {
                ensure_port(&client, i).await?;
            }
            Ok::<_, Error>(())
        })
    };
    client
        .wait_until(
            "50 ports written before the leader dies",
            Duration::from_secs(30),
            |c| c.len(LSP) >= 50,
        )
        .await
        .unwrap();
    let leader = blocking(|| cluster.leader()).unwrap();
    blocking(|| cluster.kill(leader));
    let killed = Instant::now();
    tokio::time::timeout(Duration::from_secs(120), writer)
        .await
        .expect("the writer finishes")
        .unwrap()
        .unwrap();
    eprintln!(
        "200 ports written; leader {leader} killed {:?} before the end; reconnects: {}",
        killed.elapsed(),
        client.reconnects()
    );
    assert!(client.reconnects() >= 1);
    assert_ne!(
        client.current_remote().unwrap().to_string(),
        cluster.member_remote(leader)
    );

    let expected: Vec<String> = (0..n).map(|i| format!("port{i:03}")).collect();
    client.read(|c| {
        assert_eq!(port_names(c), expected);
        let sw = switch(c, "sw0").unwrap();
        assert_eq!(c.row(LS, &sw).unwrap()["ports"].uuids().len(), n as usize);
    });
    // The database itself, as ovn-nbctl sees it through the new leader.
    let listed = blocking(|| cluster.nbctl(&["--bare", "--columns=name", "list", LSP])).unwrap();
    let mut names: Vec<String> = listed.split_whitespace().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, expected);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_skips_done_work_retries_failed_guards_and_returns_real_errors() {
    let central = OvnCentral::start().unwrap();
    let client = Client::connect(nb_config(&central.nb_remote()))
        .await
        .unwrap();

    // A builder that does not look at the cache: the second run hits
    // "duplicate uuid", finds the row in the cache and counts it as applied.
    // Each build hands back how many times it has run.
    let fixed = Uuid::new_v4();
    let mut careless_builds = 0;
    let mut careless = |_: &Cache| {
        careless_builds += 1;
        let mut txn = Txn::new(NB);
        txn.insert_with_uuid(LS, named("fixed"), fixed);
        Ok::<_, &str>((Some(txn), careless_builds))
    };
    assert_eq!(
        client.ensure("switch fixed", &mut careless).await.unwrap(),
        Ok(1)
    );
    assert_eq!(
        client
            .ensure("switch fixed again", &mut careless)
            .await
            .unwrap(),
        Ok(3),
        "built, refused as a duplicate, built again and seen as applied"
    );
    assert_eq!(client.read(|c| c.len(LS)), 1);
    assert_eq!(
        client
            .ensure("nothing", |_| Ok::<_, &str>((None, "unchanged")))
            .await
            .unwrap(),
        Ok("unchanged")
    );

    // A guard computed from a view the server disagrees with fails with
    // "timed out" (retryable); the rebuilt transaction succeeds and its
    // build's value comes back.
    let mut builds = 0;
    let seen = client
        .ensure("rename under a guard", |c| {
            builds += 1;
            let seen = if builds == 1 {
                "stale".to_owned()
            } else {
                c.row(LS, &fixed).unwrap()["name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            let mut txn = Txn::new(NB);
            txn.guard_row(LS, fixed, named(&seen));
            txn.update_row(LS, fixed, named("renamed"));
            Ok::<_, Error>((Some(txn), seen))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!((builds, seen.as_str()), (2, "fixed"));
    assert!(client.read(|c| switch(c, "renamed") == Some(fixed)));

    // A real error comes back at once, and a builder's own refusal too,
    // with nothing written.
    let started = Instant::now();
    let err = client
        .ensure("port with a bad tag", |_| {
            let mut txn = Txn::new(NB);
            let mut row = named("p-tag");
            row.insert("tag".into(), Datum::int(5000));
            let (port, _) = txn.insert(LSP, row);
            txn.mutate_row(LS, fixed, vec![Mutation::insert("ports", port)]);
            Ok::<_, Error>((Some(txn), ()))
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Op {
                index: 0,
                kind: OpErrorKind::ConstraintViolation,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let refused = client
        .ensure("broken builder", |_| Err::<(Option<Txn>, ()), _>("no"))
        .await
        .unwrap();
    assert_eq!(refused, Err("no"));
    assert_eq!(client.read(|c| (c.len(LS), c.len(LSP))), (1, 0));
    client.close().await;
}

/// The member of `cluster` other than `old` that says it is leader.
fn new_leader(cluster: &RaftNb, old: usize) -> anyhow::Result<Option<usize>> {
    for i in (0..cluster.len()).filter(|&i| i != old) {
        if cluster.status(i)?.role == "leader" {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_leadership_is_left_for_the_new_one() {
    let cluster = blocking(|| RaftNb::start(3)).unwrap();
    let mut config = nb_config(&cluster.remotes());
    // Long enough that only the _Server.Database watch can move the client.
    config.probe_interval = Duration::from_secs(60);
    let client = Client::connect(config).await.unwrap();
    let old = blocking(|| cluster.leader()).unwrap();
    assert_eq!(
        client.current_remote().unwrap().to_string(),
        cluster.member_remote(old)
    );

    // Freeze the leader until the others elect a new one, then let it run: it
    // learns of the higher term and steps down.
    let pid = cluster.member(old).pid;
    kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
    let resume = Continue(pid);
    let new = blocking(|| {
        wait_for("a new leader", Duration::from_secs(30), || {
            new_leader(&cluster, old)
        })
    })
    .unwrap();
    drop(resume);
    let deposed = Instant::now();
    blocking(|| {
        wait_for(
            "the client to move to the new leader",
            Duration::from_secs(30),
            || {
                let here = client.current_remote().map(|r| r.to_string());
                Ok(
                    (client.is_connected() && here == Some(cluster.member_remote(new)))
                        .then_some(()),
                )
            },
        )
    })
    .unwrap();
    eprintln!(
        "moved to the new leader {:?} after the old one resumed",
        deposed.elapsed()
    );
    assert!(client.reconnects() >= 1);
    let sw = add_switch(&client, "after-election").await;
    assert!(client.read(|c| c.contains(LS, &sw)));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_while_the_leader_is_dead_finds_the_new_leader() {
    let mut cluster = blocking(|| RaftNb::start(3)).unwrap();
    let old = blocking(|| cluster.leader()).unwrap();
    blocking(|| cluster.kill(old));
    // The dead leader is listed first; the others have not elected yet.
    let order: Vec<usize> = (0..3).map(|k| (old + k) % 3).collect();
    let remotes = order
        .iter()
        .map(|&i| cluster.member_remote(i))
        .collect::<Vec<_>>()
        .join(",");
    let mut config = nb_config(&remotes);
    config.connect_timeout = Duration::from_secs(20);
    let started = Instant::now();
    let client = Client::connect(config).await.unwrap();
    eprintln!(
        "connected to the new leader {:?} after the old one died",
        started.elapsed()
    );
    let new = blocking(|| cluster.leader()).unwrap();
    assert_ne!(new, old);
    assert_eq!(
        client.current_remote().unwrap().to_string(),
        cluster.member_remote(new)
    );
    let sw = add_switch(&client, "new-term").await;
    assert!(client.read(|c| c.contains(LS, &sw)));
    client.close().await;
}
