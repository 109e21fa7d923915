//! Definitions changed at runtime through the API, in the three-host lab
//! with the framework running the shipped task files: while `outside`
//! curls coke-web's VIP every 50 ms, a rolling update of both of its
//! definitions (new commands), a scale from 2 to 6 to 1 instances and the
//! delete of one of its two definitions fail no request. Also: a
//! deployment whose new version never starts is stuck, keeps the old
//! version serving and is rolled back by applying the old definition; bad
//! bodies are refused with one line and change nothing; a framework
//! SIGKILLed in the middle of a deployment resumes it after its restart,
//! with no task doubled and no failed request.
//!
//! The files and the API across restarts and SIGHUP, with the framework
//! running coke-web's two task files from a directory of the lab's: a
//! scale through the API survives a restart; an edit of a file's command
//! is deployed (at start and on SIGHUP) while the API's count stays; a
//! change of the file's own count is taken; a definition deleted through
//! the API stays deleted while its file is unchanged. Placement
//! constraints on the lab's two agents: `hostname:UNIQUE` runs one
//! instance per agent and `hostname:MAX_PER:2` two, the others wait with
//! the constraint named in the definition's `waiting`. The event stream:
//! a rolling update's events in their order (the definition's change, the
//! deployment's start, the new task's states, its backend, the
//! deployment's end), and a client that stops reading while thousands of
//! events go by: the API and a reading client keep answering, the one
//! that stopped gets `dropped` and its stream ends.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovn_mesos::api::TaskView;
use ovn_mesos_tests::lab::{in_netns, Host, Lab};
use ovn_mesos_tests::wait_for;
use serde_json::{json, Value};

#[allow(dead_code)]
#[path = "e2e_deploy/api.rs"]
mod api;
#[allow(dead_code)]
#[path = "e2e_seed/framework.rs"]
mod framework;
#[allow(dead_code)]
#[path = "e2e_seed/probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "e2e_lab/support.rs"]
mod support;

use api::*;
use framework::*;
use probe::*;

