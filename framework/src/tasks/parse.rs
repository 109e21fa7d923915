//! One task file, bytes to [`TaskDefinition`]: Mesos JSON into a `TaskInfo`,
//! then the fields ovn-mesos uses checked in order; the first problem
//! refuses the file.

use std::path::Path;

use mesos_proto::health::HealthSpec;
use mesos_proto::v1::{AgentId, TaskId, TaskInfo};
use serde_json::Value;

use super::{fields, ignored, Problem, TaskDefinition, Warning};
use ovn::report::Chain;

/// Parses one task file's contents. Pure: the switch is only named here;
/// [`super::Services::resolve`] finds its tenant.
pub fn parse_task_file(
    file: &Path,
    bytes: &[u8],
) -> Result<(TaskDefinition, Vec<Warning>), Problem> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Problem::file(file, format!("invalid JSON: {e}")))?;
    parse_task_value(file, value)
}

/// Parses one task file's JSON (see [`parse_task_file`]).
pub fn parse_task_value(
    file: &Path,
    value: Value,
) -> Result<(TaskDefinition, Vec<Warning>), Problem> {
    let version = super::version_of(&value);
    let body = std::sync::Arc::new(value.clone());
    if !value.is_object() {
        return Err(Problem::file(
            file,
            "not a JSON object (a task file holds one Mesos TaskInfo)",
        ));
    }
    let mut warnings = ignored::unknown_keys(file, &value);
    let mut task: TaskInfo = mesos_proto::from_json_value(value).map_err(|e| {
        let reason = match &e {
            mesos_proto::JsonError::Mismatch { source, .. } => source.to_string(),
            other => Chain(other).to_string(),
        };
        Problem::file(file, format!("not a Mesos TaskInfo: {reason}"))
    })?;
    warnings.extend(ignored::unused_fields(file, &task));

    let name = task.name.clone();
    check_name(file, "name", "task name", &name)?;
    let id = if task.task_id.value.is_empty() {
        name.clone()
    } else {
        task.task_id.value.clone()
    };
    check_name(file, "task_id.value", "task id", &id)?;
    let resources = fields::resources(file, &task.resources, &mut warnings)?;
    let command = fields::command(file, &task)?;
    let switch = fields::switch(file, &task)?;
    let labels = fields::labels(file, &task)?;
    let discovered = fields::discovery(file, task.discovery.as_ref())?;
    if let Some(check) = &task.health_check {
        HealthSpec::from_proto(check)
            .map_err(|e| Problem::field(file, format!("health_check.{}", e.field), e.reason))?;
    }

    let discovery_name = task
        .discovery
        .as_ref()
        .and_then(|d| d.name.clone())
        .filter(|n| !n.is_empty());
    if let Some(named) = &discovery_name {
        check_name(file, "discovery.name", "service name", named)?;
    }
    let service = match (&discovery_name, &discovered.vip_service) {
        (Some(named), Some(vip)) if named != vip => {
            return Err(Problem::field(
                file,
                "discovery.ports",
                format!("the VIP names service {vip} but discovery.name is {named}"),
            ))
        }
        (Some(named), _) => named.clone(),
        (None, Some(vip)) => vip.clone(),
        (None, None) => name.clone(),
    };
    check_name(file, "discovery.name", "service name", &service)?;

    task.agent_id = AgentId::default();
    task.task_id = TaskId::new(id.clone());
    let definition = TaskDefinition {
        file: file.to_owned(),
        task_info: task,
        name,
        task_id: TaskId::new(id),
        switch,
        service,
        vip: discovered.vip,
        backend_port: discovered.backend_port,
        instances: labels.instances,
        restart: labels.restart,
        ovn_health_check: labels.ovn_health_check,
        resources,
        command,
        rollout: labels.rollout,
        constraints: labels.constraints,
        allow_from: labels.allow_from,
        body,
        version,
    };
    Ok((definition, warnings))
}

