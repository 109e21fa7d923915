//! Leader election of masters through ZooKeeper, as Mesos does it
//! (`src/zookeeper/group.cpp`, `contender.cpp`, `detector.cpp`,
//! `src/master/contender/zookeeper.cpp`, `src/master/detector/zookeeper.cpp`):
//!
//! * A `zk://[user:password@]host:port[,host:port...]/path` URL
//!   ([`ZkUrl`], parsed like `zookeeper::URL::parse`: the servers end at
//!   the first `/`, the credentials are for the `digest` scheme).
//! * Each ZooKeeper user holds its own session (a Mesos `Group`): it
//!   creates the group's znode (`path`, persistent, with parents) once
//!   connected, and treats a session that stays disconnected for the
//!   negotiated session timeout as expired (`GroupProcess::timedout`)
//!   rather than waiting for ZooKeeper to say so after reconnecting.
//! * A contending master joins the group with an EPHEMERAL_SEQUENTIAL
//!   znode `path/json.info_<10-digit sequence>` holding its `MasterInfo`
//!   as JSON (`contend`; [`MASTER_INFO_JSON_LABEL`]). Its candidacy is
//!   lost when the znode goes away (deleted, or the session expired).
//! * A detector ([`MasterDetector`]) watches the group's children: the
//!   leader is the member with the lowest sequence, whatever its label
//!   (children whose name does not end in a number, such as
//!   `log_replicas`, are skipped); its data is read as JSON for
//!   `json.info_`, as a protobuf `MasterInfo` for `info_`, and as a pid
//!   (`master@ip:port`) for unlabelled members. With no member (or while
//!   the session is expired) there is no leader.
//!
//! A standalone detector (no ZooKeeper) always names the one master it
//! was given, like Mesos' `StandaloneMasterDetector`.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use mesos_proto::v1::{self, Address};
use prost::Message;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};
use zookeeper_client::{Acl, Acls, Client, CreateMode, Error as ZkError, Permission, SessionState};

/// Label of the znodes holding a `MasterInfo` as JSON (Mesos'
/// `MASTER_INFO_JSON_LABEL`).
pub const MASTER_INFO_JSON_LABEL: &str = "json.info";
/// Label of the znodes holding a protobuf `MasterInfo` (Mesos'
/// `MASTER_INFO_LABEL`, read only).
pub const MASTER_INFO_LABEL: &str = "info";
/// Default `--zk_session_timeout` of Mesos masters and agents.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause before retrying a failed ZooKeeper operation or connection.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// `OPEN_ACL_UNSAFE`, used without credentials.
static OPEN_ACL_UNSAFE: Acls<'static> = Acls::anyone_all();

/// `EVERYONE_READ_CREATOR_ALL`, used with `digest` credentials (as
/// Mesos' `Group` does).
static EVERYONE_READ_CREATOR_ALL: [Acl; 2] = [
    Acl::new_const(Permission::READ, "world", "anyone"),
    Acl::new_const(Permission::ALL, "auth", ""),
];

/// A `zk://` URL: servers, group path and optional `digest` credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// `host:port[,host:port...]`.
    pub servers: String,
    /// The group's znode (`/` when the URL has no path).
    pub path: String,
    /// `user:password` for the `digest` scheme.
    pub credentials: Option<String>,
}

impl ZkUrl {
    /// Parses `zk://[credentials@]servers[/path]` like Mesos'
    /// `zookeeper::URL::parse`.
    pub fn parse(url: &str) -> Result<ZkUrl, String> {
        let rest = url
            .trim()
            .strip_prefix("zk://")
            .ok_or_else(|| "Expecting 'zk://' at the beginning of the URL".to_string())?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (credentials, servers) = match authority.rfind('@') {
            Some(i) => (Some(authority[..i].to_string()), &authority[i + 1..]),
            None => (None, authority),
        };
        if servers.is_empty() {
            return Err(format!("no ZooKeeper servers in '{url}'"));
        }
        Ok(ZkUrl {
            servers: servers.to_string(),
            path,
            credentials,
        })
    }

