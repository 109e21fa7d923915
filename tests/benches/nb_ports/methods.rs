//! The other ways to provision the same port, for comparison: one `ovn-nbctl`
//! process per port, `ovn-nbctl` daemon mode, one `ovn-nbctl` with chained
//! commands, and a minimal raw JSON-RPC loop (the floor: the same insert +
//! mutate over a plain unix socket, nothing else).

use std::io::{BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ovn::ipam::mac_for_ip;
use ovn::nb::{LogicalSwitchPort, Writable};
use ovn::ovsdb::datum::row_to_json;
use ovn::owner::{Kind, Owner, FRAMEWORK, NETWORK, SERVICE, TASK};
use serde_json::{json, Value};
use uuid::Uuid;

use super::setup::{host, Nb};

fn address(net: Ipv4Addr, i: usize) -> String {
    let ip = host(net, i);
    format!("{} {}", mac_for_ip(ip), ip)
}

/// The three commands that make one port (`lsp-add`, addresses, port security).
fn port_commands(switch: &str, name: &str, address: &str) -> Vec<String> {
    [
        vec!["--", "lsp-add", switch, name],
        vec!["--", "lsp-set-addresses", name, address],
        vec!["--", "lsp-set-port-security", name, address],
    ]
    .concat()
    .into_iter()
    .map(str::to_owned)
    .collect()
}

fn run(mut cmd: Command) -> anyhow::Result<String> {
    let out = cmd.output().context("spawning ovn-nbctl")?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// (b) one `ovn-nbctl` process per port; total time for `n` ports.
pub fn nbctl_per_process(
    nb: &Nb,
    switch: &str,
    net: Ipv4Addr,
    n: usize,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for i in 0..n {
        let mut cmd = nb.work.command("ovn-nbctl");
        cmd.arg(format!("--db={}", nb.remote));
        cmd.args(port_commands(
            switch,
            &format!("{switch}-{i}"),
            &address(net, i),
        ));
        run(cmd)?;
    }
    Ok(start.elapsed())
}

/// (c) `ovn-nbctl` daemon mode (`--detach`, then `OVN_NB_DAEMON`); total time
/// for `n` ports, the daemon's start not counted.
pub fn nbctl_daemon(nb: &Nb, switch: &str, net: Ipv4Addr, n: usize) -> anyhow::Result<Duration> {
    let dir = nb.work.path();
    let mut cmd = nb.work.command("ovn-nbctl");
    cmd.arg(format!("--db={}", nb.remote));
    cmd.args(["--detach", "--no-chdir", "-vconsole:off"]);
    cmd.arg(format!("--pidfile={}", dir.join("nbctl.pid").display()));
    cmd.arg(format!("--log-file={}", dir.join("nbctl.log").display()));
    let ctl = run(cmd)?;
    let result = (|| {
        let start = Instant::now();
        for i in 0..n {
            let mut cmd = nb.work.command("ovn-nbctl");
            cmd.env("OVN_NB_DAEMON", &ctl);
            cmd.args(port_commands(
                switch,
                &format!("{switch}-{i}"),
                &address(net, i),
            ));
            run(cmd)?;
        }
        Ok(start.elapsed())
    })();
    stop_nbctl_daemon(nb, Path::new(&ctl));
    result
}

fn stop_nbctl_daemon(nb: &Nb, ctl: &Path) {
    let mut cmd = nb.work.command("ovs-appctl");
    cmd.arg("-t").arg(ctl).arg("exit");
    if run(cmd).is_err() {
        if let Ok(pid) = std::fs::read_to_string(nb.work.file("nbctl.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
    }
}

/// (e) one `ovn-nbctl` per `batch` ports (all commands chained); total time.
pub fn nbctl_batched(
    nb: &Nb,
    switch: &str,
    net: Ipv4Addr,
    n: usize,
    batch: usize,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for first in (0..n).step_by(batch) {
        let mut cmd = nb.work.command("ovn-nbctl");
        cmd.arg(format!("--db={}", nb.remote));
        for i in first..(first + batch).min(n) {
            cmd.args(port_commands(
                switch,
                &format!("{switch}-{i}"),
                &address(net, i),
            ));
        }
        run(cmd)?;
    }
    Ok(start.elapsed())
}

/// What the raw loop does besides sending the client's transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    /// Nothing: the floor (d).
    Bare,
    /// Also keeps a `monitor_cond` on the switch and port tables on the same
    /// socket (reads and parses every update, as any cache-keeping client
    /// must): the floor of a client with a cache.
    MonitorAndGuard,
}

fn read_reply(
    replies: &mut impl Iterator<Item = serde_json::Result<Value>>,
    stream: &mut UnixStream,
    id: &Value,
) -> anyhow::Result<Value> {
    loop {
        let msg = replies.next().context("NB closed the connection")??;
        if msg["method"] == "echo" {
            let reply = json!({"id": msg["id"], "result": msg["params"], "error": null});
            stream.write_all(&serde_json::to_vec(&reply)?)?;
        } else if &msg["id"] == id {
            return Ok(msg);
        }
    }
}

/// (d) the floor: a blocking unix socket, one hand-written `transact` per port
/// (the client's transaction: a `wait` guard on the switch, the insert of the
/// same row, the mutate of the switch's `ports`), reading each reply before
/// the next request. Ports `first ..
/// first + n` of the switch's subnet.
pub fn raw_jsonrpc(
    sock: &Path,
    switch: Uuid,
    name: &str,
    net: Ipv4Addr,
    (first, n): (usize, usize),
    mode: Raw,
) -> anyhow::Result<Duration> {
    let mut stream = UnixStream::connect(sock)?;
    let mut replies = serde_json::Deserializer::from_reader(BufReader::new(stream.try_clone()?))
        .into_iter::<Value>();
    if mode == Raw::MonitorAndGuard {
        let monitor = json!({"id": "monitor", "method": "monitor_cond", "params": ["OVN_Northbound", "raw",
            {"Logical_Switch": [{}], "Logical_Switch_Port": [{}]}]});
        stream.write_all(&serde_json::to_vec(&monitor)?)?;
        read_reply(&mut replies, &mut stream, &json!("monitor"))?;
    }
    let start = Instant::now();
    for i in first..first + n {
        let ip = host(net, i);
        let task = format!("{name}-{i}");
        let mut port = LogicalSwitchPort::new(task.clone(), "");
        port.addresses = vec![format!("{} {}", mac_for_ip(ip), ip)];
        port.port_security = port.addresses.clone();
        port.options
            .insert("requested-chassis".into(), "agent1".into());
        port.external_ids = Owner::new(Kind::TaskPort)
            .tenant("bench")
            .with(NETWORK, name)
            .with(TASK, &task)
            .with(FRAMEWORK, "bench-framework-0001")
            .with(SERVICE, "web")
            .into_map();
        let mut ops = vec![json!("OVN_Northbound")];
        {
            // The same transaction as the client's: an always-true guard of the
            // same size and kind as its `_version` wait, the insert, the mutate.
            ops.push(
                json!({"op": "wait", "table": "Logical_Switch", "timeout": 0,
                "where": [["_uuid", "==", ["uuid", switch.to_string()]]],
                "columns": ["_uuid"], "until": "==", "rows": [{"_uuid": ["uuid", switch.to_string()]}]}),
            );
        }
        ops.push(json!({"op": "insert", "table": "Logical_Switch_Port", "row": row_to_json(&port.to_row()), "uuid-name": "p"}));
        ops.push(json!({"op": "mutate", "table": "Logical_Switch", "where": [["_uuid", "==", ["uuid", switch.to_string()]]],
            "mutations": [["ports", "insert", ["named-uuid", "p"]]]}));
        let request = json!({"id": i, "method": "transact", "params": ops});
        // One write per request, as any real client does.
        stream.write_all(&serde_json::to_vec(&request)?)?;
        let msg = read_reply(&mut replies, &mut stream, &json!(i))?;
        let results = msg["result"]
            .as_array()
            .context("transact without result")?;
        if results.iter().any(|r| r.get("error").is_some())
            || results.last().map(|r| &r["count"]) != Some(&json!(1))
        {
            bail!("raw transact failed: {msg}");
        }
    }
    Ok(start.elapsed())
}