/// Waits until coke-web has `n` backends, every one of the definitions'
/// current versions, nothing drains and no deployment is under way.
fn wait_settled(lab: &Lab, fw: &Framework, n: usize, what: &str) {
    wait_for(what, SETTLE, || {
        if !fw.alive() {
            bail!("ovn-mesos run exited:\n{}", fw.log_tail(lab));
        }
        let svc = service(lab, "coke", "coke-web")?;
        let defs = definitions(lab)?;
        let current = |t: &ovn_mesos::api::TaskView| {
            defs.iter()
                .any(|d| d.id == t.definition && Some(&d.version) == t.version.as_ref())
        };
        let settled = svc.backends.len() == n
            && svc.tasks.len() == n
            && svc.tasks.iter().all(|t| current(t) && !t.draining)
            && deployments(lab)?.is_empty();
        Ok(settled.then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", fw.log_tail(lab)));
}

/// Curls coke-web's VIP from `outside` every 50 ms while `work` runs (and
/// for 10 more answers); returns how many and every failure.
fn curling(outside: &str, work: impl FnOnce()) -> (usize, Vec<String>) {
    let answers = probe::curling(outside, COKE_VIP, 10, work);
    let failed = answers
        .iter()
        .filter_map(|a| match a {
            Ok(body) if body == "apache" || body == "nginx" => None,
            Ok(body) => Some(format!("answered {body:?}")),
            Err(e) => Some(e.clone()),
        })
        .collect();
    (answers.len(), failed)
}

#[test]
fn a_rolling_update_a_scale_and_a_delete_fail_no_curl_through_the_vip() {
    let mut lab = support::seeded();
    let fw = Framework::start(&mut lab);
    let outside = lab.netns(Host::Outside);
    wait_both_backends(&lab, COKE_VIP, READY);
    wait_settled(&lab, &fw, 2, "coke-web settled at start");

    // 1. a rolling update of both definitions
    let (n, failed) = curling(&outside, || {
        assert_eq!(
            apply(&lab, &with_marker(shipped("apachecoke"), "v2")),
            "updated"
        );
        assert_eq!(
            apply(&lab, &with_marker(shipped("nginxcoke"), "v2")),
            "updated"
        );
        wait_for("both deployments listed", READY, || {
            Ok((!deployments(&lab)?.is_empty()).then_some(()))
        })
        .ok();
        wait_settled(&lab, &fw, 2, "both definitions deployed at v2");
    });
    eprintln!(
        "{n} curls through the rolling update, {} failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {n} curls failed: {failed:?}",
        failed.len()
    );
    // the same body again changes nothing
    assert_eq!(
        apply(&lab, &with_marker(shipped("nginxcoke"), "v2")),
        "unchanged"
    );

    // 2. a scale from 2 to 6 to 1
    let (n, failed) = curling(&outside, || {
        scale(&lab, "apachecoke", 3);
        scale(&lab, "nginxcoke", 3);
        wait_settled(&lab, &fw, 6, "coke-web at 6 instances");
        scale(&lab, "apachecoke", 0);
        scale(&lab, "nginxcoke", 1);
        wait_settled(&lab, &fw, 1, "coke-web at 1 instance");
    });
    eprintln!(
        "{n} curls through the scale 2 -> 6 -> 1, {} failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {n} curls failed: {failed:?}",
        failed.len()
    );

    // 3. the delete of one of the two definitions
    scale(&lab, "apachecoke", 1);
    wait_settled(&lab, &fw, 2, "coke-web back at 2 instances");
    let (n, failed) = curling(&outside, || {
        let (code, body) = call(&lab, "DELETE", "/v1/definitions/nginxcoke", None);
        assert_eq!(code, 200, "{body}");
        wait_settled(&lab, &fw, 1, "coke-web with apache only");
    });
    eprintln!(
        "{n} curls through the delete of nginxcoke, {} failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {n} curls failed: {failed:?}",
        failed.len()
    );
    let svc = service(&lab, "coke", "coke-web").unwrap();
    assert!(
        svc.tasks.iter().all(|t| t.definition == "apachecoke"),
        "{svc:?}"
    );
    let vip = "10.10.1.12:32350";
    assert!(lab.nbctl(&["lb-list"]).unwrap().contains(vip));
    // Draining relies on OVN keeping a removed backend's conntrack
    // entries: no load balancer asks for them to be flushed.
    let options = lab
        .nbctl(&["--bare", "--columns=options", "list", "Load_Balancer"])
        .unwrap();
    assert!(!options.contains("ct_flush=true"), "{options}");

    // 4. the delete of the last one: the VIP goes with it, well before
    // the resync (60 s)
    let (code, body) = call(&lab, "DELETE", "/v1/definitions/apachecoke", None);
    assert_eq!(code, 200, "{body}");
    wait_for(
        "coke-web's VIP gone from the NB",
        Duration::from_secs(20),
        || {
            let lbs = lab.nbctl(&["lb-list"])?;
            Ok((!lbs.contains(vip)).then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", fw.log_tail(&lab)));
    lab.check_logs_allowing(DATAPATH_RACE).unwrap();
}

#[test]
fn a_stuck_deployment_keeps_the_old_version_serving_and_a_rollback_ends_it() {
    let mut lab = support::seeded();
    let fw = Framework::start(&mut lab);
    wait_both_backends(&lab, COKE_VIP, READY);
    wait_settled(&lab, &fw, 2, "coke-web settled at start");
    let good = shipped("nginxcoke");
    let mut broken = good.clone();
    broken["command"]["value"] = "echo broken >&2; exit 1".into();
    assert_eq!(apply(&lab, &broken), "updated");
    let stuck = wait_for("the deployment of nginxcoke to be stuck", SETTLE, || {
        Ok(deployments(&lab)?
            .into_iter()
            .find(|d| d.definition == "nginxcoke" && d.state == "stuck"))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", fw.log_tail(&lab)));
    eprintln!("stuck: {:?}", stuck.reason);
    assert!(
        stuck.reason.as_deref().unwrap().contains("failed"),
        "{stuck:?}"
    );
    assert_eq!(stuck.old_tasks, 1, "{stuck:?}");
    // the old version still serves
    let answers = wait_both_backends(&lab, COKE_VIP, READY);
    assert!(answers.iter().any(|a| a == "nginx"));
    // the definition shows it, and `ovn-mesos get deployments` too
    let def = definitions(&lab)
        .unwrap()
        .into_iter()
        .find(|d| d.id == "nginxcoke")
        .unwrap();
    assert_eq!(
        def.deployment.as_ref().map(|d| d.state.as_str()),
        Some("stuck")
    );
    let cli = ovn_mesos_tests::binaries::ovn_mesos_binary()
        .unwrap()
        .display()
        .to_string();
    let api = format!("http://{API}");
    let table = lab
        .exec(Host::Master, &[&cli, "get", "deployments", "--api", &api])
        .unwrap();
    eprintln!("{table}");
    assert!(table.starts_with("DEFINITION"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("nginxcoke") && l.contains("stuck")),
        "{table}"
    );
    // roll back: the old definition again
    assert_eq!(apply(&lab, &good), "updated");
    wait_settled(&lab, &fw, 2, "the rollback done");
    lab.check_logs_allowing(DATAPATH_RACE).unwrap();
}

#[test]
fn bad_bodies_are_refused_with_one_line_and_change_nothing() {
    let mut lab = support::seeded();
    let fw = Framework::start(&mut lab);
    wait_settled(&lab, &fw, 2, "coke-web settled at start");
    let before = definitions(&lab).unwrap();
    let mut unknown_network = shipped("nginxcoke");
    unknown_network["container"]["network_infos"][0]["labels"]["labels"][1]["value"] =
        "nowhere".into();
    let mut conflict = shipped("nginxcoke");
    conflict["task_id"]["value"] = "other".into();
    conflict["name"] = "other".into();
    conflict["discovery"]["ports"]["ports"][0]["labels"]["labels"][0]["value"] =
        "/coke-web:9999".into();
    let mut bad_label = shipped("nginxcoke");
    bad_label["labels"]["labels"][0]["value"] = "many".into();
    let cases: Vec<(&str, &str, Option<String>, u16, &str)> = vec![
        (
            "POST",
            "/v1/definitions",
            Some("{not json".into()),
            400,
            "invalid JSON",
        ),
        (
            "POST",
            "/v1/definitions",
            Some(unknown_network.to_string()),
            400,
            "logical_switch nowhere",
        ),
        (
            "POST",
            "/v1/definitions",
            Some(conflict.to_string()),
            409,
            "conflicts with",
        ),
        (
            "POST",
            "/v1/definitions",
            Some(bad_label.to_string()),
            400,
            "labels.labels[0]",
        ),
        (
            "PUT",
            "/v1/definitions/apachecoke",
            Some(shipped("nginxcoke").to_string()),
            400,
            "the path names apachecoke",
        ),
        (
            "PUT",
            "/v1/definitions/nginxcoke/instances",
            Some(r#"{"instances":-1}"#.into()),
            400,
            "instances",
        ),
        (
            "PUT",
            "/v1/definitions/nope/instances",
            Some(r#"{"instances":1}"#.into()),
            404,
            "no definition nope",
        ),
        (
            "DELETE",
            "/v1/definitions/nope",
            None,
            404,
            "no definition nope",
        ),
        (
            "DELETE",
            "/v1/deployments/nginxcoke",
            None,
            409,
            "no deployment",
        ),
    ];
    for (method, path, body, want, says) in cases {
        let (code, answer) = call(&lab, method, path, body.as_deref());
        assert_eq!(code, want, "{method} {path}: {answer}");
        let error: Value = serde_json::from_str(&answer).unwrap();
        let line = error["error"].as_str().unwrap();
        assert!(line.contains(says), "{method} {path}: {line}");
        assert!(!line.contains('\n'), "one line: {line}");
    }
    assert_eq!(definitions(&lab).unwrap(), before, "nothing changed");
}

#[test]
fn a_deployment_cut_by_sigkill_resumes_after_the_restart() {
    let mut lab = support::seeded();
    let mut fw = Framework::start(&mut lab);
    let outside = lab.netns(Host::Outside);
    wait_both_backends(&lab, COKE_VIP, READY);
    wait_settled(&lab, &fw, 2, "coke-web settled at start");
    let (n, failed) = curling(&outside, || {
        assert_eq!(
            apply(&lab, &with_marker(shipped("nginxcoke"), "v3")),
            "updated"
        );
        // killed once the new task is launched, before the old one went
        wait_for("a new nginxcoke task beside the old one", SETTLE, || {
            let svc = service(&lab, "coke", "coke-web")?;
            Ok((svc
                .tasks
                .iter()
                .filter(|t| t.definition == "nginxcoke")
                .count()
                == 2)
                .then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{}", fw.log_tail(&lab)));
        fw.kill();
        fw.restart(&mut lab);
        wait_settled(&lab, &fw, 2, "the deployment resumed and done");
    });
    eprintln!(
        "{n} curls through the deployment and the SIGKILL, {} failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {n} curls failed: {failed:?}",
        failed.len()
    );
    let svc = service(&lab, "coke", "coke-web").unwrap();
    assert_eq!(svc.tasks.len(), 2, "no task doubled: {svc:?}");
    lab.check_logs_allowing(DATAPATH_RACE).unwrap();
}

/// Writes `file` as the task file `<name>.json` of `dir`.
fn write_task_file(dir: &Path, name: &str, file: &Value) {
    let text = serde_json::to_string_pretty(file).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), text).unwrap();
}

/// The file with its own `ovn-mesos/instances` label set to `n`.
fn with_instances(mut file: Value, n: u32) -> Value {
    let labels = file["labels"]["labels"].as_array_mut().unwrap();
    let label = labels
        .iter_mut()
        .find(|l| l["key"] == "ovn-mesos/instances")
        .expect("the file has an instances label");
    label["value"] = n.to_string().into();
    file
}

/// The ids of coke-web's tasks of `definition`, sorted.
fn task_ids(lab: &Lab, definition: &str) -> Vec<String> {
    let svc = service(lab, "coke", "coke-web").unwrap();
    let mut ids: Vec<String> = svc
        .tasks
        .iter()
        .filter(|t| t.definition == definition)
        .map(|t| t.id.clone())
        .collect();
    ids.sort();
    ids
}

/// SIGHUP: the framework reads its task files again.
fn reload(fw: &Framework) {
    kill(Pid::from_raw(fw.pid), Signal::SIGHUP).expect("SIGHUP the framework");
}

#[test]
fn the_api_and_the_files_across_a_restart_follow_the_documented_rule() {
    let mut lab = support::seeded();
    // `--tasks` is a directory of the test's own: coke-web's two shipped files
    let dir = lab.dir().join("tasks");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["apachecoke.json", "nginxcoke.json"] {
        std::fs::copy(tasks_dir().join(name), dir.join(name)).unwrap();
    }
    let mut fw = Framework::start_with(&mut lab, &dir);
    wait_settled(&lab, &fw, 2, "coke-web settled at start");
    let start = definition(&lab, "nginxcoke").unwrap();
    assert_eq!((start.instances, start.source.as_str()), (1, "file"));

    // (a) a scale through the API, then a restart with the file unchanged:
    // the scale stands (rule 1), and the same tasks run on
    scale(&lab, "nginxcoke", 2);
    wait_settled(&lab, &fw, 3, "nginxcoke scaled to 2 through the API");
    let scaled = task_ids(&lab, "nginxcoke");
    restart(&mut lab, &mut fw);
    let d = wait_definition(
        &lab,
        &fw,
        "nginxcoke",
        "nginxcoke after the restart",
        |_| true,
    );
    assert_eq!(
        (d.instances, d.source.as_str(), d.version.as_str()),
        (2, "api", start.version.as_str()),
        "{d:?}"
    );
    wait_settled(&lab, &fw, 3, "coke-web after the restart");
    assert_eq!(task_ids(&lab, "nginxcoke"), scaled, "no task relaunched");

    // (b) the file's command edited, its count not: the edit is deployed,
    // the API's count stays (rule 2); at start ...
    let edited = with_marker(shipped("nginxcoke"), "edited-1");
    write_task_file(&dir, "nginxcoke", &edited);
    restart(&mut lab, &mut fw);
    let v1 = wait_definition(
        &lab,
        &fw,
        "nginxcoke",
        "nginxcoke at the edited file's version after the restart",
        |d| d.version != start.version,
    );
    assert_eq!((v1.instances, v1.source.as_str()), (2, "file"), "{v1:?}");
    wait_settled(&lab, &fw, 3, "the edit deployed with 2 instances");
    let deployed = task_ids(&lab, "nginxcoke");
    assert!(
        deployed.iter().all(|t| !scaled.contains(t)),
        "new tasks run the edit: {scaled:?} -> {deployed:?}"
    );
    // ... and on SIGHUP
    let edited = with_marker(shipped("nginxcoke"), "edited-2");
    write_task_file(&dir, "nginxcoke", &edited);
    reload(&fw);
    let v2 = wait_definition(
        &lab,
        &fw,
        "nginxcoke",
        "nginxcoke at the edited file's version after SIGHUP",
        |d| d.version != v1.version,
    );
    assert_eq!((v2.instances, v2.source.as_str()), (2, "file"), "{v2:?}");
    wait_settled(&lab, &fw, 3, "the second edit deployed with 2 instances");

    // (c) the file's own count changed: it is taken, with no new version
    let before = task_ids(&lab, "nginxcoke");
    write_task_file(&dir, "nginxcoke", &with_instances(edited, 3));
    reload(&fw);
    let v3 = wait_definition(
        &lab,
        &fw,
        "nginxcoke",
        "the file's count of 3 taken after SIGHUP",
        |d| d.instances == 3,
    );
    assert_eq!(v3.version, v2.version, "only the count changed: {v3:?}");
    wait_settled(&lab, &fw, 4, "nginxcoke at the file's 3 instances");
    let after = task_ids(&lab, "nginxcoke");
    assert!(
        before.iter().all(|t| after.contains(t)),
        "a scale keeps the tasks: {before:?} -> {after:?}"
    );

    // (d) a file's definition deleted through the API stays deleted across
    // a restart while its file is unchanged (rule 3)
    let (code, body) = call(&lab, "DELETE", "/v1/definitions/apachecoke", None);
    assert_eq!(code, 200, "{body}");
    wait_settled(&lab, &fw, 3, "coke-web without apachecoke");
    restart(&mut lab, &mut fw);
    // a snapshot that shows nginxcoke is the whole list after the start
    wait_definition(&lab, &fw, "nginxcoke", "nginxcoke after the restart", |d| {
        d.instances == 3
    });
    let ids: Vec<String> = definitions(&lab)
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, ["nginxcoke"], "apachecoke stays deleted");
    let (code, body) = call(&lab, "GET", "/v1/definitions/apachecoke", None);
    assert_eq!(code, 404, "{body}");
    wait_settled(&lab, &fw, 3, "coke-web after the restart, nginx only");
    assert!(task_ids(&lab, "apachecoke").is_empty());
    lab.check_logs_allowing(DATAPATH_RACE).unwrap();
}

/// [`own_service`] with `instances` and the placement `constraints`
/// (Marathon's JSON).
fn constrained(id: &str, instances: u32, constraints: &str) -> Value {
    own_service(
        id,
        json!([
            {"key": "ovn-mesos/instances", "value": instances.to_string()},
            {"key": "ovn-mesos/constraints", "value": constraints},
        ]),
    )
}

/// How many of `tasks` run on each agent, by hostname.
fn per_agent(tasks: &[TaskView]) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for t in tasks {
        *count.entry(host_of(t).name().to_owned()).or_insert(0) += 1;
    }
    count
}

#[test]
fn unique_and_max_per_on_the_two_agents_place_what_they_allow_and_say_why_the_rest_waits() {
    let mut lab = support::seeded();
    let fw = Framework::start(&mut lab);
    wait_subscribed(&lab, &fw);
    let both = |n: usize| {
        BTreeMap::from([
            (Host::Agent1.name().to_owned(), n),
            (Host::Agent2.name().to_owned(), n),
        ])
    };

    // UNIQUE hostname, 3 instances: one on each agent, the third waits
    let unique = constrained("unique", 3, r#"[["hostname","UNIQUE"]]"#);
    assert_eq!(apply(&lab, &unique), "created");
    // The API's view shows a change once it is answered
    let (code, answer) = call(&lab, "GET", "/v1/definitions/unique", None);
    assert_eq!(code, 200, "GET right after the apply: {answer}");
    let (placed, d) = wait_placed(
        &lab,
        &fw,
        "unique",
        2,
        "2 of unique's 3 instances running, the third waiting on hostname:UNIQUE",
        |w| w.is_some_and(|w| w.contains("hostname:UNIQUE")),
    );
    eprintln!("unique waits: {:?}", d.waiting);
    assert_eq!(per_agent(&placed), both(1), "{placed:?}");
    let why = d.waiting.unwrap();
    assert!(
        why.starts_with("1 of 3 instances wait: hostname:UNIQUE: mesos-agent")
            && why.ends_with("already runs a task of it"),
        "{why}"
    );

    // MAX_PER 2, 5 instances: two on each agent, the fifth waits
    let max_per = constrained("maxper", 5, r#"[["hostname","MAX_PER","2"]]"#);
    assert_eq!(apply(&lab, &max_per), "created");
    let (placed, d) = wait_placed(
        &lab,
        &fw,
        "maxper",
        4,
        "4 of maxper's 5 instances running, the fifth waiting on hostname:MAX_PER:2",
        |w| w.is_some_and(|w| w.contains("hostname:MAX_PER:2")),
    );
    eprintln!("maxper waits: {:?}", d.waiting);
    assert_eq!(per_agent(&placed), both(2), "{placed:?}");
    let why = d.waiting.unwrap();
    assert!(
        why.starts_with("1 of 5 instances wait: hostname:MAX_PER:2: mesos-agent")
            && why.ends_with("already has 2 tasks"),
        "{why}"
    );

    // Scaled to what the constraints allow, nothing waits any more
    scale(&lab, "unique", 2);
    scale(&lab, "maxper", 4);
    wait_placed(
        &lab,
        &fw,
        "unique",
        2,
        "unique at 2, nothing waiting",
        |w| w.is_none(),
    );
    wait_placed(
        &lab,
        &fw,
        "maxper",
        4,
        "maxper at 4, nothing waiting",
        |w| w.is_none(),
    );
    lab.check_logs_allowing(DATAPATH_RACE).unwrap();
}

/// A connection to `GET /v1/events` made inside `mesos-master`, where the
/// API listens, with a receive buffer of `receive_buffer` bytes if given
/// (set before the connection, so the window is small from the start and
/// Linux does not grow it). The request is HTTP/1.0, so the body is the
/// bare event stream, ended by the server closing the connection.
fn events_connection(lab: &Lab, receive_buffer: Option<u32>) -> TcpStream {
    let netns = lab.netns(Host::Master);
    let mut socket = in_netns(&netns, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        let socket = runtime.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            if let Some(size) = receive_buffer {
                socket.set_recv_buffer_size(size)?;
            }
            socket.connect(API.parse().unwrap()).await
        })?;
        let socket = socket.into_std()?;
        socket.set_nonblocking(false)?;
        std::io::Result::Ok(socket)
    })
    .expect("a thread in mesos-master")
    .expect("a connection to the API");
    socket
        .write_all(b"GET /v1/events HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    socket
}

/// Reads the response head of an event stream, then hands each event's
/// `data:` JSON to `sink` until the stream ends (`Ok`) or a read fails
/// (a read timeout too).
fn read_events(socket: &TcpStream, mut sink: impl FnMut(Value)) -> std::io::Result<()> {
    let mut reader = BufReader::new(socket);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.") || !line.contains(" 200 ") {
        return Err(std::io::Error::other(format!("GET /v1/events: {line}")));
    }
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line.trim_end().is_empty() {
            break;
        }
    }
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if let Some(data) = line.trim_end().strip_prefix("data:") {
            let event = serde_json::from_str(data.trim_start())
                .map_err(|e| std::io::Error::other(format!("{e}: {data}")))?;
            sink(event);
        }
    }
}

/// A client of the event stream that reads every event as it comes, on a
/// thread of its own.
struct Follower {
    seen: Arc<Mutex<Vec<Value>>>,
    ended: Arc<AtomicBool>,
    socket: TcpStream,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Follower {
    /// Connects, and returns once the stream's `attached` event came.
    fn connect(lab: &Lab) -> Follower {
        let follower = Follower::follow(events_connection(lab, None));
        follower.wait("the stream's attached event", READY, |seen| {
            seen.iter().any(|e| e["type"] == "attached").then_some(())
        });
        follower
    }

    /// Reads the stream of `socket` from now on.
    fn follow(socket: TcpStream) -> Follower {
        let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
        let ended: Arc<AtomicBool> = Arc::default();
        let reader = {
            let socket = socket.try_clone().unwrap();
            let (seen, ended) = (seen.clone(), ended.clone());
            std::thread::spawn(move || {
                if let Err(e) = read_events(&socket, |e| seen.lock().unwrap().push(e)) {
                    eprintln!("the event stream: {e}");
                }
                ended.store(true, Ordering::SeqCst);
            })
        };
        Follower {
            seen,
            ended,
            socket,
            reader: Some(reader),
        }
    }

    /// How many events came so far.
    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Polls the events seen until `cond` gives a value; fails at once
    /// when the stream ended.
    fn wait<T>(&self, what: &str, timeout: Duration, cond: impl Fn(&[Value]) -> Option<T>) -> T {
        let got = wait_for(what, timeout, || {
            let seen = self.seen.lock().unwrap();
            if let Some(v) = cond(&seen) {
                return Ok(Some(Ok(v)));
            }
            if self.ended.load(Ordering::SeqCst) {
                return Ok(Some(Err(seen.len())));
            }
            Ok(None)
        })
        .unwrap_or_else(|e| panic!("{e:#}"));
        got.unwrap_or_else(|n| {
            panic!("the event stream ended after {n} events, waiting for {what}")
        })
    }

    /// Polls until the server ended the stream; returns every event.
    fn wait_end(&self, what: &str, timeout: Duration) -> Vec<Value> {
        wait_for(what, timeout, || {
            let seen = self.seen.lock().unwrap();
            if self.ended.load(Ordering::SeqCst) {
                return Ok(Some(seen.clone()));
            }
            bail!("{} events so far", seen.len())
        })
        .unwrap_or_else(|e| panic!("{e:#}"))
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.socket.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The index of the first event matching `matches`, naming `what` (and
/// the events' types) when there is none.
fn position(events: &[Value], what: &str, matches: impl Fn(&Value) -> bool) -> usize {
    events.iter().position(matches).unwrap_or_else(|| {
        let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        panic!("no {what} among {types:?}")
    })
}

/// Applies of a new version sent while one client reads no more, two
/// events each: more than the stream's backlog of 4,096 events plus what
/// that client's connection holds (about 700 events here).
const FLOOD: usize = 3000;

#[test]
fn the_event_stream_keeps_its_order_and_drops_a_client_that_stopped_reading() {
    let mut lab = support::seeded();
    let fw = Framework::start(&mut lab);
    wait_settled(&lab, &fw, 2, "coke-web settled at start");
    let old = service(&lab, "coke", "coke-web")
        .unwrap()
        .tasks
        .iter()
        .find(|t| t.definition == "nginxcoke")
        .map(|t| (t.id.clone(), format!("{}:80", t.ip)))
        .unwrap();
    let events = Follower::connect(&lab);

    // 1. a rolling update of nginxcoke, in order
    let from = events.count();
    assert_eq!(
        apply(&lab, &with_marker(shipped("nginxcoke"), "v2")),
        "updated"
    );
    let seen = events.wait(
        "deployment_done of nginxcoke on the event stream",
        SETTLE,
        |seen| {
            seen[from..]
                .iter()
                .any(|e| e["type"] == "deployment_done" && e["definition"] == "nginxcoke")
                .then(|| seen[from..].to_vec())
        },
    );
    let types: Vec<&str> = seen.iter().filter_map(|e| e["type"].as_str()).collect();
    eprintln!("the rolling update's events: {types:?}");
    let changed = position(&seen, "definition_updated of nginxcoke", |e| {
        e["type"] == "definition_updated" && e["definition"] == "nginxcoke"
    });
    let version = seen[changed]["version"].as_str().unwrap().to_owned();
    assert_eq!(
        changed,
        position(&seen, "an event of nginxcoke", |e| e["definition"]
            == "nginxcoke"),
        "the definition's change comes first"
    );
    let started = position(&seen, "deployment_started of nginxcoke", |e| {
        e["type"] == "deployment_started" && e["definition"] == "nginxcoke"
    });
    assert!(changed < started, "{types:?}");
    assert_eq!(seen[started]["to"], version.as_str());
    // the new task: its states in their order, after the deployment's start
    let first = position(&seen, "a status_update of the new version", |e| {
        e["type"] == "status_update" && e["version"] == version.as_str()
    });
    assert!(started < first, "{types:?}");
    let task = seen[first]["task"].as_str().unwrap().to_owned();
    let ip = seen[first]["ip"].as_str().unwrap().to_owned();
    let states: Vec<(usize, &str)> = seen
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == "status_update" && e["task"] == task.as_str())
        .map(|(i, e)| (i, e["state"].as_str().unwrap()))
        .collect();
    eprintln!("{task}: {states:?}");
    let rank = |s: &str| match s {
        "TASK_STAGING" => 0,
        "TASK_STARTING" => 1,
        "TASK_RUNNING" => 2,
        other => panic!("{task} went {other} during its deployment: {states:?}"),
    };
    assert!(
        states.windows(2).all(|w| rank(w[0].1) < rank(w[1].1)),
        "{states:?}"
    );
    let running = states
        .iter()
        .find(|(_, s)| *s == "TASK_RUNNING")
        .unwrap_or_else(|| panic!("{task} never TASK_RUNNING: {states:?}"))
        .0;
    let healthy = position(&seen, "health_changed (healthy) of the new task", |e| {
        e["type"] == "health_changed" && e["task"] == task.as_str() && e["healthy"] == true
    });
    assert!(running < healthy, "{types:?}");
    // its backend before the deployment's end; the old task leaves the
    // VIP no earlier than the new one joins it
    let backend = format!("{ip}:80");
    let has = |e: &Value, b: &str| {
        e["type"] == "vip_backends"
            && e["service"] == "coke-web"
            && e["backends"]
                .as_array()
                .is_some_and(|all| all.iter().any(|x| x == b))
    };
    let added = position(&seen, &format!("vip_backends with {backend}"), |e| {
        has(e, &backend)
    });
    assert!(
        healthy < added,
        "a checked task joins when healthy: {types:?}"
    );
    let without_old = position(&seen, &format!("vip_backends without {}", old.1), |e| {
        e["type"] == "vip_backends" && e["service"] == "coke-web" && !has(e, &old.1)
    });
    assert!(added <= without_old, "{types:?}");
    let draining = position(&seen, "task_draining of the old task", |e| {
        e["type"] == "task_draining" && e["task"] == old.0.as_str()
    });
    let done = position(&seen, "deployment_done of nginxcoke", |e| {
        e["type"] == "deployment_done" && e["definition"] == "nginxcoke"
    });
    assert!(healthy < draining, "{types:?}");
    assert!(added < done && draining < done, "{types:?}");

    // 2. a client that stops reading while thousands of events go by. Its
    // connection is to hold a few hundred events, not thousands: a small
    // receive buffer, and a small MSS on the API's loopback route in
    // mesos-master (Linux sizes a send buffer by the peer's MSS, 64 KiB
    // on loopback, which would let the framework's side queue megabytes)
    let route = "ip route replace table local local 127.0.0.1 dev lo proto kernel \
                 scope host src 127.0.0.1 advmss 536";
    let route: Vec<&str> = route.split_whitespace().collect();
    lab.exec(Host::Master, &route).unwrap();
    let slow = events_connection(&lab, Some(4096));
    // the events: new versions of a definition no offer has room for
    // (cpus 100), so no task starts
    let idle = |marker: &str| {
        let labels = json!([{"key": "ovn-mesos/instances", "value": "1"}]);
        let mut file = with_marker(own_service("idle", labels), marker);
        file["resources"][0]["scalar"]["value"] = 100.into();
        file
    };
    for v in ["a", "b"] {
        std::fs::write(
            lab.dir().join(format!("idle-{v}.json")),
            idle(v).to_string(),
        )
        .unwrap();
    }
    let from = events.count();
    let url = format!("http://{API}/v1/definitions");
    let mut requests = String::new();
    for i in 0..FLOOD {
        let body = lab.dir().join(format!("idle-{}.json", ["a", "b"][i % 2]));
        writeln!(
            requests,
            "url = \"{url}\"\nheader = \"content-type: application/json\"\n\
             data-binary = \"@{}\"\noutput = \"/dev/null\"\n\
             write-out = \"%{{http_code}}\\n\"\nmax-time = 10\nnext",
            body.display()
        )
        .unwrap();
    }
    let config = lab.dir().join("updates.curl");
    std::fs::write(&config, requests).unwrap();
    let netns = lab.netns(Host::Master);
    let flood_started = Instant::now();
    let (out, polls, slowest) = std::thread::scope(|s| {
        let flood = s.spawn(|| {
            std::process::Command::new("ip")
                .args(["netns", "exec", &netns, "curl", "-sS", "-K"])
                .arg(&config)
                .output()
                .expect("curl runs")
        });
        // meanwhile the API answers, each time within curl's 2 s
        let (mut polls, mut slowest, mut failed) = (0, Duration::ZERO, Vec::new());
        while !flood.is_finished() {
            let t = Instant::now();
            if let Err(e) = api_get(&lab, "/v1/definitions") {
                failed.push(format!("{e:#}"));
            }
            slowest = slowest.max(t.elapsed());
            polls += 1;
            // the loop's own pace, not a wait for anything
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(failed.is_empty(), "GETs meanwhile failed: {failed:?}");
        (flood.join().unwrap(), polls, slowest)
    });
    let took = flood_started.elapsed();
    let codes = String::from_utf8_lossy(&out.stdout);
    let ok = codes.lines().filter(|l| *l == "200" || *l == "201").count();
    assert_eq!(
        ok,
        FLOOD,
        "every apply answered: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the reading client got every change, in order, and stays
    let of_idle = |seen: &[Value]| -> Vec<(String, String)> {
        seen.iter()
            .filter(|e| e["definition"] == "idle")
            .map(|e| (e["type"].to_string(), e["version"].to_string()))
            .collect()
    };
    let idle_events = events.wait(
        &format!("the reading client to see all {FLOOD} changes of idle"),
        Duration::from_secs(20),
        |seen| {
            let changes = seen[from..]
                .iter()
                .filter(|e| {
                    e["definition"] == "idle"
                        && (e["type"] == "definition_updated" || e["type"] == "definition_created")
                })
                .count();
            (changes == FLOOD).then(|| of_idle(&seen[from..]))
        },
    );
    eprintln!(
        "{FLOOD} applies ({} events) in {took:?}; {polls} GETs meanwhile, the slowest {slowest:?}",
        idle_events.len()
    );
    let versions: Vec<&str> = idle_events
        .iter()
        .filter(|(t, _)| t.contains("definition_"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        versions
            .iter()
            .enumerate()
            .all(|(i, v)| *v == versions[i % 2])
            && versions[0] != versions[1],
        "the versions alternate as they were sent"
    );
    let dropped = events
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "dropped")
        .count();
    assert_eq!(dropped, 0, "the reading client is not dropped");
    // the client that stopped reading reads again: what its connection
    // held, then `dropped`, then the end of the stream
    let slow = Follower::follow(slow);
    let got = slow.wait_end("the slow client's stream to end", Duration::from_secs(10));
    let last = got.last().expect("events for the slow client");
    eprintln!("the slow client got {} events, then {last}", got.len() - 1);
    assert_eq!(last["type"], "dropped", "{last}");
    assert!(last["missed"].as_u64().unwrap() > 0, "{last}");
    // before it, a prefix of the stream, in order
    let held = of_idle(&got);
    assert_eq!(held[..], idle_events[..held.len()]);
    lab.check_logs_allowing(DATAPATH_RACE).unwrap();
}
