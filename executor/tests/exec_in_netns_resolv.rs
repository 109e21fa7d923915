//! `exec-in-netns --resolv-conf <file>`: the program reads `<file>` as its
//! `/etc/resolv.conf` while the host's stays as it was, and the bind mount
//! behind it ([`bind_onto`]) copes with a plain file, a symlink (also a
//! dangling one or a chain of relative ones) and a missing file. Needs root
//! (mount namespaces), as every test here.
//!
//! The mount tests make their mount namespace on a thread of their own
//! (`unshare(CLONE_NEWNS)` changes the calling thread only), which ends with
//! the thread: nothing they mount is ever seen outside it.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use ovn_mesos_executor::exec_in_netns::{bind_onto, own_mount_namespace, RESOLV_CONF};

const BIN: &str = env!("CARGO_BIN_EXE_ovn-mesos-executor");

/// What a path is, from the outside: its symlink target or its bytes.
fn snapshot(path: &Path) -> (Option<PathBuf>, Option<Vec<u8>>) {
    (fs::read_link(path).ok(), fs::read(path).ok())
}

/// Whether this process (the host's mount namespace) has a mount on `path`.
fn mounted_here(path: &Path) -> bool {
    let resolved = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| {
            let point = l.split(' ').nth(4).map(Path::new);
            point == Some(path) || point == Some(resolved.as_path())
        })
}

#[test]
fn the_program_reads_the_given_file_as_etc_resolv_conf_and_the_host_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("resolv.conf");
    fs::write(&ours, "search coke.ovn-mesos\nnameserver 10.0.0.2\n").unwrap();
    let host = snapshot(Path::new(RESOLV_CONF));
    let out = Command::new(BIN)
        .args(["exec-in-netns", "--resolv-conf"])
        .arg(&ours)
        .args(["/proc/self/ns/net", "cat", "--", "cat", RESOLV_CONF])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "search coke.ovn-mesos\nnameserver 10.0.0.2\n"
    );
    assert_eq!(snapshot(Path::new(RESOLV_CONF)), host, "the host's file");
    assert!(!mounted_here(Path::new(RESOLV_CONF)), "a mount leaked out");
}

#[test]
fn a_missing_file_fails_the_helper_with_one_line_naming_it() {
    let host = snapshot(Path::new(RESOLV_CONF));
    let out = Command::new(BIN)
        .args([
            "exec-in-netns",
            "--resolv-conf",
            "/nonexistent/resolv.conf",
            "/proc/self/ns/net",
            "true",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot bind-mount /nonexistent/resolv.conf onto /etc/resolv.conf"),
        "{stderr}"
    );
    assert_eq!(snapshot(Path::new(RESOLV_CONF)), host);
}

/// Runs `f` on a new thread inside a mount namespace of its own and
/// returns what it returns.
fn in_own_mount_namespace<T: Send + 'static>(
    ours: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let ours = ours.to_owned();
    std::thread::spawn(move || {
        own_mount_namespace(&ours).expect("a mount namespace of its own");
        f()
    })
    .join()
    .expect("the thread")
}

/// A directory with our file `ours` ("ours\n") and the host's `real`
/// ("theirs\n").
fn fixture() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours");
    let real = dir.path().join("real");
    fs::write(&ours, "ours\n").unwrap();
    fs::write(&real, "theirs\n").unwrap();
    (dir, ours, real)
}

#[test]
fn a_plain_file_is_covered_only_inside() {
    let (_dir, ours, real) = fixture();
    let (o, r) = (ours.clone(), real.clone());
    let inside = in_own_mount_namespace(&ours, move || {
        bind_onto(&o, &r).expect("bound");
        fs::read_to_string(&r).unwrap()
    });
    assert_eq!(inside, "ours\n");
    assert_eq!(fs::read_to_string(&real).unwrap(), "theirs\n");
    assert!(!mounted_here(&real));
}

#[test]
fn a_symlink_is_covered_itself_and_what_it_leads_to_stays() {
    let (dir, ours, real) = fixture();
    // etc/resolv.conf -> ../run/stub.conf -> ../real, both relative.
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::create_dir_all(dir.path().join("run")).unwrap();
    let link = dir.path().join("etc/resolv.conf");
    let stub = dir.path().join("run/stub.conf");
    symlink("../real", &stub).unwrap();
    symlink("../run/stub.conf", &link).unwrap();
    let before = snapshot(&link);
    let (o, l, r) = (ours.clone(), link.clone(), real.clone());
    let (through_link, target) = in_own_mount_namespace(&ours, move || {
        bind_onto(&o, &l).expect("bound");
        (
            fs::read_to_string(&l).unwrap(),
            fs::read_to_string(&r).unwrap(),
        )
    });
    assert_eq!(through_link, "ours\n");
    assert_eq!(
        target, "theirs\n",
        "the file the link leads to is untouched"
    );
    assert_eq!(snapshot(&link), before);
    assert_eq!(fs::read_to_string(&real).unwrap(), "theirs\n");
}

#[test]
fn a_dangling_symlink_is_covered_without_making_its_target() {
    let (dir, ours, _real) = fixture();
    let link = dir.path().join("resolv.conf");
    let missing = dir.path().join("run/systemd/resolve/stub-resolv.conf");
    symlink(&missing, &link).unwrap();
    let (o, l) = (ours.clone(), link.clone());
    let inside = in_own_mount_namespace(&ours, move || {
        bind_onto(&o, &l).expect("bound");
        fs::read_to_string(&l).unwrap()
    });
    assert_eq!(inside, "ours\n");
    assert_eq!(fs::read_link(&link).unwrap(), missing);
    assert!(!missing.exists() && !dir.path().join("run").exists());
}

#[test]
fn a_missing_file_gets_an_empty_mount_point() {
    let (dir, ours, _real) = fixture();
    let absent = dir.path().join("resolv.conf");
    let (o, a) = (ours.clone(), absent.clone());
    let inside = in_own_mount_namespace(&ours, move || {
        bind_onto(&o, &a).expect("bound");
        fs::read_to_string(&a).unwrap()
    });
    assert_eq!(inside, "ours\n");
    assert_eq!(fs::read_to_string(&absent).unwrap(), "", "an empty file");
}

#[test]
fn a_failed_bind_names_both_paths() {
    let (dir, ours, real) = fixture();
    let gone = dir.path().join("gone");
    let (g, r) = (gone.clone(), real.clone());
    let err = in_own_mount_namespace(&ours, move || bind_onto(&g, &r).unwrap_err());
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot bind-mount {} onto {}: bind-mount: ENOENT",
            gone.display(),
            real.display()
        )),
        "{text}"
    );
    assert_eq!(fs::read_to_string(&real).unwrap(), "theirs\n");
}
