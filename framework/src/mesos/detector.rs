//! Finding the leading Mesos master in ZooKeeper, as Mesos' own detector
//! does (`src/master/detector/zookeeper.cpp` over `src/zookeeper/group.cpp`
//! and `detector.cpp`): the masters contend by creating EPHEMERAL_SEQUENTIAL
//! znodes `json.info_<10-digit sequence>` under the group's path, each
//! holding the master's `MasterInfo` as JSON; the leader is the member with
//! the lowest sequence. The children are watched, so a new leader (the old
//! one's session ended, or it abdicated) is seen at once.
//!
//! Only `json.info_*` members count (Mesos >= 1.0 masters write nothing
//! else; the binary `info_*` nodes of 0.2x masters and other children such
//! as `log_replicas` are ignored). The master's address is
//! `address.ip:address.port` when the MasterInfo has an `address`, else
//! `hostname:port`, else the `ip` field decoded (an IPv4 address in network
//! byte order read as a little-endian `uint32`: Mesos' documented quirk).
//!
//! A [`Detector`] runs in a task of its own and publishes each
//! [`Detection`] on a watch channel; nothing else awaits ZooKeeper. It
//! never creates znodes (unlike Mesos' group, which creates the path): a
//! missing path is "no master", watched until it appears. ZooKeeper trouble
//! keeps the last detection: no session, or a session that ended, for the
//! detector's timeout, then [`Detection::Failed`] is published and it
//! keeps trying (a connection that is only down publishes nothing until
//! the client gives its session up, about 7/5 of the session timeout
//! after it last heard a server). A subscription to a master is not
//! dropped for it, only for another leader or an empty group. Only
//! `json.info_` members count (Mesos 1.0 and later write them); Mesos' own
//! detector takes the lowest member of any label.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use mesos_proto::v1::MasterInfo;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use zookeeper_client as zk;

use super::endpoint::scheduler_url;
use super::error::MesosError;
use super::master::ZooKeeperUrl;
use ovn::report::Chain;

/// The label of the members whose data is a JSON `MasterInfo`
/// (`MASTER_INFO_JSON_LABEL` in Mesos).
pub const MASTER_INFO_LABEL: &str = "json.info";

/// The ZooKeeper session timeout asked for (Mesos'
/// `MASTER_DETECTOR_ZK_SESSION_TIMEOUT`); servers may grant less.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Shortest pause between two attempts after a ZooKeeper failure.
const RETRY_MIN: Duration = Duration::from_millis(200);
/// Longest pause between two attempts after a ZooKeeper failure.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// The leading master as the group shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Leader {
    /// Its znode's name, `json.info_0000000003`.
    pub node: String,
    /// The znode's sequence.
    pub sequence: i64,
    /// `host:port` to reach its HTTP API.
    pub address: String,
    /// What it wrote in its znode.
    pub info: MasterInfo,
}

/// What the detector knows of the group.
#[derive(Debug, Clone, PartialEq)]
pub enum Detection {
    /// Nothing yet: the first session is being set up.
    Pending,
    /// The member with the lowest `json.info_` sequence.
    Leader(Box<Leader>),
    /// The path is missing or has no `json.info_` member.
    NoMaster,
    /// No session or no answer from ZooKeeper for the detector's timeout,
    /// a read it refused, or a leader whose znode holds no usable
    /// MasterInfo: why. The detector keeps trying.
    Failed(String),
}

/// Follows the leading master of one ZooKeeper group (cheap to clone;
/// the task stops once every clone is dropped).
#[derive(Debug, Clone)]
pub struct Detector {
    url: ZooKeeperUrl,
    detections: watch::Receiver<Detection>,
}

impl Detector {
    /// Starts following the group of `url` in a task of its own (on the
    /// current tokio runtime). `timeout` bounds how long ZooKeeper may be
    /// unreachable (or silent) before [`Detection::Failed`].
    pub fn start(url: ZooKeeperUrl, timeout: Duration) -> Detector {
        let (tx, detections) = watch::channel(Detection::Pending);
        let group = Group {
            url: url.clone(),
            connect_string: url.connect_string(),
            timeout,
            tx,
        };
        tokio::spawn(async move {
            tokio::select! {
                () = group.tx.closed() => debug!(zk = %group.url, "detector no longer watched; stopping"),
                () = group.follow() => {}
            }
        });
        Detector { url, detections }
    }

