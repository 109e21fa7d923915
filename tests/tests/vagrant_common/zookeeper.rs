//! The lab's ZooKeeper (`LAB_HA=1`, on `mesos-master`), checked from its
//! rendered files: the configuration directory, the unit (the classpath and
//! main class the test harness runs ZooKeeper with), and the unit's own
//! command line started for real, against a copy of the configuration moved
//! to loopback and a temporary data directory.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovn_mesos_tests::poll::wait_for;
use ovn_mesos_tests::zookeeper::{
    four_letter, Mode as ZkMode, CLASSPATH, HARNESS_ERRORS, MAIN_CLASS,
};

use super::files::parse_env_file;
use super::rendered::{expect, read, unit};
use super::ZK_ADDRESS;

/// The configuration directory (the `zookeeper-conf` alternative).
pub const CONF_DIR: &str = "/etc/zookeeper/conf_ovn-mesos";
/// The unit the package does not ship.
pub const UNIT: &str = "etc/systemd/system/zookeeper.service";
/// The rendered files of the ZooKeeper step, relative to DESTDIR.
pub const FILES: [&str; 5] = [
    UNIT,
    "etc/zookeeper/conf_ovn-mesos/zoo.cfg",
    "etc/zookeeper/conf_ovn-mesos/myid",
    "etc/zookeeper/conf_ovn-mesos/log4j.properties",
    "etc/zookeeper/conf_ovn-mesos/environment",
];
/// How long the rendered server may take to answer (a JVM start).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `key=value` lines of a Java properties file (comments and blank lines
/// skipped); Err on another line or a repeated key.
pub fn parse_properties(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut props = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .with_context(|| format!("not key=value: {line}"))?;
        if props
            .insert(key.trim().to_string(), value.trim().to_string())
            .is_some()
        {
            bail!("{key} is set twice");
        }
    }
    Ok(props)
}

fn conf(rel: &str) -> String {
    format!("{}/{rel}", CONF_DIR.trim_start_matches('/'))
}

/// The rendered `zoo.cfg`.
pub fn zoo_cfg(dest: &Path) -> BTreeMap<String, String> {
    parse_properties(&read(dest, &conf("zoo.cfg"))).unwrap_or_else(|e| panic!("zoo.cfg: {e:#}"))
}