fn check_name(file: &Path, field: &str, what: &'static str, name: &str) -> Result<(), Problem> {
    ovn::topology::validate::check_name(what, name)
        .map_err(|e| Problem::field(file, field, e.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tasks::RestartMode;

    fn good() -> Value {
        json!({
            "name": "web-a",
            "task_id": {"value": "web-a"},
            "agent_id": {"value": ""},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}
            ],
            "command": {"value": "exec true"},
            "container": {"type": "MESOS", "network_infos": [
                {"name": "ovn", "labels": {"labels": [{"key": "logical_switch", "value": "coke1"}]}}
            ]},
            "labels": {"labels": [
                {"key": "ovn-mesos/instances", "value": "3"},
                {"key": "ovn-mesos/restart", "value": "on-failure"}
            ]},
            "discovery": {"visibility": "EXTERNAL", "name": "web", "ports": {"ports": [
                {"number": 80, "protocol": "tcp", "labels": {"labels": [{"key": "VIP_0", "value": "/web:8080"}]}}
            ]}}
        })
    }

    fn parse(value: &Value) -> Result<(TaskDefinition, Vec<Warning>), Problem> {
        parse_task_file(Path::new("t.json"), value.to_string().as_bytes())
    }

    type Edit = Box<dyn FnOnce(&mut Value)>;

    fn refusal(edit: impl FnOnce(&mut Value)) -> String {
        let mut value = good();
        edit(&mut value);
        parse(&value)
            .expect_err("the file should be refused")
            .to_string()
    }

    #[test]
    fn a_full_file_gives_every_field() {
        let (d, warnings) = parse(&good()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            (
                d.name.as_str(),
                d.task_id.as_str(),
                d.switch.as_str(),
                d.service.as_str()
            ),
            ("web-a", "web-a", "coke1", "web")
        );
        let vip = d.vip.unwrap();
        assert_eq!((vip.port, vip.address), (8080, None));
        assert_eq!(d.backend_port, Some(80));
        assert_eq!(d.instances, 3);
        assert_eq!(d.restart.mode, RestartMode::OnFailure);
        assert_eq!((d.resources.cpus, d.resources.mem), (0.5, 64.0));
        assert_eq!(d.command.value.as_deref(), Some("exec true"));
        assert!(d.ovn_health_check, "OVN health checks are on by default");
    }

    #[test]
    fn the_allow_from_label_is_a_policy_and_a_bad_entry_is_named() {
        let mut v = good();
        let labels = v["labels"]["labels"].as_array_mut().unwrap();
        labels.push(json!({"key": "ovn-mesos/allow-from", "value": "api, external,10.10.1.0/24"}));
        let policy = parse(&v).unwrap().0.allow_from.unwrap();
        assert_eq!(policy.to_string(), "api,external,10.10.1.0/24");
        let labels = v["labels"]["labels"].as_array_mut().unwrap();
        labels.last_mut().unwrap()["value"] = json!("api,10.10.1.0/33");
        let e = parse(&v).unwrap_err().to_string();
        assert!(
            e.contains("ovn-mesos/allow-from") && e.contains("10.10.1.0/33"),
            "{e}"
        );
        assert_eq!(parse(&good()).unwrap().0.allow_from, None);
    }

    #[test]
    fn the_ovn_health_check_label_turns_them_off() {
        let mut v = good();
        v["labels"]["labels"]
            .as_array_mut()
            .unwrap()
            .push(json!({"key": "ovn-mesos/ovn-health-check", "value": "false"}));
        assert!(!parse(&v).unwrap().0.ovn_health_check);
    }

    #[test]
    fn an_empty_task_id_falls_back_to_the_name() {
        let mut v = good();
        v["task_id"] = json!({"value": ""});
        assert_eq!(parse(&v).unwrap().0.task_info.task_id.value, "web-a");
    }

    #[test]
    fn the_vip_name_is_the_service_when_discovery_has_no_name() {
        let mut v = good();
        v["discovery"]["name"] = Value::Null;
        v["discovery"].as_object_mut().unwrap().remove("name");
        assert_eq!(parse(&v).unwrap().0.service, "web");
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err = parse_task_file(Path::new("t.json"), b"{\n  \"name\": ,\n}").unwrap_err();
        assert!(
            err.to_string().starts_with("t.json: invalid JSON: "),
            "{err}"
        );
        assert!(err.to_string().contains("line 2 column"), "{err}");
    }

    #[test]
    fn each_bad_field_is_one_line_naming_the_field() {
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|v| v["name"] = json!("a b")), "t.json: name: "),
            (Box::new(|v| v["task_id"]["value"] = json!("x/y")), "t.json: task_id.value: "),
            (Box::new(|v| v["resources"][0]["scalar"]["value"] = json!(0)),
             "t.json: resources[0].scalar.value: cpus must be more than 0, found 0"),
            (Box::new(|v| { v["resources"].as_array_mut().unwrap().remove(1); }),
             "t.json: resources: no mem resource (a task needs mem > 0)"),
            (Box::new(|v| { v.as_object_mut().unwrap().remove("command"); }),
             "t.json: command: missing"),
            (Box::new(|v| v["command"]["value"] = json!(" ")), "t.json: command.value: empty"),
            (Box::new(|v| v["container"]["network_infos"][0]["labels"]["labels"] = json!([])),
             "t.json: container.network_infos[0].labels: no logical_switch label"),
            (Box::new(|v| { v["container"].as_object_mut().unwrap().remove("network_infos"); }),
             "t.json: container.network_infos: missing"),
            (Box::new(|v| v["labels"]["labels"][0]["value"] = json!("1001")),
             "t.json: labels.labels[0]: ovn-mesos/instances=\"1001\": not a whole number from 0 to 1000"),
            (Box::new(|v| v["labels"]["labels"][1]["value"] = json!("sometimes")),
             "t.json: labels.labels[1]: ovn-mesos/restart=\"sometimes\""),
            (Box::new(|v| v["labels"]["labels"][1] = json!({"key": "ovn-mesos/ovn-health-check", "value": "maybe"})),
             "t.json: labels.labels[1]: ovn-mesos/ovn-health-check=\"maybe\": not true or false"),
            (Box::new(|v| v["labels"]["labels"][1]["key"] = json!("ovn-mesos/instance")),
             "t.json: labels.labels[1]: unknown label ovn-mesos/instance"),
            (Box::new(|v| v["discovery"]["ports"]["ports"][0]["labels"]["labels"][0]["value"] = json!("/web:0")),
             "t.json: discovery.ports.ports[0].labels.labels[0]: VIP_0=\"/web:0\": \"0\" is not a port"),
            (Box::new(|v| v["discovery"]["ports"]["ports"][0]["labels"]["labels"][0]["value"] = json!("web")),
             "t.json: discovery.ports.ports[0].labels.labels[0]: VIP_0=\"web\": expected /<service>:<port>"),
            (Box::new(|v| v["discovery"]["ports"]["ports"][0]["labels"]["labels"][0]["value"] = json!("/other:80")),
             "t.json: discovery.ports: the VIP names service other but discovery.name is web"),
            (Box::new(|v| v["discovery"]["ports"]["ports"][0]["number"] = json!(70000)),
             "t.json: discovery.ports.ports[0].number: 70000 is not a port"),
            (Box::new(|v| v["discovery"]["name"] = json!("we b")), "t.json: discovery.name: "),
            (Box::new(|v| v["resources"][0]["type"] = json!("BOGUS")), "t.json: not a Mesos TaskInfo: "),
            (Box::new(|v| v["health_check"] = json!({"type": "HTTP", "http": {"port": 0}})),
             "t.json: health_check.http.port: must be 1-65535, not 0"),
            (Box::new(|v| v["health_check"] = json!({"type": "TCP", "tcp": {"port": 80}, "interval_seconds": -1})),
             "t.json: health_check.interval_seconds: must be a non-negative number of seconds, not -1"),
            (Box::new(|v| v["health_check"] = json!({"type": "UNKNOWN", "tcp": {"port": 80}})),
             "t.json: health_check.type: 0 is not a valid health check type"),
            (Box::new(|v| v["health_check"] = json!({"type": "COMMAND"})),
             "t.json: health_check.command: required for a COMMAND health check"),
        ];
        for (edit, expected) in cases {
            let line = refusal(edit);
            assert!(
                line.starts_with(expected),
                "{line:?} should start with {expected:?}"
            );
            assert!(!line.contains('\n'), "{line:?} is more than one line");
        }
    }

    #[test]
    fn a_second_vip_in_one_file_is_refused() {
        let line = refusal(|v| {
            v["discovery"]["ports"]["ports"]
                .as_array_mut()
                .unwrap()
                .push(json!({"number": 81, "labels": {"labels": [{"key": "VIP_1", "value": "/web:8081"}]}}));
        });
        assert!(line.contains("a second VIP (VIP_1 after VIP_0)"), "{line}");
    }

    #[test]
    fn a_non_object_is_refused() {
        let err = parse_task_file(Path::new("t.json"), b"[1]").unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
    }
}