    /// The process' detector of `url`, started (with `timeout`) on first
    /// use and kept for the life of the process, so every subscription of
    /// a scheduler shares one ZooKeeper session, as Mesos' scheduler driver
    /// does. A detector whose runtime has gone is replaced.
    pub fn shared(url: &ZooKeeperUrl, timeout: Duration) -> Detector {
        static DETECTORS: OnceLock<Mutex<HashMap<ZooKeeperUrl, Detector>>> = OnceLock::new();
        let mut detectors = DETECTORS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(detector) = detectors.get(url).filter(|d| d.is_running()) {
            return detector.clone();
        }
        let detector = Detector::start(url.clone(), timeout);
        detectors.insert(url.clone(), detector.clone());
        detector
    }

    /// The group followed.
    pub fn url(&self) -> &ZooKeeperUrl {
        &self.url
    }

    /// Whether the detector's task still runs.
    pub fn is_running(&self) -> bool {
        self.detections.has_changed().is_ok()
    }

    /// The latest detection (not marked as seen).
    pub fn current(&self) -> Detection {
        self.detections.borrow().clone()
    }

    /// The current leader, once the first detection is made:
    /// [`MesosError::NoMaster`] when the group is empty or missing,
    /// [`MesosError::Detector`] when ZooKeeper cannot tell (both
    /// retryable). Marks the detection as seen.
    pub async fn leader(&mut self) -> Result<Leader, MesosError> {
        loop {
            let detection = self.detections.borrow_and_update().clone();
            match detection {
                Detection::Pending => {
                    if self.detections.changed().await.is_err() {
                        return Err(self.stopped());
                    }
                }
                Detection::Leader(leader) => return Ok(*leader),
                Detection::NoMaster => {
                    return Err(MesosError::NoMaster {
                        url: self.url.to_string(),
                    })
                }
                Detection::Failed(reason) => {
                    return Err(MesosError::Detector {
                        url: self.url.to_string(),
                        reason,
                    })
                }
            }
        }
    }

    /// Marks the latest detection as seen by this handle: [`Self::changed`]
    /// then waits for the next one.
    pub fn mark_seen(&mut self) {
        self.detections.borrow_and_update();
    }

    /// The next detection that differs from the last one this handle saw
    /// (each new leader, an empty group, a failure). Cancel-safe.
    pub async fn changed(&mut self) -> Result<Detection, MesosError> {
        self.detections
            .changed()
            .await
            .map_err(|_| self.stopped())?;
        Ok(self.detections.borrow_and_update().clone())
    }

    fn stopped(&self) -> MesosError {
        MesosError::Detector {
            url: self.url.to_string(),
            reason: "the detector stopped".to_string(),
        }
    }
}

/// A subscription's view of the detector: ends the subscription when
/// ZooKeeper names another leader or none.
#[derive(Debug)]
pub(crate) struct LeaderWatch {
    detector: Detector,
    leader: Leader,
    /// The scheduler API URL subscribed to (after redirects).
    url: String,
}

impl LeaderWatch {
    pub(crate) fn new(detector: Detector, leader: Leader, url: String) -> Self {
        LeaderWatch {
            detector,
            leader,
            url,
        }
    }

    /// The leader subscribed to.
    pub(crate) fn leader(&self) -> &Leader {
        &self.leader
    }

    /// Completes when the group has another leader
    /// ([`MesosError::LeaderChanged`]) or none ([`MesosError::NoMaster`]).
    /// A leader at the subscribed address (the same master, joined anew)
    /// and ZooKeeper trouble do not count. Cancel-safe.
    pub(crate) async fn lost(&mut self) -> MesosError {
        loop {
            let detection = self.detector.detections.borrow_and_update().clone();
            match detection {
                Detection::Leader(leader) if self.is_subscribed_to(&leader) => {
                    self.leader = *leader;
                }
                Detection::Leader(leader) => {
                    return MesosError::LeaderChanged {
                        from: self.leader.address.clone(),
                        to: leader.address,
                    }
                }
                Detection::NoMaster => {
                    return MesosError::NoMaster {
                        url: self.detector.url.to_string(),
                    }
                }
                Detection::Pending | Detection::Failed(_) => {}
            }
            if self.detector.detections.changed().await.is_err() {
                // The runtime is going away: the stream decides.
                std::future::pending::<()>().await;
            }
        }
    }