    /// Whether `text` is a `zk://` URL (rather than a master's `ip:port`).
    pub fn is_zk(text: &str) -> bool {
        text.trim().starts_with("zk://")
    }

    /// The path a master contends under: Mesos refuses `/`.
    pub fn check_contender_path(&self) -> Result<(), String> {
        if self.path == "/" {
            return Err("Expecting a (chroot) path for ZooKeeper ('/' is not supported)".into());
        }
        Ok(())
    }

    fn acls(&self) -> Acls<'static> {
        match self.credentials {
            Some(_) => Acls::new(&EVERYONE_READ_CREATOR_ALL),
            None => OPEN_ACL_UNSAFE,
        }
    }

    /// `path/name` (no double slash under `/`).
    fn child(&self, name: &str) -> String {
        format!("{}/{name}", self.path.trim_end_matches('/'))
    }
}

impl FromStr for ZkUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ZkUrl::parse(s)
    }
}

impl fmt::Display for ZkUrl {
    /// The URL as given (credentials included: it is what `--zk` and an
    /// agent's `--master` take).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zk://")?;
        if let Some(credentials) = &self.credentials {
            write!(f, "{credentials}@")?;
        }
        write!(f, "{}{}", self.servers, self.path)
    }
}

impl fmt::Debug for ZkUrl {
    /// Without the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zk://")?;
        if let Some(credentials) = &self.credentials {
            let user = credentials.split(':').next().unwrap_or_default();
            write!(f, "{user}:***@")?;
        }
        write!(f, "{}{}", self.servers, self.path)
    }
}

/// `master` for logs: a `zk://` URL without its password.
pub fn redacted(master: &str) -> String {
    match ZkUrl::parse(master) {
        Ok(url) => format!("{url:?}"),
        Err(_) => master.to_string(),
    }
}

/// ZooKeeper settings of a master (`--zk`, `--zk_session_timeout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkConfig {
    /// The group.
    pub url: ZkUrl,
    /// Session timeout asked for (the server may grant less or more).
    pub session_timeout: Duration,
}

/// A member of the group, from its znode name `[label_]sequence`
/// (`Group::Membership`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The sequence number ZooKeeper appended.
    pub sequence: i64,
    /// What precedes the last `_`, if anything (`json.info`).
    pub label: Option<String>,
    /// The znode's name.
    pub name: String,
}

impl Membership {
    /// Parses a child name as `GroupProcess::cache` does: tokens split on
    /// `_`, the label is the first of several, the sequence the last (a
    /// name whose last token is not a number is no member).
    pub fn parse(name: &str) -> Option<Membership> {
        let tokens: Vec<&str> = name.split('_').filter(|t| !t.is_empty()).collect();
        let sequence = tokens.last()?.parse::<i32>().ok()?;
        let label = (tokens.len() > 1).then(|| tokens[0].to_string());
        Some(Membership {
            sequence: i64::from(sequence),
            label,
            name: name.to_string(),
        })
    }
}

/// The leader among `children`: the lowest sequence.
pub fn leading_member(children: &[String]) -> Option<Membership> {
    children
        .iter()
        .filter_map(|c| Membership::parse(c))
        .min_by_key(|m| m.sequence)
}

/// A `MasterInfo` as a master's znode holds it: Mesos JSON written as
/// stout writes a `JSON::Object` (keys sorted, compact).
pub fn master_info_json(info: &v1::MasterInfo) -> Result<String, String> {
    let value = mesos_proto::to_json(info).map_err(|e| e.to_string())?;
    let mut out = String::new();
    write_sorted(&value, &mut out);
    Ok(out)
}

