//! The mesos-execute task files of the 2017 lab (kept unchanged in
//! `tests/fixtures/seed-tasks/`) decode as `mesos.v1.TaskInfo`: the OVN
//! logical switch label, resources, command and Docker image come through,
//! the unknown `roles` key is ignored, and the task survives JSON and
//! protobuf round trips.

use mesos_proto::v1::{container_info, image, value, TaskInfo};
use mesos_proto::{from_json_str, to_json, Encoding};
use prost::Message;
use serde_json::json;

/// What each seed file must decode to.
struct Expected {
    file: &'static str,
    name: &'static str,
    id: &'static str,
    switch: &'static str,
    command: &'static str,
    image: &'static str,
}

const SEED: [Expected; 4] = [
    Expected {
        file: "apachecoke",
        name: "task1",
        id: "1234",
        switch: "coke1",
        command: "/run-apache.sh",
        image: "fedora/apache",
    },
    Expected {
        file: "nginxcoke",
        name: "task2",
        id: "9234",
        switch: "coke1",
        command: "nginx -g 'daemon off;'",
        image: "nginx",
    },
    Expected {
        file: "apachepepsi",
        name: "task3",
        id: "4234",
        switch: "pepsi1",
        command: "/run-apache.sh",
        image: "fedora/apache",
    },
    Expected {
        file: "nginxpepsi",
        name: "task4",
        id: "5234",
        switch: "pepsi1",
        command: "nginx -g 'daemon off;'",
        image: "nginx",
    },
];

/// The lab's task files, kept in the repository as fixtures.
fn seed_path(file: &str) -> String {
    format!(
        "{}/../tests/fixtures/seed-tasks/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn label<'a>(task: &'a TaskInfo, key: &str) -> Option<&'a str> {
    task.container
        .as_ref()?
        .network_infos
        .first()?
        .labels
        .as_ref()?
        .labels
        .iter()
        .find(|label| label.key == key)?
        .value
        .as_deref()
}

fn check(task: &TaskInfo, expected: &Expected) {
    let file = expected.file;
    assert_eq!(task.name, expected.name, "{file}: name");
    assert_eq!(task.task_id.value, expected.id, "{file}: task id");
    assert_eq!(task.agent_id.value, "", "{file}: agent id is filled later");
    assert_eq!(
        label(task, "logical_switch"),
        Some(expected.switch),
        "{file}"
    );
    assert_eq!(label(task, "app"), Some("myapp"), "{file}");

    let container = task.container.as_ref().expect("container");
    assert_eq!(container.r#type(), container_info::Type::Mesos, "{file}");
    assert_eq!(container.network_infos[0].name.as_deref(), Some("ovn"));
    let image = container
        .mesos
        .as_ref()
        .and_then(|mesos| mesos.image.as_ref())
        .expect("mesos image");
    assert_eq!(image.r#type(), image::Type::Docker, "{file}");
    assert_eq!(
        image.docker.as_ref().map(|d| d.name.as_str()),
        Some(expected.image),
        "{file}"
    );

    let scalars: Vec<(&str, f64, value::Type)> = task
        .resources
        .iter()
        .map(|r| {
            let scalar = r.scalar.as_ref().expect("scalar").value;
            (r.name.as_str(), scalar, r.r#type())
        })
        .collect();
    assert_eq!(
        scalars,
        vec![
            ("cpus", 0.1, value::Type::Scalar),
            ("mem", 32.0, value::Type::Scalar)
        ],
        "{file}"
    );
    // `"roles": "*"` is not a field (the field is `role`): it is ignored,
    // leaving the proto2 default.
    assert!(task.resources.iter().all(|r| r.role.is_none()), "{file}");
    assert_eq!(task.resources[0].role(), "*");

    let command = task.command.as_ref().expect("command");
    assert_eq!(command.value.as_deref(), Some(expected.command), "{file}");
}

fn check_round_trips(task: &TaskInfo) {
    let json = to_json(task).expect("encode JSON");
    assert_eq!(json["container"]["type"], "MESOS");
    assert_eq!(
        json["container"]["network_infos"][0]["labels"]["labels"][1]["value"],
        json!(label(task, "logical_switch"))
    );
    assert!(json["resources"][0].get("roles").is_none());
    let again: TaskInfo = mesos_proto::from_json(&json).expect("decode JSON again");
    assert_eq!(&again, task);

    let bytes = Encoding::Protobuf.encode(task).expect("encode protobuf");
    assert_eq!(TaskInfo::decode(bytes.as_slice()).expect("decode"), *task);
}

#[test]
fn every_seed_task_file_decodes_as_a_task_info() {
    for expected in &SEED {
        let path = seed_path(expected.file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("seed task file {path} must be readable: {e}"));
        let task: TaskInfo =
            from_json_str(&text).unwrap_or_else(|e| panic!("{path} must decode as TaskInfo: {e}"));
        check(&task, expected);
        check_round_trips(&task);
    }
}