    fn is_subscribed_to(&self, leader: &Leader) -> bool {
        leader.address == self.leader.address
            || scheduler_url(&leader.address).is_ok_and(|url| url == self.url)
    }
}

/// The detector's task.
struct Group {
    url: ZooKeeperUrl,
    connect_string: String,
    timeout: Duration,
    tx: watch::Sender<Detection>,
}

/// Consecutive ZooKeeper failures: when they began and the next pause.
struct Trouble {
    since: Option<Instant>,
    pause: Duration,
}

impl Trouble {
    fn new() -> Self {
        Trouble {
            since: None,
            pause: RETRY_MIN,
        }
    }

    /// ZooKeeper answered.
    fn clear(&mut self) {
        self.since = None;
        self.pause = RETRY_MIN;
    }

    /// One more failure: [`Detection::Failed`] once they have lasted the
    /// timeout; returns the pause before the next attempt.
    fn failed(&mut self, group: &Group, reason: String) -> Duration {
        let since = *self.since.get_or_insert_with(Instant::now);
        debug!(zk = %group.url, reason, "ZooKeeper failure");
        if since.elapsed() >= group.timeout {
            group.publish(Detection::Failed(format!(
                "no answer from ZooKeeper for {:?}: {reason}",
                group.timeout
            )));
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(RETRY_MAX);
        pause
    }
}

/// Why reading the leader failed.
enum ReadError {
    /// The leader's znode went between listing and reading: list again.
    Vanished,
    /// ZooKeeper failed.
    ZooKeeper(zk::Error),
}

impl Group {
    /// Sessions one after the other, forever.
    async fn follow(&self) {
        let mut trouble = Trouble::new();
        loop {
            let client = self.connect(&mut trouble).await;
            debug!(zk = %self.url, session = ?client.session_id(), timeout = ?client.session_timeout(), "ZooKeeper session");
            let reason = self.watch(&client, &mut trouble).await;
            warn!(zk = %self.url, reason, "ZooKeeper session ended; starting another");
        }
    }

    /// A session, after as many attempts as it takes.
    async fn connect(&self, trouble: &mut Trouble) -> zk::Client {
        loop {
            let attempt = zk::Client::connector()
                .with_session_timeout(SESSION_TIMEOUT)
                .with_fail_eagerly()
                .connect(&self.connect_string);
            let reason = match tokio::time::timeout(self.timeout, attempt).await {
                Ok(Ok(client)) => return client,
                Ok(Err(e)) => format!("no session: {}", Chain(&e)),
                Err(_) => format!("no session within {:?}", self.timeout),
            };
            let pause = trouble.failed(self, reason);
            tokio::time::sleep(pause).await;
        }
    }

    /// Follows the group in one session; returns why the session ended.
    async fn watch(&self, client: &zk::Client, trouble: &mut Trouble) -> String {
        let path = self.url.path.as_str();
        loop {
            let failure = match client.list_and_watch_children(path).await {
                Ok((children, watcher)) => match self.read_leader(client, &children).await {
                    Ok(detection) => {
                        trouble.clear();
                        self.publish(detection);
                        match Self::fired(watcher).await {
                            Some(end) => return end,
                            None => continue,
                        }
                    }
                    Err(ReadError::Vanished) => continue,
                    Err(ReadError::ZooKeeper(e)) => e,
                },
                Err(zk::Error::NoNode) => {
                    trouble.clear();
                    self.publish(Detection::NoMaster);
                    match client.check_and_watch_stat(path).await {
                        Ok((Some(_), _)) => continue,
                        Ok((None, watcher)) => match Self::fired(watcher).await {
                            Some(end) => return end,
                            None => continue,
                        },
                        Err(e) => e,
                    }
                }
                Err(e) => e,
            };
            if matches!(
                failure,
                zk::Error::SessionExpired | zk::Error::ClientClosed | zk::Error::AuthFailed
            ) {
                return failure.to_string();
            }
            let pause = trouble.failed(self, format!("reading {path}: {}", Chain(&failure)));
            tokio::time::sleep(pause).await;
        }
    }

