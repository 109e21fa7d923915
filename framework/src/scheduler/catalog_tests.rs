//! Unit tests of the catalog: API changes and the files-and-API rule.

use std::path::Path;

use serde_json::{json, Value};

use super::*;

fn body(id: &str, command: &str, instances: u32) -> Value {
    json!({
        "name": id,
        "task_id": {"value": id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}
        ],
        "command": {"value": command},
        "container": {"type": "MESOS", "network_infos": [
            {"labels": {"labels": [{"key": "logical_switch", "value": "coke1"}]}}
        ]},
        "labels": {"labels": [{"key": "ovn-mesos/instances", "value": instances.to_string()}]},
        "discovery": {"visibility": "EXTERNAL", "name": "web", "ports": {"ports": [{"number": 80, "protocol": "tcp"}]}}
    })
}

fn file(id: &str, command: &str, instances: u32) -> TaskDefinition {
    let path = format!("tasks/{id}.json");
    parse_task_value(Path::new(&path), body(id, command, instances))
        .unwrap()
        .0
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000)
}

type Stored = BTreeMap<TemplateId, StoredDefinition>;

fn commit(stored: &Stored, changes: &[Change]) -> Stored {
    after(stored, changes)
}

fn api_apply(stored: &Stored, b: &Value) -> (Stored, Outcome) {
    let change = apply(stored, b.to_string().as_bytes(), None, now()).unwrap();
    let outcome = change.outcome;
    (commit(stored, &[change]), outcome)
}

fn get<'a>(stored: &'a Stored, id: &str) -> &'a StoredDefinition {
    &stored[&TemplateId::new(id)]
}

#[test]
fn an_api_apply_creates_updates_scales_or_changes_nothing() {
    let s = Stored::new();
    let (s, o) = api_apply(&s, &body("web", "a", 2));
    assert_eq!(o, Outcome::Created);
    assert!(
        get(&s, "web").deployment.is_some(),
        "a new definition deploys"
    );
    let (s2, o) = api_apply(&s, &body("web", "a", 2));
    assert_eq!(o, Outcome::Unchanged);
    assert_eq!(s2, s);
    let (s3, o) = api_apply(&s, &body("web", "a", 5));
    assert_eq!(o, Outcome::Scaled);
    assert_eq!(get(&s3, "web").instances, 5);
    assert_eq!(
        get(&s3, "web").deployment,
        get(&s, "web").deployment,
        "a scale starts no deployment"
    );
    let (s4, o) = api_apply(&s3, &body("web", "b", 5));
    assert_eq!(o, Outcome::Updated);
    let d = get(&s4, "web").deployment.clone().unwrap();
    assert_eq!(
        d.from.as_deref(),
        Some(crate::tasks::version_of(&body("web", "a", 5)).as_str())
    );
    assert_eq!(get(&s4, "web").previous, Some(body("web", "a", 5)));
    assert_eq!(get(&s4, "web").source, Source::Api);
}

#[test]
fn the_version_ignores_the_instance_count_and_the_rollout_labels() {
    let a = body("web", "a", 2);
    let mut b = body("web", "a", 7);
    b["labels"]["labels"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "ovn-mesos/drain-seconds", "value": "1"}));
    assert_eq!(crate::tasks::version_of(&a), crate::tasks::version_of(&b));
    assert_ne!(
        crate::tasks::version_of(&a),
        crate::tasks::version_of(&body("web", "b", 2))
    );
}

