//! High availability through ZooKeeper (`ovn-mesos run --zk`): the
//! instances given the same `zk://.../PATH` elect one leader, as Marathon's
//! do, with a Curator-compatible latch (`LockPrefix::new_curator`, lock name
//! `latch-`): each instance creates an ephemeral sequential znode
//! `PATH/leader/_c_<uuid>-latch-<seq>` holding its advertised API address,
//! and the lowest sequence leads. The others wait on their predecessor.
//!
//! * [`campaign`] waits until this instance leads and returns the held
//!   lock, which guards every write of the shared state
//!   ([`crate::state::StateStore::open_zk`]).
//! * [`session_lost`] completes when leadership can no longer be trusted:
//!   the session expired or was closed, or ZooKeeper was out of reach for
//!   the session timeout (by then the ensemble has expired the session and
//!   a standby may lead). The leader then stops scheduling at once.
//! * [`observe`] follows who leads, for `/health` and the standbys'
//!   redirects.
//!
//! What a deposed leader may still send is refused elsewhere: Mesos drops
//! its subscription when the new leader subscribes with the framework id,
//! and the NB refuses its writes by the leader epoch
//! ([`ovn::nb::nb_global::bump_epoch`]).

mod term;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, warn};
use zookeeper_client as zk;

use crate::mesos::ZooKeeperUrl;
use ovn::report::Chain;

pub use term::{advertise_api, run};

/// The Curator lock name of the latch (Curator's `LeaderLatch` uses it).
pub const LATCH_NAME: &str = "latch-";

/// Why ZooKeeper could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HaError {
    /// No session could be made.
    #[error("cannot reach ZooKeeper {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// ZooKeeper refused or failed an operation.
    #[error("ZooKeeper {url}: cannot {what}")]
    ZooKeeper {
        url: String,
        what: String,
        #[source]
        source: zk::Error,
    },
}

impl HaError {
    /// ZooKeeper refused for good (ACLs, a bad path): retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            HaError::ZooKeeper {
                source: zk::Error::NoAuth
                    | zk::Error::InvalidAcl
                    | zk::Error::BadArguments(_)
                    | zk::Error::NoChildrenForEphemerals,
                ..
            }
        )
    }
}

/// The latch's znode: `PATH/leader`.
pub fn leader_znode(url: &ZooKeeperUrl) -> String {
    format!("{}/leader", url.path)
}

/// Opens a session with `session_timeout`, giving up after `within`.
pub async fn connect(
    url: &ZooKeeperUrl,
    session_timeout: Duration,
    within: Duration,
) -> Result<zk::Client, HaError> {
    let servers = url.connect_string();
    let attempt = zk::Client::connector()
        .with_session_timeout(session_timeout)
        .with_fail_eagerly()
        .connect(&servers);
    match tokio::time::timeout(within, attempt).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(HaError::Unreachable {
            url: url.to_string(),
            reason: Chain(&e).to_string(),
        }),
        Err(_) => Err(HaError::Unreachable {
            url: url.to_string(),
            reason: format!("no session within {within:?}"),
        }),
    }
}

/// Joins the election with `advertise` as the latch node's data and waits
/// until this instance leads; the lock is released when the returned
/// client is dropped (or the session ends).
pub async fn campaign(
    client: &zk::Client,
    url: &ZooKeeperUrl,
    advertise: &str,
) -> Result<Arc<zk::OwnedLockClient>, HaError> {
    let dir = leader_znode(url);
    let failed = |what: &str| {
        let url = url.to_string();
        let what = what.to_owned();
        move |source| HaError::ZooKeeper { url, what, source }
    };
    let prefix = zk::LockPrefix::new_curator(&dir, LATCH_NAME)
        .map_err(failed(&format!("use {dir} for the latch")))?;
    let options = zk::LockOptions::new(zk::Acls::anyone_all())
        .with_ancestor_options(zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()))
        .map_err(failed("create the latch's parents"))?;
    let lock = client
        .lock(prefix, advertise.as_bytes(), options)
        .await
        .map_err(failed(&format!("join the election under {dir}")))?;
    Ok(Arc::new(lock.into_owned()))
}

/// The sequence of a latch node, `_c_<uuid>-latch-<seq>`.
fn sequence(name: &str) -> Option<i64> {
    let at = name.rfind(LATCH_NAME)? + LATCH_NAME.len();
    name[at..].parse().ok()
}