    /// Waits for a watch; `Some(why)` when it fired because the session
    /// ended.
    async fn fired(watcher: zk::OneshotWatcher) -> Option<String> {
        let event = watcher.changed().await;
        match (event.event_type, event.session_state) {
            (
                zk::EventType::Session,
                state @ (zk::SessionState::Expired
                | zk::SessionState::Closed
                | zk::SessionState::AuthFailed),
            ) => Some(format!("session {state:?}")),
            _ => None,
        }
    }

    /// The detection for the group's `children`.
    async fn read_leader(
        &self,
        client: &zk::Client,
        children: &[String],
    ) -> Result<Detection, ReadError> {
        let Some((sequence, node)) = lowest_member(children) else {
            return Ok(Detection::NoMaster);
        };
        let node_path = format!("{}/{node}", self.url.path);
        let data = match client.get_data(&node_path).await {
            Ok((data, _)) => data,
            Err(zk::Error::NoNode) => return Err(ReadError::Vanished),
            Err(e) => return Err(ReadError::ZooKeeper(e)),
        };
        Ok(match decode_master_info(&data) {
            Ok((info, address)) => Detection::Leader(Box::new(Leader {
                node: node.to_string(),
                sequence,
                address,
                info,
            })),
            Err(reason) => Detection::Failed(format!("znode {node_path}: {reason}")),
        })
    }

    /// Publishes `detection` if it is news, with a log line.
    fn publish(&self, detection: Detection) {
        let news = self.tx.send_if_modified(|current| {
            let news = *current != detection;
            if news {
                *current = detection.clone();
            }
            news
        });
        if !news {
            return;
        }
        match &detection {
            Detection::Leader(leader) => info!(
                zk = %self.url,
                node = %leader.node,
                leader = %leader.address,
                master_id = %leader.info.id,
                "leading Mesos master detected"
            ),
            Detection::NoMaster => info!(zk = %self.url, "no Mesos master registered"),
            Detection::Failed(reason) => {
                warn!(zk = %self.url, reason, "cannot find the leading Mesos master")
            }
            Detection::Pending => {}
        }
    }
}

/// The `json.info_` member with the lowest sequence: (sequence, name).
fn lowest_member(children: &[String]) -> Option<(i64, &str)> {
    children
        .iter()
        .filter_map(|name| Some((member_sequence(name)?, name.as_str())))
        .min()
}

/// The sequence of a `json.info_<sequence>` znode name.
fn member_sequence(name: &str) -> Option<i64> {
    let sequence = name.strip_prefix(MASTER_INFO_LABEL)?.strip_prefix('_')?;
    let digits = sequence.strip_prefix('-').unwrap_or(sequence);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    sequence.parse().ok()
}

/// A `json.info_` znode's data: the MasterInfo and the address to reach
/// it (see the module docs), or why it is unusable.
pub(crate) fn decode_master_info(data: &[u8]) -> Result<(MasterInfo, String), String> {
    let info: MasterInfo = mesos_proto::from_json_slice(data)
        .map_err(|e| format!("not a MasterInfo in JSON: {}", Chain(&e)))?;
    let address = master_address(&info)?;
    Ok((info, address))
}

/// `address.ip:address.port` (or `address.hostname`), else
/// `hostname:port`, else the `uint32` ip (network byte order read as
/// little-endian) and port.
fn master_address(info: &MasterInfo) -> Result<String, String> {
    if let Some(address) = &info.address {
        let host = [&address.ip, &address.hostname]
            .into_iter()
            .find_map(|h| h.as_deref().filter(|h| !h.trim().is_empty()));
        if let Some(host) = host {
            let port = u16::try_from(address.port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("address.port {} is not a port", address.port))?;
            return Ok(host_port(host.trim(), port));
        }
    }
    let port = u16::try_from(info.port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("port {} is not a port", info.port))?;
    if let Some(host) = info.hostname.as_deref().filter(|h| !h.trim().is_empty()) {
        return Ok(host_port(host.trim(), port));
    }
    if info.ip != 0 {
        return Ok(host_port(
            &Ipv4Addr::from(info.ip.to_le_bytes()).to_string(),
            port,
        ));
    }
    Err("it has no address, hostname or ip".to_string())
}

/// `host:port`, an IPv6 literal in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a Mesos 1.11 master writes in `json.info_*` (stout's JSON of
    /// its MasterInfo: keys sorted, `ip` is 10.10.1.11 in network byte
    /// order read as a little-endian uint32).
    const MESOS_1X: &str = r#"{"address":{"hostname":"mesos-master-1","ip":"10.10.1.11","port":5050},"capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"},{"type":"QUOTA_V2"}],"domain":{"fault_domain":{"region":{"name":"eu-west"},"zone":{"name":"eu-west-1a"}}},"hostname":"mesos-master-1","id":"5c1e1b7e-0d5a-4a8e-9a49-2b7f5a1d2c3e","ip":184617482,"pid":"master@10.10.1.11:5050","port":5050,"version":"1.11.0"}"#;