/// The configuration and the unit: one standalone server on the overlay
/// address, its data in /var/lib/zookeeper, run as the package's user with
/// the harness' classpath and main class.
pub fn check_zookeeper_files(dest: &Path) {
    let cfg = zoo_cfg(dest);
    let what = "zoo.cfg";
    let (host, port) = ZK_ADDRESS.split_once(':').unwrap();
    expect(&cfg, "dataDir", "/var/lib/zookeeper", what);
    expect(&cfg, "clientPortAddress", host, what);
    expect(&cfg, "clientPort", port, what);
    expect(&cfg, "admin.enableServer", "false", what);
    assert!(
        !cfg.keys().any(|k| k.starts_with("server.")),
        "{what}: a standalone server has no server.N lines: {cfg:?}"
    );
    let words: Vec<&str> = cfg["4lw.commands.whitelist"].split(',').collect();
    for word in ["ruok", "srvr"] {
        assert!(words.contains(&word), "{what}: {word} is not allowed");
    }
    // dataDir/myid is the package's link to /etc/zookeeper/conf/myid: a
    // number, or the server refuses its configuration
    let myid = read(dest, &conf("myid"));
    assert!(
        myid.trim().parse::<u8>().is_ok_and(|id| id >= 1),
        "myid must be 1-255, not {myid:?}"
    );

    let log4j = parse_properties(&read(dest, &conf("log4j.properties")))
        .unwrap_or_else(|e| panic!("log4j.properties: {e:#}"));
    expect(
        &log4j,
        "log4j.appender.CONSOLE",
        "org.apache.log4j.ConsoleAppender",
        "log4j.properties",
    );
    expect(
        &log4j,
        "log4j.rootLogger",
        "${zookeeper.root.logger}",
        "log4j.properties",
    );
    assert!(
        log4j["zookeeper.root.logger"].contains("CONSOLE"),
        "log4j.properties: the server logs to stdout (the journal)"
    );

    let env = parse_env_file(&read(dest, &conf("environment")))
        .unwrap_or_else(|e| panic!("environment: {e:#}"));
    let what = "environment (zkCli.sh, zkServer.sh)";
    expect(&env, "ZOOCFGDIR", "/etc/zookeeper/conf", what);
    expect(&env, "ZOOCFG", "/etc/zookeeper/conf/zoo.cfg", what);
    expect(&env, "ZOOMAIN", MAIN_CLASS, what);
    expect(
        &env,
        "CLASSPATH",
        &format!("/etc/zookeeper/conf:{}", CLASSPATH.join(":")),
        what,
    );

    let service = unit(dest, UNIT);
    for (key, value) in [
        ("User", "zookeeper"),
        ("Group", "zookeeper"),
        ("StateDirectory", "zookeeper"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(
            service.value("Service", key).unwrap(),
            value,
            "{UNIT}: {key}"
        );
    }
    let words = service.exec_start().unwrap();
    assert_eq!(words[0], "/usr/bin/java", "{UNIT}");
    let classpath = words
        .iter()
        .position(|w| w == "-cp")
        .and_then(|i| words.get(i + 1))
        .unwrap_or_else(|| panic!("{UNIT}: no -cp in {words:?}"));
    assert_eq!(*classpath, CLASSPATH.join(":"), "{UNIT}: classpath");
    assert!(
        words.contains(&format!(
            "-Dlog4j.configuration=file:{CONF_DIR}/log4j.properties"
        )),
        "{UNIT}: the log4j configuration: {words:?}"
    );
    assert_eq!(
        &words[words.len() - 2..],
        [MAIN_CLASS.to_string(), format!("{CONF_DIR}/zoo.cfg")],
        "{UNIT}: main class and configuration"
    );
}

/// The `java` of the unit, ended with SIGTERM, then SIGKILL, when dropped.
struct Server {
    child: Child,
}

impl Server {
    /// SIGTERM and the exit status (SIGKILL after `timeout`).
    fn stop(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let pid = Pid::from_raw(self.child.id() as i32);
        kill(pid, Signal::SIGTERM).context("SIGTERM to the rendered ZooKeeper")?;
        let child = &mut self.child;
        let status = wait_for("the rendered ZooKeeper to exit", timeout, || {
            Ok(child.try_wait()?)
        });
        if status.is_err() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the rendered unit's command line: its configuration copied to a
/// temporary directory with the client address moved to a free loopback
/// port and the data to a temporary directory (holding the rendered myid,
/// as the package's link provides it). The server must answer `ruok`, serve
/// standalone, log to stdout, and end with the status the unit counts as a
/// success on SIGTERM.
pub fn run_rendered_server(dest: &Path) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let conf_dir = tmp.path().join("conf");
    let data_dir = tmp.path().join("data");
    std::fs::create_dir(&conf_dir)?;
    std::fs::create_dir(&data_dir)?;
    for name in ["log4j.properties", "environment", "myid"] {
        std::fs::copy(dest.join(conf(name)), conf_dir.join(name))?;
    }
    std::fs::copy(dest.join(conf("myid")), data_dir.join("myid"))?;
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    let mut cfg = String::new();
    for line in read(dest, &conf("zoo.cfg")).lines() {
        let line = match line.split_once('=').map(|(k, _)| k) {
            Some("dataDir") => format!("dataDir={}", data_dir.display()),
            Some("clientPortAddress") => "clientPortAddress=127.0.0.1".to_string(),
            Some("clientPort") => format!("clientPort={port}"),
            _ => line.to_string(),
        };
        cfg.push_str(&line);
        cfg.push('\n');
    }
    std::fs::write(conf_dir.join("zoo.cfg"), cfg)?;

    let service = unit(dest, UNIT);
    let words: Vec<String> = service
        .exec_start()?
        .iter()
        .map(|w| w.replace(CONF_DIR, &conf_dir.to_string_lossy()))
        .collect();
    if !Path::new(&words[0]).is_file() {
        bail!(
            "{} is missing: install a JRE (scripts/install-deps.sh)",
            words[0]
        );
    }
    for jar in CLASSPATH {
        if !Path::new(jar).is_file() {
            bail!("{jar} is missing: install Debian's zookeeper package (scripts/install-deps.sh)");
        }
    }
    let log = tmp.path().join("stdout");
    let out = std::fs::File::create(&log)?;
    let mut server = Server {
        child: Command::new(&words[0])
            .args(&words[1..])
            .current_dir(tmp.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot run {words:?}"))?,
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let served = wait_for("the rendered ZooKeeper to serve", START_TIMEOUT, || {
        if let Some(status) = server.child.try_wait()? {
            bail!("it exited ({status}): {}", log_text());
        }
        if four_letter(addr, "ruok")? != "imok" {
            return Ok(None);
        }
        ZkMode::parse_srvr(&four_letter(addr, "srvr")?)
    });
    let mode = served.with_context(|| format!("{words:?}; its output: {}", log_text()))?;
    if mode != ZkMode::Standalone {
        bail!("the rendered ZooKeeper serves as {mode:?}, not standalone");
    }
    // the level leads each line (the journal adds the time); the harness'
    // excuses hold here too (an early ruok may meet a database not loaded)
    let text = log_text();
    let level = |line: &str| {
        line.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| matches!(level(l).as_str(), "ERROR" | "FATAL"))
        .filter(|l| !HARNESS_ERRORS.iter().any(|e| l.contains(e)))
        .collect();
    if !text.lines().any(|l| level(l) == "INFO") || !errors.is_empty() {
        bail!("the server should log INFO to stdout, and no error: {errors:?} in {text}");
    }
    let status = server.stop(Duration::from_secs(10))?;
    let success = service.value("Service", "SuccessExitStatus").unwrap_or("0");
    if !(status.success() || status.code().is_some_and(|c| c.to_string() == success)) {
        bail!("SIGTERM ended the server with {status}, which the unit counts as a failure");
    }
    Ok(())
}
