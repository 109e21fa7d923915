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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use ovn_mesos::api::{DefinitionView, DeploymentView};
use ovn_mesos_tests::lab::{Host, Lab};
use ovn_mesos_tests::wait_for;
use serde::Deserialize;
use serde_json::Value;

#[allow(dead_code)]
#[path = "e2e_seed/framework.rs"]
mod framework;
#[allow(dead_code)]
#[path = "e2e_seed/probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "e2e_lab/support.rs"]
mod support;

use framework::*;
use probe::*;

/// How long a deployment, a scale or a delete may take to settle.
const SETTLE: Duration = Duration::from_secs(90);

/// An API call from inside `mesos-master`: (HTTP status, body).
fn call(lab: &Lab, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let url = format!("http://{API}{path}");
    let mut argv = vec![
        "curl",
        "-sS",
        "-m",
        "10",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        &url,
    ];
    if let Some(body) = body {
        argv.extend([
            "-H",
            "content-type: application/json",
            "--data-binary",
            body,
        ]);
    }
    let out = lab.exec(Host::Master, &argv).expect("curl runs");
    let (body, code) = out.trim_end().rsplit_once('\n').unwrap_or(("", out.trim()));
    (code.parse().unwrap_or(0), body.to_owned())
}

#[derive(Deserialize)]
struct Definitions {
    definitions: Vec<DefinitionView>,
}

#[derive(Deserialize)]
struct Deployments {
    deployments: Vec<DeploymentView>,
}

fn definitions(lab: &Lab) -> anyhow::Result<Vec<DefinitionView>> {
    let body = api_get(lab, "/v1/definitions")?;
    Ok(serde_json::from_str::<Definitions>(&body)
        .with_context(|| format!("bad /v1/definitions: {body}"))?
        .definitions)
}

fn deployments(lab: &Lab) -> anyhow::Result<Vec<DeploymentView>> {
    let body = api_get(lab, "/v1/deployments")?;
    Ok(serde_json::from_str::<Deployments>(&body)
        .with_context(|| format!("bad /v1/deployments: {body}"))?
        .deployments)
}

/// A shipped task file's JSON.
fn shipped(name: &str) -> Value {
    let text = std::fs::read_to_string(tasks_dir().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The same definition with `marker` run first in its command (a new version).
fn with_marker(mut file: Value, marker: &str) -> Value {
    let command = file["command"]["value"].as_str().unwrap().to_owned();
    file["command"]["value"] = format!(": {marker}; {command}").into();
    file
}

/// POST /v1/definitions; the answer's `result`.
fn apply(lab: &Lab, file: &Value) -> String {
    let (code, body) = call(lab, "POST", "/v1/definitions", Some(&file.to_string()));
    assert!(code == 200 || code == 201, "apply answered {code}: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    answer["result"].as_str().unwrap().to_owned()
}

fn scale(lab: &Lab, id: &str, n: u32) {
    let body = format!(r#"{{"instances":{n}}}"#);
    let (code, answer) = call(
        lab,
        "PUT",
        &format!("/v1/definitions/{id}/instances"),
        Some(&body),
    );
    assert_eq!(code, 200, "scale answered {answer}");
}

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

/// Curls coke-web's VIP from `outside` every 50 ms while `work` runs;
/// returns every failure.
fn curling(outside: &str, work: impl FnOnce()) -> (usize, Vec<String>) {
    let stop = AtomicBool::new(false);
    let answers: Mutex<Vec<Result<String, String>>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let out = std::process::Command::new("ip")
                    .args(["netns", "exec", outside, "curl", "-sS", "-m", "2"])
                    .arg(format!("http://{COKE_VIP}/"))
                    .output();
                let result = match out {
                    Ok(o) if o.status.success() => {
                        Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned())
                    }
                    Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
                    Err(e) => Err(e.to_string()),
                };
                answers.lock().unwrap().push(result);
                // the loop's own pace, not a wait for anything
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        // the curl loop ends also when this thread panics
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(&stop);
        work();
        let seen = answers.lock().unwrap().len();
        wait_for("10 more curls after the change settled", READY, || {
            Ok((answers.lock().unwrap().len() >= seen + 10).then_some(()))
        })
        .unwrap();
    });
    let answers = answers.into_inner().unwrap();
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
    lab.check_logs().unwrap();
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
    lab.check_logs().unwrap();
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
    lab.check_logs().unwrap();
}