fn write_sorted(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_sorted(&map[key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Reads a member's data as a `MasterInfo` according to its label.
pub fn parse_master_info(member: &Membership, data: &[u8]) -> Result<v1::MasterInfo, String> {
    match member.label.as_deref() {
        None => {
            let pid = String::from_utf8_lossy(data);
            master_info_from_pid(pid.trim())
                .ok_or_else(|| format!("Failed to parse '{pid}' as a master pid"))
        }
        Some(MASTER_INFO_LABEL) => v1::MasterInfo::decode(data)
            .map_err(|e| format!("Failed to parse data into MasterInfo: {e}")),
        Some(MASTER_INFO_JSON_LABEL) => mesos_proto::from_json_slice::<v1::MasterInfo>(data)
            .map_err(|e| format!("Failed to parse JSON into a valid MasterInfo: {e:#}")),
        Some(other) => Err(format!("Failed to parse data of unknown label '{other}'")),
    }
}

/// A `MasterInfo` for the master at `master@ip:port` (or `ip:port`), as
/// `protobuf::createMasterInfo` makes one for a pid.
pub fn master_info_from_pid(pid: &str) -> Option<v1::MasterInfo> {
    let address = pid.rsplit_once('@').map_or(pid, |(_, a)| a);
    let (host, port) = address.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    if host.is_empty() {
        return None;
    }
    let ip = host.parse::<Ipv4Addr>().ok();
    Some(v1::MasterInfo {
        id: format!("{address}-master"),
        ip: ip.map_or(0, |ip| u32::from_le_bytes(ip.octets())),
        port: u32::from(port),
        pid: Some(format!("master@{address}")),
        hostname: Some(host.to_string()),
        address: Some(Address {
            hostname: Some(host.to_string()),
            ip: ip.map(|ip| ip.to_string()),
            port: i32::from(port),
        }),
        ..Default::default()
    })
}

/// `ip:port` where the master of `info` serves HTTP: from its pid
/// (`master@ip:port`, what Mesos agents use), else its address.
pub fn master_endpoint(info: &v1::MasterInfo) -> Option<String> {
    if let Some((_, address)) = info.pid.as_deref().and_then(|p| p.rsplit_once('@')) {
        if address.contains(':') {
            return Some(address.to_string());
        }
    }
    let address = info.address.as_ref()?;
    let host = address.ip.clone().or_else(|| address.hostname.clone())?;
    Some(format!("{host}:{}", address.port))
}

/// Connects a new session and creates the group's znode (with its
/// parents), retrying until it works or `cancel` fires.
async fn connect(url: &ZkUrl, timeout: Duration, cancel: &CancellationToken) -> Option<Client> {
    let mut logged = false;
    loop {
        let attempt = async {
            let mut connector = Client::connector().with_session_timeout(timeout);
            if let Some(credentials) = &url.credentials {
                connector = connector.with_auth("digest", credentials.as_bytes());
            }
            let client = connector.connect(&url.servers).await?;
            if url.path != "/" {
                client
                    .mkdir(&url.path, &CreateMode::Persistent.with_acls(url.acls()))
                    .await?;
            }
            Ok::<Client, ZkError>(client)
        };
        let result = tokio::select! {
            () = cancel.cancelled() => return None,
            result = attempt => result,
        };
        match result {
            Ok(client) => {
                info!(
                    zk = ?url,
                    session = %client.session_id(),
                    timeout = ?client.session_timeout(),
                    "ZooKeeper session established"
                );
                return Some(client);
            }
            Err(e) => {
                if logged {
                    debug!(zk = ?url, error = %e, "cannot connect to ZooKeeper; retrying");
                } else {
                    warn!(zk = ?url, error = %e, "cannot connect to ZooKeeper; retrying");
                    logged = true;
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return None,
            () = tokio::time::sleep(RETRY_PAUSE) => {}
        }
    }
}

/// Resolves when the session is over: expired, closed or refused by the
/// server, or disconnected for longer than the negotiated session timeout
/// (Mesos expires the session locally then, to bound split brain).
async fn session_lost(client: &Client) -> String {
    let mut states = client.state_watcher();
    let mut state = states.peek_state();
    loop {
        match state {
            SessionState::Expired | SessionState::Closed | SessionState::AuthFailed => {
                return format!("ZooKeeper session {state:?}");
            }
            SessionState::Disconnected => {
                let timeout = client.session_timeout();
                tokio::select! {
                    changed = states.changed() => state = changed,
                    () = tokio::time::sleep(timeout) => {
                        return format!(
                            "Timed out waiting to connect to ZooKeeper; forcing ZooKeeper \
                             session (sessionId={}) expiration",
                            client.session_id()
                        );
                    }
                }
            }
            _ => state = states.changed().await,
        }
    }
}

/// Whether a failed request may work once the session reconnects.
fn retryable(error: &ZkError) -> bool {
    matches!(
        error,
        ZkError::ConnectionLoss | ZkError::Timeout | ZkError::Throttled
    )
}

/// Watches the group and publishes its leader until the session ends
/// (returns the error that ended it).
async fn watch_leader(
    client: &Client,
    url: &ZkUrl,
    leader: &watch::Sender<Option<v1::MasterInfo>>,
) -> ZkError {
    loop {
        let (children, watcher) = match client.list_and_watch_children(&url.path).await {
            Ok(found) => found,
            Err(e) if retryable(&e) => {
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
            Err(e) => return e,
        };
        let current = match leading_member(&children) {
            None => None,
            Some(member) => match client.get_data(&url.child(&member.name)).await {
                Ok((data, _)) => match parse_master_info(&member, &data) {
                    Ok(info) => Some(info),
                    Err(e) => {
                        error!(member = %member.name, error = %e, "Failed to detect the leader");
                        None
                    }
                },
                // Gone before its data was read: the watch fires next.
                Err(ZkError::NoNode) => None,
                Err(e) if retryable(&e) => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
                Err(e) => return e,
            },
        };
        leader.send_if_modified(|known| {
            if *known == current {
                return false;
            }
            match &current {
                Some(info) => info!(
                    leader = %info.pid.clone().unwrap_or_default(),
                    id = %info.id,
                    "Detected a new leader"
                ),
                None => info!("Detected a new leader: None"),
            }
            *known = current.clone();
            true
        });
        let event = watcher.changed().await;
        if event.session_state.is_terminated() {
            return state_error(event.session_state);
        }
    }
}

/// The error a request gets in a terminal session state.
fn state_error(state: SessionState) -> ZkError {
    match state {
        SessionState::AuthFailed => ZkError::AuthFailed,
        SessionState::Closed => ZkError::ClientClosed,
        _ => ZkError::SessionExpired,
    }
}

/// Who leads: `None` until a leader is detected (or while none is).
#[derive(Debug)]
pub struct MasterDetector {
    leader: watch::Sender<Option<v1::MasterInfo>>,
    cancel: CancellationToken,
}

impl MasterDetector {
    /// Always the master at `ip:port` (`StandaloneMasterDetector`).
    pub fn standalone(info: v1::MasterInfo) -> MasterDetector {
        MasterDetector {
            leader: watch::channel(Some(info)).0,
            cancel: CancellationToken::new(),
        }
    }

    /// The detector for `--master`: `zk://...` watches ZooKeeper (a
    /// session of `session_timeout`), anything else is the master's
    /// `ip:port` (or pid).
    pub fn create(master: &str, session_timeout: Duration) -> Result<MasterDetector, String> {
        if ZkUrl::is_zk(master) {
            return Ok(MasterDetector::zookeeper(
                ZkUrl::parse(master)?,
                session_timeout,
            ));
        }
        master_info_from_pid(master.trim())
            .map(MasterDetector::standalone)
            .ok_or_else(|| format!("invalid master address '{master}': expected ip:port"))
    }

    /// Watches the group at `url` in a task of its own (stopped when the
    /// detector is dropped).
    pub fn zookeeper(url: ZkUrl, session_timeout: Duration) -> MasterDetector {
        let (leader, _) = watch::channel(None);
        let cancel = CancellationToken::new();
        tokio::spawn(run_detector(
            url,
            session_timeout,
            leader.clone(),
            cancel.clone(),
        ));
        MasterDetector { leader, cancel }
    }

    /// The leader as last detected, and its changes.
    pub fn subscribe(&self) -> watch::Receiver<Option<v1::MasterInfo>> {
        self.leader.subscribe()
    }

    /// The leader as last detected.
    pub fn leader(&self) -> Option<v1::MasterInfo> {
        self.leader.borrow().clone()
    }
}

impl Drop for MasterDetector {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn run_detector(
    url: ZkUrl,
    timeout: Duration,
    leader: watch::Sender<Option<v1::MasterInfo>>,
    cancel: CancellationToken,
) {
    loop {
        let Some(client) = connect(&url, timeout, &cancel).await else {
            return;
        };
        let reason = tokio::select! {
            () = cancel.cancelled() => return,
            reason = session_lost(&client) => reason,
            error = watch_leader(&client, &url, &leader) => format!("watching {}: {error}", url.path),
        };
        // From the group's point of view every membership is gone.
        warn!(zk = ?url, %reason, "ZooKeeper session lost; detecting again");
        leader.send_if_modified(|known| known.take().is_some());
        drop(client);
    }
}

/// A master's candidacy: joins the group with `data` under the
/// `json.info` label and resolves when the membership is lost (the znode
/// deleted, or the session expired), with the reason. Returns `None`
/// when `cancel` fires; the znode is then deleted (`withdraw`).
pub(crate) async fn contend(
    url: &ZkUrl,
    timeout: Duration,
    data: &[u8],
    joined: impl Fn(&Membership),
    cancel: &CancellationToken,
) -> Option<String> {
    let client = connect(url, timeout, cancel).await?;
    let prefix = url.child(&format!("{MASTER_INFO_JSON_LABEL}_"));
    let options = CreateMode::EphemeralSequential.with_acls(url.acls());
    let sequence = loop {
        let created = tokio::select! {
            () = cancel.cancelled() => return None,
            created = client.create(&prefix, data, &options) => created,
        };
        match created {
            Ok((_, sequence)) => break sequence,
            Err(e) if retryable(&e) => {
                tokio::select! {
                    () = cancel.cancelled() => return None,
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                }
            }
            Err(e) => {
                return Some(format!(
                    "Failed to create ephemeral node at '{prefix}': {e}"
                ))
            }
        }
    };
    let name = format!("{MASTER_INFO_JSON_LABEL}_{sequence}");
    let node = url.child(&name);
    if let Some(member) = Membership::parse(&name) {
        joined(&member);
    }
    let gone = async {
        loop {
            match client.check_and_watch_stat(&node).await {
                Ok((None, _)) => return format!("membership {name} was removed"),
                Ok((Some(_), watcher)) => {
                    let event = watcher.changed().await;
                    if event.session_state.is_terminated() {
                        return format!("ZooKeeper session {:?}", event.session_state);
                    }
                }
                Err(e) if retryable(&e) => tokio::time::sleep(RETRY_PAUSE).await,
                Err(e) => return format!("watching membership {name}: {e}"),
            }
        }
    };
    tokio::select! {
        () = cancel.cancelled() => {
            // Withdraw: delete the membership so that a successor is
            // elected at once.
            match tokio::time::timeout(timeout, client.delete(&node, None)).await {
                Ok(Ok(())) => info!(membership = %name, "membership cancelled"),
                Ok(Err(e)) => debug!(membership = %name, error = %e, "cannot delete membership"),
                Err(_) => debug!(membership = %name, "timed out deleting membership"),
            }
            None
        }
        reason = session_lost(&client) => Some(reason),
        reason = gone => Some(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_like_mesos() {
        let url = ZkUrl::parse("zk://10.0.0.1:2181,10.0.0.2:2181/mesos").unwrap();
        assert_eq!(url.servers, "10.0.0.1:2181,10.0.0.2:2181");
        assert_eq!(url.path, "/mesos");
        assert_eq!(url.credentials, None);
        assert_eq!(url.to_string(), "zk://10.0.0.1:2181,10.0.0.2:2181/mesos");

        let url = ZkUrl::parse(" zk://jo:secret@h:1/a/b ").unwrap();
        assert_eq!(url.credentials.as_deref(), Some("jo:secret"));
        assert_eq!(url.servers, "h:1");
        assert_eq!(url.path, "/a/b");
        assert_eq!(format!("{url:?}"), "zk://jo:***@h:1/a/b");
        assert_eq!(url.child("x"), "/a/b/x");

        let root = ZkUrl::parse("zk://h:1").unwrap();
        assert_eq!(root.path, "/");
        assert_eq!(root.child("json.info_"), "/json.info_");
        assert!(root.check_contender_path().is_err());
        assert!(ZkUrl::parse("h:1/mesos").is_err());
        assert!(ZkUrl::parse("zk:///mesos").is_err());
        assert!(ZkUrl::is_zk("zk://h:1/m"));
        assert!(!ZkUrl::is_zk("127.0.0.1:5050"));
    }

    #[test]
    fn the_lowest_sequence_leads_whatever_its_label() {
        let children = [
            "json.info_0000000007".to_string(),
            "log_replicas".to_string(),
            "info_0000000005".to_string(),
            "json.info_0000000006".to_string(),
        ];
        let leader = leading_member(&children).unwrap();
        assert_eq!(leader.sequence, 5);
        assert_eq!(leader.label.as_deref(), Some("info"));
        assert_eq!(Membership::parse("log_replicas"), None);
        let bare = Membership::parse("0000000003").unwrap();
        assert_eq!((bare.sequence, bare.label), (3, None));
        assert_eq!(leading_member(&[]), None);
    }

    #[test]
    fn master_info_is_read_by_label() {
        let info = master_info_from_pid("master@127.0.0.1:5050").unwrap();
        assert_eq!(info.ip, 16_777_343);
        assert_eq!(info.port, 5050);
        assert_eq!(master_endpoint(&info).as_deref(), Some("127.0.0.1:5050"));

        let json = master_info_json(&info).unwrap();
        assert!(
            json.starts_with(r#"{"address":{"hostname":"127.0.0.1","ip":"127.0.0.1","port":5050},"hostname":"127.0.0.1","id":"#),
            "stout's sorted keys: {json}"
        );
        assert!(
            json.contains(r#""ip":16777343,"pid":"master@127.0.0.1:5050","port":5050"#),
            "{json}"
        );
        let member = Membership::parse("json.info_0000000001").unwrap();
        assert_eq!(parse_master_info(&member, json.as_bytes()).unwrap(), info);
        let member = Membership::parse("info_0000000001").unwrap();
        assert_eq!(
            parse_master_info(&member, &info.encode_to_vec()).unwrap(),
            info
        );
        let member = Membership::parse("0000000001").unwrap();
        assert_eq!(
            parse_master_info(&member, b"master@127.0.0.1:5050").unwrap(),
            info
        );
        let member = Membership::parse("other_0000000001").unwrap();
        assert!(parse_master_info(&member, b"{}").is_err());
        let member = Membership::parse("json.info_0000000001").unwrap();
        assert!(parse_master_info(&member, b"not json").is_err());
    }

    #[test]
    fn the_endpoint_falls_back_to_the_address() {
        let info = v1::MasterInfo {
            address: Some(Address {
                hostname: Some("m1".into()),
                ip: Some("10.0.0.1".into()),
                port: 5050,
            }),
            ..Default::default()
        };
        assert_eq!(master_endpoint(&info).as_deref(), Some("10.0.0.1:5050"));
        assert_eq!(master_endpoint(&v1::MasterInfo::default()), None);
    }
}