/// The leader's advertised API address, if any instance leads.
pub async fn leader(client: &zk::Client, url: &ZooKeeperUrl) -> Result<Option<String>, zk::Error> {
    let dir = leader_znode(url);
    loop {
        let children = match client.list_children(&dir).await {
            Ok(children) => children,
            Err(zk::Error::NoNode) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(first) = lowest(&children) else {
            return Ok(None);
        };
        match client.get_data(&format!("{dir}/{first}")).await {
            Ok((data, _)) => return Ok(Some(String::from_utf8_lossy(&data).into_owned())),
            // It went between the listing and the read: list again.
            Err(zk::Error::NoNode) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// How many instances are in the election (leader and standbys).
pub async fn contenders(client: &zk::Client, url: &ZooKeeperUrl) -> Result<usize, zk::Error> {
    match client.list_children(&leader_znode(url)).await {
        Ok(children) => Ok(children.iter().filter(|c| sequence(c).is_some()).count()),
        Err(zk::Error::NoNode) => Ok(0),
        Err(e) => Err(e),
    }
}

/// The latch node with the lowest sequence.
fn lowest(children: &[String]) -> Option<&str> {
    children
        .iter()
        .filter_map(|c| Some((sequence(c)?, c.as_str())))
        .min()
        .map(|(_, c)| c)
}

/// Publishes the leader's API address on `leader` until the session ends.
pub async fn observe(client: zk::Client, url: ZooKeeperUrl, leader: watch::Sender<Option<String>>) {
    let dir = leader_znode(&url);
    loop {
        if client.state().is_terminated() {
            return;
        }
        let watcher = match client.list_and_watch_children(&dir).await {
            Ok((_, watcher)) => Some(watcher),
            // No instance ever campaigned: wait for the latch's znode.
            Err(zk::Error::NoNode) => match client.check_and_watch_stat(&dir).await {
                // Made since the listing: list (and watch its children) again.
                Ok((Some(_), _)) => continue,
                Ok((None, watcher)) => {
                    leader.send_replace(None);
                    Some(watcher)
                }
                Err(e) => {
                    debug!(zk = %url, error = %Chain(&e), "cannot watch the latch");
                    None
                }
            },
            Err(e) => {
                debug!(zk = %url, error = %Chain(&e), "cannot watch the latch");
                None
            }
        };
        let Some(watcher) = watcher else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        match self::leader(&client, &url).await {
            Ok(now) => {
                leader.send_if_modified(|was| {
                    let changed = *was != now;
                    *was = now;
                    changed
                });
            }
            Err(e) => debug!(zk = %url, error = %Chain(&e), "cannot read the leader"),
        }
        watcher.changed().await;
    }
}

/// Completes, with the reason, when this session can no longer back a
/// leader: expired, closed, refused, or disconnected for 3/5 of the
/// session timeout the ensemble granted. The client reports a silent
/// connection as disconnected after 2/5 of it, so a leader cut off from
/// ZooKeeper stops by the time the ensemble may expire its session; a
/// connection that just moved to another member is back well before.
pub async fn session_lost(client: &zk::Client) -> String {
    let timeout = client.session_timeout() * 3 / 5;
    let mut watcher = client.state_watcher();
    let mut state = watcher.state();
    loop {
        match state {
            zk::SessionState::Expired => return "the ZooKeeper session expired".into(),
            zk::SessionState::Closed => return "the ZooKeeper session was closed".into(),
            zk::SessionState::AuthFailed => return "ZooKeeper refused the session".into(),
            zk::SessionState::Disconnected => {
                match tokio::time::timeout(timeout, watcher.changed()).await {
                    Ok(next) => state = next,
                    Err(_) => {
                        return format!(
                        "disconnected from ZooKeeper for {timeout:?} (3/5 of the session timeout)"
                    )
                    }
                }
            }
            zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                state = watcher.changed().await;
                if state == zk::SessionState::Disconnected {
                    warn!("disconnected from ZooKeeper; still leading until the session timeout");
                }
            }
        }
    }
}

/// Closes the session before the process ends, so that its latch node
/// goes at once (a standby leads now, not after the session timeout).
pub async fn close(client: zk::Client) {
    let mut watcher = client.state_watcher();
    drop(client);
    let closed = async { while !watcher.changed().await.is_terminated() {} };
    if tokio::time::timeout(CLOSE_WAIT, closed).await.is_err() {
        warn!("the ZooKeeper session did not close in time; the standbys wait for it to expire");
    }
}

/// How long a stop waits for the session to close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Completes when the lock node goes (an operator deleted it, or the
/// session that held it ended).
pub async fn lock_gone(lock: &zk::OwnedLockClient) -> String {
    let client = lock.client();
    let path = lock.lock_path().to_owned();
    loop {
        match client.check_and_watch_stat(&path).await {
            Ok((None, _)) => return format!("the leader's latch node {path} is gone"),
            Ok((Some(_), watcher)) => {
                let event = watcher.changed().await;
                if event.event_type == zk::EventType::NodeDeleted {
                    return format!("the leader's latch node {path} was deleted");
                }
                if event.session_state.is_terminated() {
                    return "the ZooKeeper session ended".into();
                }
            }
            Err(e) if client.state().is_terminated() => {
                return format!("the ZooKeeper session ended ({})", Chain(&e))
            }
            // Disconnected: `session_lost` times that; look again.
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_latch_sequence_leads() {
        let children = vec![
            "_c_2b0e-latch-0000000012".to_string(),
            "_c_91aa-latch-0000000003".to_string(),
            "_c_0000-latch-0000000007".to_string(),
            "stray".to_string(),
        ];
        assert_eq!(lowest(&children), Some("_c_91aa-latch-0000000003"));
        assert_eq!(lowest(&["stray".to_string()]), None);
        assert_eq!(sequence("_c_x-latch-0000000042"), Some(42));
        assert_eq!(sequence("_c_x-lock-0000000042"), None);
    }
}
