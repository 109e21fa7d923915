//! A task whose attachment has the DNS labels reads its own
//! `/etc/resolv.conf` (the search line and the nameservers: the label's, else
//! the host's reachable ones, else its gateway), the host's file stays as it
//! was, and the file is gone with the task; through it, a service name
//! resolves by ovn-controller's answer from the logical switch's DNS records.

mod executor_common;

use std::path::Path;
use std::time::Duration;

use executor_common::{attachment_labels, netns_of, task_with, Lab, Port};
use mesos_proto::v1::{ExecutorId, TaskId, TaskState};
use ovn::attachment::{DNS_SEARCH, DNS_SERVERS};
use ovn_mesos_executor::resolv::{self, HOST_RESOLV_CONF, RUN_DIR};

const T: Duration = Duration::from_secs(30);

/// The host's resolv.conf as it is now: its symlink target and its bytes.
fn host_resolv_conf() -> (Option<std::path::PathBuf>, Option<Vec<u8>>) {
    let path = Path::new(HOST_RESOLV_CONF);
    (std::fs::read_link(path).ok(), std::fs::read(path).ok())
}

/// Launches `command` as task `id` on `port` with the attachment's labels
/// plus `dns`, waits for its end (TASK_FINISHED) and returns its stdout.
async fn run(lab: &Lab, id: &str, port: &Port, dns: &[(&str, &str)], command: &str) -> String {
    lab.add_lsp(port);
    let executor = format!("ex-{id}");
    let mut labels = attachment_labels(port);
    labels.extend(dns.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let mut process = lab.executor(&lab.spec(&executor)).await;
    lab.agent
        .launch(
            &ExecutorId::from(executor.as_str()),
            task_with(id, Some(&port.ip), &labels, command),
        )
        .unwrap();
    let end = lab
        .agent
        .wait_terminal(&TaskId::from(id), T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", process.log()));
    let stdout = lab.sandboxes.path().join(&executor).join("stdout");
    let stdout = std::fs::read_to_string(stdout).unwrap_or_default();
    let stderr = lab.sandboxes.path().join(&executor).join("stderr");
    assert_eq!(
        end.status.state(),
        TaskState::TaskFinished,
        "{id}: {:?}\nstdout: {stdout}\nstderr: {}\n{}",
        end.status.message,
        std::fs::read_to_string(stderr).unwrap_or_default(),
        process.log()
    );
    let status = process.wait_exit(T).await.expect("an idle executor exits");
    assert!(status.success(), "{status:?}");
    // The network and the task's files go before the terminal update.
    let netns = netns_of(id);
    lab.assert_nothing_left(&netns);
    let dir = resolv::task_dir(Path::new(RUN_DIR), &netns);
    assert!(!dir.exists(), "{} left", dir.display());
    stdout
}

/// The `nameserver` addresses of a resolv.conf text.
fn nameservers(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_reads_its_own_resolv_conf_and_the_host_keeps_its_own() {
    let lab = Lab::start().await;
    let host = host_resolv_conf();

    let labelled = run(
        &lab,
        "dns-a",
        &Port::nth(2),
        &[
            (DNS_SEARCH, "coke.ovn-mesos"),
            (DNS_SERVERS, "10.0.0.2,10.0.0.3"),
        ],
        "cat /etc/resolv.conf",
    )
    .await;
    assert!(
        labelled.lines().any(|l| l == "search coke.ovn-mesos"),
        "{labelled}"
    );
    assert_eq!(nameservers(&labelled), ["10.0.0.2", "10.0.0.3"]);
    assert_eq!(host_resolv_conf(), host, "the host's resolv.conf changed");

    // Without servers: the host's reachable ones, else the gateway.
    let text = std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
    let mut want: Vec<String> = resolv::reachable_nameservers(&text)
        .iter()
        .take(3)
        .map(|s| s.to_string())
        .collect();
    if want.is_empty() {
        want.push("192.168.1.1".into());
    }
    let fallback = run(
        &lab,
        "dns-b",
        &Port::nth(3),
        &[(DNS_SEARCH, "pepsi.ovn-mesos")],
        "cat /etc/resolv.conf",
    )
    .await;
    assert!(
        fallback.lines().any(|l| l == "search pepsi.ovn-mesos"),
        "{fallback}"
    );
    assert_eq!(nameservers(&fallback), want, "{fallback}");

    // Without the search label the task sees the host's file.
    let plain = run(&lab, "dns-c", &Port::nth(4), &[], "cat /etc/resolv.conf").await;
    assert_eq!(Some(plain.into_bytes()), host.1);
    assert_eq!(host_resolv_conf(), host, "the host's resolv.conf changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovn_answers_a_service_name_through_the_tasks_resolv_conf() {
    let lab = Lab::start().await;
    // A router port owns 192.168.1.1 (so the task's ARP for its nameserver
    // is answered); the switch has one DNS record.
    for step in [
        &["lr-add", "lr-dns"][..],
        &[
            "lrp-add",
            "lr-dns",
            "lr-dns-ls1",
            "00:00:00:00:ff:01",
            "192.168.1.1/24",
        ],
        &[
            "lsp-add",
            "ls1",
            "ls1-lr-dns",
            "--",
            "lsp-set-type",
            "ls1-lr-dns",
            "router",
            "--",
            "lsp-set-addresses",
            "ls1-lr-dns",
            "router",
            "--",
            "lsp-set-options",
            "ls1-lr-dns",
            "router-port=lr-dns-ls1",
        ],
    ] {
        lab.central.nbctl(step).expect("router");
    }
    let dns = lab
        .central
        .nbctl(&[
            "create",
            "DNS",
            r#"records={"web.coke.ovn-mesos"="192.168.1.9"}"#,
        ])
        .expect("DNS row");
    lab.central
        .nbctl(&["add", "Logical_Switch", "ls1", "dns_records", dns.trim()])
        .expect("dns_records");
    lab.central.nbctl(&["--wait=hv", "sync"]).expect("sync");

    // The bare name goes out with the search domain to the gateway, whose
    // address OVN answers for; the lookup is retried for up to 10 s while
    // the flows settle.
    let out = run(
        &lab,
        "dns-d",
        &Port::nth(5),
        &[(DNS_SEARCH, "coke.ovn-mesos"), (DNS_SERVERS, "192.168.1.1")],
        "for i in $(seq 50); do getent hosts web && exit 0; sleep 0.2; done; exit 1",
    )
    .await;
    let answer: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(answer, ["192.168.1.9", "web.coke.ovn-mesos"], "{out}");
}