#[test]
fn bad_bodies_are_one_line_naming_the_field() {
    let s = Stored::new();
    let e = apply(&s, b"{not json", None, now()).unwrap_err();
    assert!(e.to_string().starts_with("invalid JSON"), "{e}");
    let mut b = body("web", "a", 2);
    b["labels"]["labels"][0]["value"] = json!("lots");
    let e = apply(&s, b.to_string().as_bytes(), None, now()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("labels.labels[0]: ovn-mesos/instances"),
        "{e}"
    );
    assert!(!e.to_string().contains('\n'));
    let e = apply(
        &s,
        body("web", "a", 2).to_string().as_bytes(),
        Some("other"),
        now(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("the path names other"), "{e}");
    assert!(matches!(scale(&s, "nope", 2), Err(Refusal::Unknown(_))));
    assert!(matches!(delete(&s, "nope"), Err(Refusal::Unknown(_))));
}

#[test]
fn a_cancel_goes_back_to_the_replaced_definition() {
    let (s, _) = api_apply(&Stored::new(), &body("web", "a", 2));
    // no way back from a creation
    assert!(matches!(
        cancel(&s, "web", now()),
        Err(Refusal::Conflict(_))
    ));
    let (s, _) = api_apply(&s, &body("web", "b", 2));
    let (change, id) = cancel(&s, "web", now()).unwrap();
    assert!(id.starts_with("web@"));
    let s = commit(&s, &[change]);
    assert_eq!(get(&s, "web").body, body("web", "a", 2));
    assert!(get(&s, "web").previous.is_none());
    let d = get(&s, "web").deployment.clone().unwrap();
    assert_eq!(d.to, crate::tasks::version_of(&body("web", "a", 2)));
}

#[test]
fn an_unchanged_file_keeps_what_the_api_did() {
    let files = vec![file("web", "a", 2)];
    let s = commit(&Stored::new(), &apply_files(&Stored::new(), &files, now()));
    assert_eq!(get(&s, "web").source, Source::File);
    // scaled and updated through the API
    let s = commit(&s, &[scale(&s, "web", 6).unwrap()]);
    let (s, _) = api_apply(&s, &body("web", "b", 6));
    // a restart with the same file: nothing changes
    let changes = apply_files(&s, &files, now());
    assert!(
        changes.iter().all(|c| c.outcome == Outcome::Unchanged),
        "{changes:?}"
    );
    let again = commit(&s, &changes);
    assert_eq!(get(&again, "web").body, body("web", "b", 6));
    assert_eq!(get(&again, "web").instances, 6);
}

#[test]
fn an_edited_file_wins_but_keeps_an_api_scale_unless_its_count_changed() {
    let s0 = Stored::new();
    let s = commit(&s0, &apply_files(&s0, &[file("web", "a", 2)], now()));
    let s = commit(&s, &[scale(&s, "web", 6).unwrap()]);
    let edited = apply_files(&s, &[file("web", "b", 2)], now());
    assert_eq!(edited[0].outcome, Outcome::Updated);
    let s1 = commit(&s, &edited);
    assert_eq!(get(&s1, "web").instances, 6, "the API's scale survives");
    assert_eq!(get(&s1, "web").source, Source::File);
    let recount = apply_files(&s1, &[file("web", "b", 3)], now());
    let s2 = commit(&s1, &recount);
    assert_eq!(get(&s2, "web").instances, 3, "the file's new count wins");
}

#[test]
fn files_delete_what_they_made_but_not_what_the_api_made() {
    let s0 = Stored::new();
    let s = commit(
        &s0,
        &apply_files(&s0, &[file("web", "a", 2), file("db", "a", 1)], now()),
    );
    let (s, _) = api_apply(&s, &body("api-only", "a", 1));
    let changes = apply_files(&s, &[file("web", "a", 2)], now());
    let s = commit(&s, &changes);
    assert!(
        !s.contains_key(&TemplateId::new("db")),
        "the removed file's definition goes"
    );
    assert!(s.contains_key(&TemplateId::new("api-only")));
    assert!(s.contains_key(&TemplateId::new("web")));
}

#[test]
fn an_api_delete_of_a_file_definition_holds_until_the_file_changes() {
    let s0 = Stored::new();
    let files = vec![file("web", "a", 2)];
    let s = commit(&s0, &apply_files(&s0, &files, now()));
    let s = commit(&s, &[delete(&s, "web").unwrap()]);
    assert!(get(&s, "web").deleted);
    assert!(in_force(s.values(), |_| None).unwrap().is_empty());
    let s1 = commit(&s, &apply_files(&s, &files, now()));
    assert!(
        in_force(s1.values(), |_| None).unwrap().is_empty(),
        "the unchanged file stays deleted"
    );
    let s2 = commit(&s1, &apply_files(&s1, &[file("web", "c", 2)], now()));
    assert_eq!(
        in_force(s2.values(), |_| None).unwrap().len(),
        1,
        "the edited file comes back"
    );
    // the file gone too: the tombstone goes
    let s3 = commit(&s1, &apply_files(&s1, &[], now()));
    assert!(s3.is_empty());
}

#[test]
fn in_force_takes_a_known_definition_with_the_same_body_and_file_and_parses_the_others() {
    let s0 = Stored::new();
    let (s, _) = api_apply(&s0, &body("web", "a", 2));
    let (s, _) = api_apply(&s, &body("db", "b", 1));
    let parsed = in_force(s.values(), |_| None).unwrap();
    // A known definition marked so that taking it shows.
    let mut known: BTreeMap<TemplateId, TaskDefinition> = parsed
        .into_iter()
        .map(|mut d| {
            d.name = format!("known {}", d.name);
            (d.template(), d)
        })
        .collect();
    let s = commit(&s, &[scale(&s, "web", 5).unwrap()]);
    let (s, _) = api_apply(&s, &body("db", "changed", 1));
    let again = in_force(s.values(), |id| known.get(id)).unwrap();
    let web = again
        .iter()
        .find(|d| d.template() == TemplateId::new("web"))
        .unwrap();
    assert_eq!(
        web.name, "known web",
        "web's body is unchanged: taken as known"
    );
    assert_eq!(web.instances, 5, "with the stored instance count");
    let db = again
        .iter()
        .find(|d| d.template() == TemplateId::new("db"))
        .unwrap();
    assert_eq!(db.name, "db", "db's body changed: parsed again");
    assert_eq!(db.command.value.as_deref(), Some("changed"));
    // A known definition from another file is parsed again.
    for d in known.values_mut() {
        d.file = std::path::PathBuf::from("elsewhere.json");
    }
    let fresh = in_force(s.values(), |id| known.get(id)).unwrap();
    assert!(fresh.iter().all(|d| !d.name.starts_with("known")));
}
