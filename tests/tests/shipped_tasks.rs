//! The shipped Apache tasks' command (`tasks/apache*.json`) run as an
//! executor runs it: `sh -c` in its own process group, as root, with
//! `MESOS_SANDBOX` set. When the worker user `www-data` cannot read the
//! sandbox (its parents are private, as Mesos work directories usually
//! are), the command serves from a `/tmp/ovn-mesos-www.*` directory instead;
//! stopping the task as the executor does (SIGTERM to the group) removes
//! that directory. Each run gets its own network namespace (`unshare -n`),
//! so port 80 is free.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use ovn_mesos_tests::wait_for;

const WAIT: Duration = Duration::from_secs(20);

/// `command.value` of a shipped task file.
fn shipped_command(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tasks")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let task: serde_json::Value = serde_json::from_str(&text).expect("a JSON task file");
    task["command"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{file} has no command.value"))
        .to_owned()
}

/// The document root the command wrote into `<sandbox>/apache.conf`.
fn document_root(sandbox: &Path) -> Option<PathBuf> {
    std::fs::read_to_string(sandbox.join("apache.conf"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("DocumentRoot "))
        .map(PathBuf::from)
}

/// The task's command started like the executor starts it.
struct Task {
    child: Child,
    sandbox: PathBuf,
    /// The document root outside the sandbox, once seen (removed on drop
    /// should the test fail).
    www: Option<PathBuf>,
    _top: tempfile::TempDir,
}

impl Task {
    fn start(command: &str) -> Task {
        // A private parent, as Mesos work directories are: www-data cannot
        // reach the sandbox.
        let top = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod 700");
        let sandbox = top.path().join("sandbox");
        std::fs::create_dir(&sandbox).expect("sandbox");
        let child = Command::new("unshare")
            .args(["-n", "sh", "-c", command])
            .env("MESOS_SANDBOX", &sandbox)
            .current_dir(&sandbox)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("sh started");
        Task {
            child,
            sandbox,
            www: None,
            _top: top,
        }
    }

    fn group(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Waits until Apache runs (its pid file exists) from a directory
    /// outside the sandbox and the shell waits for it; that directory.
    fn wait_serving_outside(&mut self) -> PathBuf {
        let sandbox = self.sandbox.clone();
        let child = &mut self.child;
        let www = wait_for(
            "Apache to run from a directory outside its sandbox",
            WAIT,
            || {
                if let Some(status) = child.try_wait()? {
                    anyhow::bail!("the task exited early: {status}");
                }
                // The shell has reached its last line, `wait "$p"` (dash
                // waits there in sigsuspend), so its TERM trap that stops
                // Apache and removes the directory is the one in place.
                let at_wait = std::fs::read_to_string(format!("/proc/{}/wchan", child.id()))
                    .is_ok_and(|w| w.contains("sigsuspend"));
                Ok(document_root(&sandbox)
                    .filter(|w| !w.starts_with(&sandbox) && w.join("index.html").exists())
                    .filter(|_| sandbox.join("apache.pid").exists() && at_wait))
            },
        )
        .unwrap();
        self.www = Some(www.clone());
        www
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = killpg(self.group(), Signal::SIGKILL);
        let _ = self.child.wait();
        if let Some(www) = &self.www {
            let _ = std::fs::remove_dir_all(www);
        }
    }
}

#[test]
fn apache_run_as_root_removes_its_tmp_document_root_when_terminated() {
    assert!(
        Path::new("/usr/sbin/apache2").exists(),
        "apache2 is needed to run the shipped Apache command"
    );
    for file in ["apachecoke.json", "apachepepsi.json"] {
        let mut task = Task::start(&shipped_command(file));
        let www = task.wait_serving_outside();
        assert!(
            www.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ovn-mesos-www.")),
            "{file}: document root {}",
            www.display()
        );
        // What the executor does on KILL: SIGTERM to the task's group.
        killpg(task.group(), Signal::SIGTERM).expect("SIGTERM to the task's group");
        let child = &mut task.child;
        let status = wait_for(
            &format!("{file}: the task to exit after SIGTERM"),
            WAIT,
            || Ok(child.try_wait()?),
        )
        .unwrap();
        assert!(status.success(), "{file}: Apache stopped cleanly: {status}");
        assert!(
            !www.exists(),
            "{file}: {} left behind after the task ended",
            www.display()
        );
    }
}
