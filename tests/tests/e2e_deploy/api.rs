//! The API calls and waits the lab's deployment and fabric tests share:
//! definitions applied, scaled and read through `mesos-master`'s curl,
//! the shipped task files, and polls with deadlines.

use std::time::Duration;

use anyhow::{bail, Context};
use ovn_mesos::api::{DefinitionView, DeploymentView, TaskView};
use ovn_mesos_tests::lab::{Host, Lab};
use ovn_mesos_tests::wait_for;
use serde::Deserialize;
use serde_json::Value;

use super::framework::{api_get, tasks, tasks_dir, wait_subscribed, Framework, API};

/// How long a deployment, a scale or a delete may take to settle.
pub const SETTLE: Duration = Duration::from_secs(90);

/// What the tests here allow in the daemons' logs. Their deployments kill
/// many tasks at once while six other labs share the cores; the executor
/// deletes a task's OVS port and waits for ovs-vswitchd to apply it
/// (`cur_cfg`) before it deletes the veth, yet under that load
/// ovs-vswitchd's userspace datapath was seen reading the veth once more
/// (`dpif_netdev|ERR|error receiving data from ovnm...: Network is down`).
/// No request failed with it; the line is allowed here, and only it.
pub const DATAPATH_RACE: &[&str] = &["dpif_netdev|ERR|error receiving data from ovnm"];

/// An API call from inside `mesos-master`: (HTTP status, body).
pub fn call(lab: &Lab, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
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

pub fn definitions(lab: &Lab) -> anyhow::Result<Vec<DefinitionView>> {
    let body = api_get(lab, "/v1/definitions")?;
    Ok(serde_json::from_str::<Definitions>(&body)
        .with_context(|| format!("bad /v1/definitions: {body}"))?
        .definitions)
}

pub fn deployments(lab: &Lab) -> anyhow::Result<Vec<DeploymentView>> {
    let body = api_get(lab, "/v1/deployments")?;
    Ok(serde_json::from_str::<Deployments>(&body)
        .with_context(|| format!("bad /v1/deployments: {body}"))?
        .deployments)
}

/// A shipped task file's JSON.
pub fn shipped(name: &str) -> Value {
    let text = std::fs::read_to_string(tasks_dir().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The same definition with `marker` run first in its command (a new version).
pub fn with_marker(mut file: Value, marker: &str) -> Value {
    let command = file["command"]["value"].as_str().unwrap().to_owned();
    file["command"]["value"] = format!(": {marker}; {command}").into();
    file
}

/// POST /v1/definitions; the answer's `result`.
pub fn apply(lab: &Lab, file: &Value) -> String {
    let (code, body) = call(lab, "POST", "/v1/definitions", Some(&file.to_string()));
    assert!(code == 200 || code == 201, "apply answered {code}: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    answer["result"].as_str().unwrap().to_owned()
}

pub fn scale(lab: &Lab, id: &str, n: u32) {
    let body = format!(r#"{{"instances":{n}}}"#);
    let (code, answer) = call(
        lab,
        "PUT",
        &format!("/v1/definitions/{id}/instances"),
        Some(&body),
    );
    assert_eq!(code, 200, "scale answered {answer}");
}

/// `GET /v1/definitions/{id}`.
pub fn definition(lab: &Lab, id: &str) -> anyhow::Result<DefinitionView> {
    let body = api_get(lab, &format!("/v1/definitions/{id}"))?;
    serde_json::from_str(&body).with_context(|| format!("bad /v1/definitions/{id}: {body}"))
}

/// Polls `GET /v1/definitions/{id}` until `done` holds for it.
pub fn wait_definition(
    lab: &Lab,
    fw: &Framework,
    id: &str,
    what: &str,
    done: impl Fn(&DefinitionView) -> bool,
) -> DefinitionView {
    wait_for(what, SETTLE, || {
        if !fw.alive() {
            bail!("ovn-mesos run exited:\n{}", fw.log_tail(lab));
        }
        let d = definition(lab, id)?;
        if done(&d) {
            return Ok(Some(d));
        }
        bail!("not yet: {d:?}")
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", fw.log_tail(lab)))
}

/// A definition `id` of its own service (no VIP) running what nginxcoke
/// runs, with the task labels `labels`.
pub fn own_service(id: &str, labels: Value) -> Value {
    let mut file = shipped("nginxcoke");
    file["name"] = id.into();
    file["task_id"]["value"] = id.into();
    file.as_object_mut().unwrap().remove("discovery");
    file["labels"]["labels"] = labels;
    file
}

/// Polls until definition `id` has exactly `running` tasks, all in
/// TASK_RUNNING, and its `waiting` satisfies `waits`; returns its tasks
/// and the definition.
pub fn wait_placed(
    lab: &Lab,
    fw: &Framework,
    id: &str,
    running: usize,
    what: &str,
    waits: impl Fn(Option<&str>) -> bool,
) -> (Vec<TaskView>, DefinitionView) {
    wait_for(what, SETTLE, || {
        if !fw.alive() {
            bail!("ovn-mesos run exited:\n{}", fw.log_tail(lab));
        }
        let mine: Vec<TaskView> = tasks(lab)?
            .into_iter()
            .filter(|t| t.definition == id)
            .collect();
        let d = definition(lab, id)?;
        let states: Vec<&str> = mine.iter().map(|t| t.state.as_str()).collect();
        if mine.len() == running
            && mine.iter().all(|t| t.state == "TASK_RUNNING")
            && waits(d.waiting.as_deref())
        {
            return Ok(Some((mine, d)));
        }
        bail!("tasks {states:?}, waiting {:?}", d.waiting)
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", fw.log_tail(lab)))
}

/// SIGTERM (the tasks stay with Mesos), then `run` again with the same
/// state dir and `--tasks`; returns once it is subscribed.
pub fn restart(lab: &mut Lab, fw: &mut Framework) {
    fw.stop();
    fw.restart(lab);
    wait_subscribed(lab, fw);
}
