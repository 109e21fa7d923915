//! Tests of the state store: round trips through a reopen, crash leftovers,
//! corrupt and newer files, and two stores on one dir.

use std::net::Ipv4Addr;
use std::time::{Duration, UNIX_EPOCH};

use mesos_proto::v1::{AgentId, TaskState};

use super::*;

fn record(id: &str, ip: u8) -> TaskRecord {
    TaskRecord {
        task_id: TaskId::from(id),
        service: "coke-web".into(),
        tenant: "coke".into(),
        switch: "coke1".into(),
        definition: "apachecoke".into(),
        hostname: None,
        agent_id: Some(AgentId::from("agent-1")),
        port: PortRecord {
            name: id.into(),
            ip: Ipv4Addr::new(192, 168, 1, ip),
            mac: format!("0a:58:c0:a8:01:{ip:02x}").parse().unwrap(),
        },
        state: TaskState::TaskStaging,
        launched_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        attempts: 1,
        healthy: None,
        version: None,
    }
}

#[test]
fn the_framework_id_and_tasks_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    assert!(store.framework_id().is_none());
    store.set_framework_id(&FrameworkId::from("fw-1")).unwrap();
    store.put_task(record("a.1", 2)).unwrap();
    store.put_task(record("b/1", 3)).unwrap();
    let mut running = record("a.1", 2);
    running.state = TaskState::TaskRunning;
    store.put_task(running.clone()).unwrap();
    drop(store);

    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.framework_id().map(|f| f.as_str()), Some("fw-1"));
    let ids: Vec<_> = store.tasks().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["a.1", "b/1"]);
    assert_eq!(store.task(&TaskId::from("a.1")), Some(&running));
}

#[test]
fn a_removed_task_stays_removed_and_the_id_can_be_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.set_framework_id(&FrameworkId::from("fw-1")).unwrap();
    store.put_task(record("a", 2)).unwrap();
    assert_eq!(
        store.remove_task(&TaskId::from("a")).unwrap(),
        Some(record("a", 2))
    );
    assert_eq!(store.remove_task(&TaskId::from("a")).unwrap(), None);
    store.clear_framework_id().unwrap();
    drop(store);
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.tasks().len(), 0);
    assert!(store.framework_id().is_none());
}

#[test]
fn a_crash_before_the_rename_keeps_the_old_record_and_the_leftover_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.put_task(record("a", 2)).unwrap();
    drop(store);
    // What a crash between write and rename leaves: a half temp file.
    let tasks = dir.path().join(TASKS_DIR);
    let leftover = tasks.join(".tmp.a.json.0123456789abcdef");
    fs::write(&leftover, b"{\"version\": 1, \"task\": {\"task_id\"").unwrap();
    fs::write(dir.path().join(".tmp.framework.json.00"), b"{").unwrap();

    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.task(&TaskId::from("a")), Some(&record("a", 2)));
    assert!(
        !leftover.exists(),
        "the temp file should be removed at open"
    );
    assert!(!dir.path().join(".tmp.framework.json.00").exists());
}

#[test]
fn a_corrupt_task_file_is_an_error_naming_it_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    drop(StateStore::open(dir.path()).unwrap());
    let path = dir.path().join(TASKS_DIR).join("x.json");
    fs::write(&path, b"{\"version\": 1, \"task\": 7}").unwrap();
    let err = StateStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), b"{\"version\": 1, \"task\": 7}");
}

#[test]
fn a_corrupt_framework_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(FRAMEWORK_FILE), b"not json").unwrap();
    let err = StateStore::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "state file {} is corrupt: ",
            dir.path().join(FRAMEWORK_FILE).display()
        )),
        "{err}"
    );
}

#[test]
fn a_record_under_another_tasks_name_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.put_task(record("a", 2)).unwrap();
    drop(store);
    let tasks = dir.path().join(TASKS_DIR);
    fs::rename(tasks.join("a.json"), tasks.join("b.json")).unwrap();
    let err = StateStore::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("holds task a, expected in a.json"),
        "{err}"
    );
}

#[test]
fn a_newer_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(FRAMEWORK_FILE),
        b"{\"version\": 2, \"framework_id\": \"x\"}",
    )
    .unwrap();
    let err = StateStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StateError::UnsupportedVersion { found: 2, .. }),
        "{err}"
    );
}

