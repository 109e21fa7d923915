//! pymesos (PyPI 0.3.15), a real third-party Mesos client, against
//! `mesos-local run` started as a separate process: its scheduler driver
//! subscribes, launches command tasks and a task on a CUSTOM executor
//! written with pymesos' executor driver, acknowledges, reconciles and
//! kills (see `tests/pymesos/*.py`). pymesos is installed from PyPI by
//! `scripts/install-pymesos.sh` into the target directory; without PyPI
//! this test fails (it does not skip).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mesos_local::testing::{self, ProcessCluster, TEST_RESOURCES};

const DEADLINE: Duration = Duration::from_secs(150);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

fn install_pymesos() -> PathBuf {
    let site = testing::target_dir()
        .expect("target dir")
        .join("pymesos-site");
    let script = repo_root().join("scripts/install-pymesos.sh");
    let output = Command::new(&script)
        .arg(&site)
        .output()
        .expect("install-pymesos.sh runs");
    assert!(
        output.status.success(),
        "pymesos could not be installed from PyPI (this test needs it): {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    site
}

#[test]
fn pymesos_scheduler_and_executor_drive_mesos_local() {
    let site = install_pymesos();
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = ProcessCluster::start(
        1,
        dir.path(),
        &[
            "--resources",
            TEST_RESOURCES,
            "--allocation-interval",
            "100ms",
        ],
    )
    .expect("mesos-local run started");
    let scripts = repo_root().join("tests/pymesos");
    let out_path = dir.path().join("scheduler.out");
    let mut child = Command::new("/usr/bin/python3")
        .arg(scripts.join("scheduler_test.py"))
        .arg(cluster.master())
        .arg(scripts.join("executor_test.py"))
        .arg(&site)
        .env("PYTHONPATH", &site)
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(&out_path).expect("output file"),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("scheduler.err")).expect("error file"),
        ))
        .spawn()
        .expect("python3 starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            break Some(status);
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(dir.path().join("scheduler.err")).unwrap_or_default();
    let log = std::fs::read_to_string(dir.path().join("mesos-local.log")).unwrap_or_default();
    let report = format!(
        "stdout:\n{stdout}\nstderr:\n{stderr}\nmesos-local log (tail):\n{}",
        tail(&log, 60)
    );
    let status = status.unwrap_or_else(|| {
        panic!("pymesos scheduler did not finish within {DEADLINE:?}\n{report}")
    });
    assert!(
        status.success() && stdout.contains("PASS"),
        "pymesos scheduler failed ({status})\n{report}"
    );
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
