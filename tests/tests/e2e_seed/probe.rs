//! What the seed tests look at from outside the framework: `curl` through a
//! tenant's VIP from the `outside` host (the seed's "underlying host"), the
//! answers counted by backend, and a task's container as the executor made
//! it (its network namespace `ovnm-<hex>`, found through the OVS Interface
//! that carries its logical port, and the processes inside).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ovn_mesos::api::TaskView;
use ovn_mesos_tests::lab::{Host, Lab};
use ovn_mesos_tests::wait_for;

/// coke's VIP on its gateway router (mesos-master).
pub const COKE_VIP: &str = "10.10.1.12:32350";
/// pepsi's VIP on its gateway router (mesos-agent1).
pub const PEPSI_VIP: &str = "10.10.1.14:32350";
/// Requests before asserting that every backend answered (the choice is
/// random per connection).
pub const SAMPLE: usize = 20;

/// One `curl` of `http://<vip>/` from `outside`, 2 s at most: the body.
pub fn curl_vip(lab: &Lab, vip: &str) -> anyhow::Result<String> {
    let url = format!("http://{vip}/");
    lab.exec(
        Host::Outside,
        &["curl", "-sS", "--connect-timeout", "1", "-m", "2", &url],
    )
}

/// One curl of a prober: when, which VIP, the answer or the error.
pub type Curl = (Instant, &'static str, Result<String, String>);

/// One `curl` of `http://<vip>/` from the namespace `outside`, 2 s at most,
/// without the lab handle (for a prober thread): the body if it is
/// `apache` or `nginx`, else the exit status, the body and curl's stderr.
pub fn curl_backend(outside: &str, vip: &str) -> Result<String, String> {
    let url = format!("http://{vip}/");
    let o = std::process::Command::new("ip")
        .args(["netns", "exec", outside, "curl", "-sS", "-m", "2", &url])
        .output()
        .map_err(|e| e.to_string())?;
    let body = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    if o.status.success() && (body == "apache" || body == "nginx") {
        Ok(body)
    } else {
        Err(format!(
            "{} {body:?} {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Answers counted by body.
pub fn tally(answers: &[String]) -> BTreeMap<&str, usize> {
    let mut t = BTreeMap::new();
    for a in answers {
        *t.entry(a.as_str()).or_insert(0) += 1;
    }
    t
}

/// Polls `curl_vip` until it succeeds; returns how long after `since` and
/// the answer.
pub fn wait_first_answer(
    lab: &Lab,
    vip: &str,
    since: Instant,
    timeout: Duration,
) -> (Duration, String) {
    let body = wait_for(&format!("a first answer through {vip}"), timeout, || {
        Ok(curl_vip(lab, vip).ok())
    })
    .unwrap();
    (since.elapsed(), body)
}

/// Curls `vip` until at least [`SAMPLE`] answers came and both `apache` and
/// `nginx` are among them (failed requests are retried, not counted); every
/// answer must be one of the two. Returns the answers.
pub fn wait_both_backends(lab: &Lab, vip: &str, timeout: Duration) -> Vec<String> {
    let mut answers: Vec<String> = Vec::new();
    wait_for(
        &format!("{SAMPLE}+ answers through {vip} naming both apache and nginx"),
        timeout,
        || {
            let body = curl_vip(lab, vip)?;
            if body != "apache" && body != "nginx" {
                bail!("unexpected answer from {vip}: {body:?}");
            }
            answers.push(body);
            let t = tally(&answers);
            Ok((answers.len() >= SAMPLE && t.len() == 2).then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}; answers so far: {:?}", tally(&answers)));
    answers
}

/// Curls `vip` until `n` successful answers in a row say `only` (another
/// answer restarts the count; failed requests, e.g. to a backend that just
/// died and is still listed, are skipped); returns how many requests that took.
pub fn wait_only(lab: &Lab, vip: &str, only: &str, n: usize, timeout: Duration) -> usize {
    let mut streak = 0;
    let mut requests = 0;
    wait_for(
        &format!("{n} answers in a row from {only} through {vip}"),
        timeout,
        || {
            requests += 1;
            match curl_vip(lab, vip) {
                Ok(body) if body == only => streak += 1,
                Ok(_) => streak = 0,
                Err(_) => {}
            }
            Ok((streak >= n).then_some(()))
        },
    )
    .unwrap();
    requests
}

/// The `external_ids` of the OVS Interface the executor made for `task` on
/// its agent (`ovs-vsctl find Interface external_ids:iface-id=<its port>`):
/// `ovn-mesos/netns`, `ovn-mesos/executor-pid` ...
pub fn task_iface_ids(lab: &Lab, task: &TaskView) -> anyhow::Result<BTreeMap<String, String>> {
    let host: Host = task
        .hostname
        .as_deref()
        .context("task without hostname")?
        .parse()
        .map_err(anyhow::Error::msg)?;
    let iface = format!("external_ids:iface-id={}", task.port);
    let ids = lab.vsctl(
        host,
        &[
            "--no-wait",
            "--bare",
            "--columns=external_ids",
            "find",
            "Interface",
            &iface,
        ],
    )?;
    if ids.is_empty() {
        bail!("no interface with iface-id {} on {host}", task.port);
    }
    Ok(ids
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.trim_matches('"').to_string(),
                v.trim_matches('"').to_string(),
            )
        })
        .collect())
}

/// The processes inside a task's network namespace: `ip netns pids <netns>`
/// run in the mount namespace of its executor (`executor_pid`), because the
/// agent runs under `ip netns exec`, whose private mount namespace holds the
/// executor's `/var/run/netns/<netns>` bind mount.
pub fn netns_pids(netns: &str, executor_pid: i32) -> anyhow::Result<Vec<i32>> {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--mount=/proc/{executor_pid}/ns/mnt"))
        .args(["ip", "netns", "pids", netns])
        .output()?;
    if !out.status.success() {
        bail!(
            "ip netns pids {netns}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|p| p.parse().context("a pid"))
        .collect()
}

/// A task's container: its namespace, its executor and the processes inside.
#[derive(Debug, Clone)]
pub struct Container {
    pub netns: String,
    pub executor_pid: i32,
    pub pids: Vec<i32>,
    /// The host end of its veth (`ovnm<hex>`) on its agent.
    pub veth: String,
}

/// The container of `task`, as its executor made it.
pub fn container(lab: &Lab, task: &TaskView) -> anyhow::Result<Container> {
    let ids = task_iface_ids(lab, task)?;
    let netns = ids.get(ovn::attachment::NETNS).cloned().with_context(|| {
        format!(
            "no ovn-mesos/netns on the interface of {}: {ids:?}",
            task.port
        )
    })?;
    let executor_pid: i32 = ids
        .get("ovn-mesos/executor-pid")
        .with_context(|| format!("no ovn-mesos/executor-pid: {ids:?}"))?
        .parse()?;
    let pids = netns_pids(&netns, executor_pid)?;
    let veth = netns.replacen("ovnm-", "ovnm", 1);
    Ok(Container {
        netns,
        executor_pid,
        pids,
        veth,
    })
}

/// Curls `http://<vip>/` from `outside` every 50 ms while `work` runs, and
/// until `after` more answers came once it returned (the loop also stops
/// when `work` panics); every answer in order: the body, or curl's error.
pub fn curling(
    outside: &str,
    vip: &str,
    after: usize,
    work: impl FnOnce(),
) -> Vec<Result<String, String>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    let stop = AtomicBool::new(false);
    let answers: Mutex<Vec<Result<String, String>>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let out = std::process::Command::new("ip")
                    .args(["netns", "exec", outside, "curl", "-sS", "-m", "2"])
                    .arg(format!("http://{vip}/"))
                    .output();
                let result = match out {
                    Ok(o) if o.status.success() => {
                        Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned())
                    }
                    Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
                    Err(e) => Err(e.to_string()),
                };
                answers.lock().unwrap().push(result);
                // the loop's own pace, not a wait for anything
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(&stop);
        work();
        let seen = answers.lock().unwrap().len();
        wait_for(
            &format!("{after} more curls of {vip} after the change"),
            Duration::from_secs(60),
            || Ok((answers.lock().unwrap().len() >= seen + after).then_some(())),
        )
        .unwrap();
    });
    answers.into_inner().unwrap()
}