#[test]
fn a_second_store_on_the_same_dir_is_refused_with_the_holder_pid() {
    let dir = tempfile::tempdir().unwrap();
    let first = StateStore::open(dir.path()).unwrap();
    let err = StateStore::open(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "state dir {} is in use by another ovn-mesos process (pid {})",
            dir.path().display(),
            std::process::id()
        )
    );
    drop(first);
    StateStore::open(dir.path()).expect("free again once the first store is gone");
}

#[test]
fn an_unchanged_record_is_not_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.put_task(record("a", 2)).unwrap();
    let path = dir.path().join(TASKS_DIR).join("a.json");
    fs::write(&path, b"{\"version\": 1, \"marker\": true}").unwrap();
    store.put_task(record("a", 2)).unwrap();
    assert_eq!(
        fs::read(&path).unwrap(),
        b"{\"version\": 1, \"marker\": true}"
    );
}

#[test]
fn queued_records_are_on_disk_after_a_flush_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    for i in 0..50u8 {
        store.queue_task(record(&format!("t.{i}"), i + 2)).unwrap();
    }
    let mut running = record("t.7", 9);
    running.state = TaskState::TaskRunning;
    store.queue_task(running.clone()).unwrap();
    // Written then removed in one burst: never on disk.
    store.queue_task(record("brief", 99)).unwrap();
    store.queue_removal(&TaskId::from("brief")).unwrap();
    store.queue_removal(&TaskId::from("t.0")).unwrap();
    assert_eq!(store.tasks().len(), 49);
    store.flush().unwrap();
    let names = fs::read_dir(dir.path().join(TASKS_DIR)).unwrap().count();
    assert_eq!(names, 49, "t.1 to t.49, no temporaries");
    drop(store);
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.tasks().len(), 49);
    assert_eq!(store.task(&TaskId::from("t.7")), Some(&running));
    assert!(store.task(&TaskId::from("brief")).is_none());
    assert!(store.task(&TaskId::from("t.0")).is_none());
}

#[test]
fn dropping_the_store_writes_what_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.queue_task(record("late", 5)).unwrap();
    drop(store);
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.task(&TaskId::from("late")), Some(&record("late", 5)));
}

#[test]
fn a_queued_record_that_cannot_be_written_is_reported_by_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    // A directory where the record's file goes: the rename fails.
    let blocked = dir.path().join(TASKS_DIR).join("blocked.json");
    fs::create_dir(&blocked).unwrap();
    fs::write(blocked.join("x"), b"x").unwrap();
    store.queue_task(record("blocked", 3)).unwrap();
    store.queue_task(record("fine", 4)).unwrap();
    let err = store.flush().unwrap_err().to_string();
    assert!(err.contains("blocked.json"), "{err}");
    assert!(dir.path().join(TASKS_DIR).join("fine.json").is_file());
    store.flush().expect("the failure is reported once");
}

#[test]
fn a_direct_write_after_queued_ones_keeps_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.queue_task(record("a", 2)).unwrap();
    store.remove_task(&TaskId::from("a")).unwrap();
    store.flush().unwrap();
    assert!(!dir.path().join(TASKS_DIR).join("a.json").exists());
}

/// The nice values of this process's `state-writer` threads.
fn writer_nice_values() -> Vec<(i32, i32)> {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|tid| {
            fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
                .is_ok_and(|comm| comm.trim() == "state-writer")
        })
        .filter_map(|tid| Some((tid, crate::cpu::nice_of_thread(tid).ok()?)))
        .collect()
}

#[test]
fn the_writer_thread_runs_below_the_event_loops_priority() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.queue_task(record("t.1", 2)).unwrap();
    // The thread lowered its priority before it took the first change.
    store.flush().unwrap();
    let mine = crate::cpu::nice_of_thread(nix::unistd::gettid().as_raw()).unwrap();
    let floor = crate::cpu::BACKGROUND_NICE.max(mine);
    // Other tests in this process may have just started writers of their
    // own that have not lowered themselves yet.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let writers = writer_nice_values();
        assert!(!writers.is_empty(), "no state-writer thread");
        if writers.iter().all(|(_, nice)| *nice >= floor) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "state-writer threads (tid, nice) {writers:?} not at nice {floor} or lower priority"
        );
        std::thread::yield_now();
    }
    drop(store);
}
