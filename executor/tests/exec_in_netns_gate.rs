//! The `exec-in-netns --gate` helper as the executor uses it: it runs the
//! command only after the go byte, and nothing at all when the gate closes
//! first (the launch was called off); an unknown program is exit 127.

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ovn-mesos-executor");

fn helper(marker: &std::path::Path) -> std::process::Child {
    Command::new(BIN)
        .args([
            "exec-in-netns",
            "--gate",
            "/proc/self/ns/net",
            "sh",
            "--",
            "sh",
            "-c",
        ])
        .arg(format!("touch {}", marker.display()))
        .stdin(Stdio::piped())
        .spawn()
        .expect("helper starts")
}

#[test]
fn the_command_runs_only_after_the_go_byte() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let mut child = helper(&marker);
    assert!(!marker.exists(), "nothing runs before the gate opens");
    child.stdin.take().unwrap().write_all(b"g").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(marker.exists());
}

#[test]
fn a_closed_gate_runs_nothing_and_exits_125() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let mut child = helper(&marker);
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(125));
    assert!(!marker.exists());
}

#[test]
fn an_unknown_program_exits_127_and_bad_usage_64() {
    let out = Command::new(BIN)
        .args([
            "exec-in-netns",
            "/proc/self/ns/net",
            "/no/such/program",
            "--",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot execute /no/such/program"));
    let usage = Command::new(BIN)
        .args(["exec-in-netns", "only-one"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(64));
}