    /// A MasterInfo of a master without `address` nor hostname (as 0.2x
    /// masters wrote them without a resolvable name): only the uint32 ip.
    const IP_ONLY: &str = r#"{"id":"20150101-000000-184617482-5050-1234","ip":184617482,"pid":"master@10.10.1.11:5051","port":5051,"version":"0.28.2"}"#;

    #[test]
    fn a_mesos_1x_master_info_gives_its_address() {
        let (info, address) = decode_master_info(MESOS_1X.as_bytes()).unwrap();
        assert_eq!(address, "10.10.1.11:5050");
        assert_eq!(info.id, "5c1e1b7e-0d5a-4a8e-9a49-2b7f5a1d2c3e");
        assert_eq!(info.pid.as_deref(), Some("master@10.10.1.11:5050"));
        assert_eq!(info.version.as_deref(), Some("1.11.0"));
        assert_eq!(info.capabilities.len(), 3);
    }

    #[test]
    fn the_uint32_ip_is_network_byte_order() {
        let (_, address) = decode_master_info(IP_ONLY.as_bytes()).unwrap();
        assert_eq!(address, "10.10.1.11:5051");
        assert_eq!(
            u32::from_le_bytes(Ipv4Addr::new(10, 10, 1, 11).octets()),
            184617482
        );
    }

    #[test]
    fn without_address_the_hostname_and_port_are_used() {
        let json = r#"{"hostname":"m1.example","id":"x","ip":184617482,"port":5050}"#;
        let (_, address) = decode_master_info(json.as_bytes()).unwrap();
        assert_eq!(address, "m1.example:5050");
        // An address with a hostname but no ip.
        let json = r#"{"address":{"hostname":"m2","port":5052},"id":"x","ip":0,"port":5050}"#;
        assert_eq!(decode_master_info(json.as_bytes()).unwrap().1, "m2:5052");
        let json = r#"{"address":{"ip":"fd00::1","port":5050},"id":"x","ip":0,"port":5050}"#;
        assert_eq!(
            decode_master_info(json.as_bytes()).unwrap().1,
            "[fd00::1]:5050"
        );
    }

    #[test]
    fn unusable_master_infos_say_why() {
        for (json, why) in [
            ("not json", "not a MasterInfo in JSON"),
            (r#"{"id":7}"#, "not a MasterInfo in JSON"),
            (
                r#"{"id":"x","ip":0,"port":5050}"#,
                "no address, hostname or ip",
            ),
            (r#"{"id":"x","ip":1,"port":0}"#, "port 0 is not a port"),
            (
                r#"{"address":{"ip":"10.0.0.1","port":70000},"id":"x","ip":1,"port":5050}"#,
                "address.port 70000",
            ),
        ] {
            let error = decode_master_info(json.as_bytes()).unwrap_err();
            assert!(error.contains(why), "{json}: {error}");
            assert!(!error.contains('\n'), "{json}: {error}");
        }
    }

    #[test]
    fn the_leader_is_the_lowest_json_info_sequence() {
        let children: Vec<String> = [
            "json.info_0000000007",
            "info_0000000001",
            "log_replicas",
            "json.info_0000000004",
            "json.info_x",
            "json.info_",
            "0000000000",
            "json.info_0000000012",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(lowest_member(&children), Some((4, "json.info_0000000004")));
        assert_eq!(lowest_member(&children[1..3]), None);
        assert_eq!(lowest_member(&[]), None);
    }
}
