//! The Mesos v1 scheduler API connection (`POST /api/v1/scheduler`): no
//! scheduling logic, only subscribing, reading events, sending calls and
//! noticing dead streams.
//!
//! * [`subscribe`] opens the event stream of a new framework or fails
//!   over an existing one (same framework id), following a non-leading
//!   master's 307 to the leader; 503 is [`MesosError::NoLeader`].
//! * [`Subscription::next`] yields the events; a stream without any event
//!   for `missed_heartbeats` heartbeat intervals is
//!   [`MesosError::HeartbeatTimeout`], an ERROR event saying the
//!   framework was removed is [`MesosError::FrameworkRemoved`].
//! * [`Caller`] sends ACCEPT, DECLINE, ACKNOWLEDGE, RECONCILE, KILL,
//!   SUPPRESS, REVIVE and TEARDOWN with the stream id.
//! * [`Backoff`] spaces resubscriptions; [`MesosError::is_retryable`]
//!   says whether to try again at all.
//! * [`MasterSpec`] is the master as `--master` gives it: `HOST:PORT` (or
//!   an `http[s]://` URL) or `zk://HOST:PORT[,HOST:PORT...]/PATH`; for the
//!   latter a [`Detector`] (a task of its own, one per URL and process)
//!   follows the leader in ZooKeeper as Mesos' detector does, [`subscribe`]
//!   subscribes to it and the [`Subscription`] ends with
//!   [`MesosError::LeaderChanged`] when another master takes over.
//!
//! Calls and events are protobuf by default, Mesos JSON with
//! [`Encoding::Json`] (the same choice as `mesos-execute`'s
//! `--content_type`).
//!
//! ```no_run
//! # async fn demo(framework: mesos_proto::v1::FrameworkInfo) -> Result<(), ovn_mesos::mesos::MesosError> {
//! use ovn_mesos::mesos::{subscribe, MesosConfig};
//! use mesos_proto::v1::scheduler::event;
//!
//! let config = MesosConfig::new("127.0.0.1:5050", framework);
//! let mut subscription = subscribe(&config, None).await?;
//! let caller = subscription.caller();
//! loop {
//!     let event = subscription.next().await?;
//!     if let Some(offers) = event.offers {
//!         let ids = offers.offers.into_iter().map(|o| o.id).collect();
//!         caller.decline(ids, 5.0).await?;
//!     }
//! }
//! # }
//! ```

mod backoff;
mod caller;
mod config;
mod connection;
mod detector;
mod endpoint;
mod error;
mod master;
mod operations;

pub use backoff::Backoff;
pub use caller::Caller;
pub use config::{
    MesosConfig, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_MISSED_HEARTBEATS, DEFAULT_REQUEST_TIMEOUT,
};
pub use connection::{subscribe, Subscription, MAX_REDIRECTS};
pub use detector::{Detection, Detector, Leader, MASTER_INFO_LABEL, SESSION_TIMEOUT};
pub use endpoint::{resolve_location, scheduler_url, SCHEDULER_PATH};
pub use error::{classify_master_message, MesosError};
pub use master::{MasterSpec, ZooKeeperUrl, DEFAULT_ZK_PORT, ZK_SCHEME};
pub use mesos_proto::Encoding;
pub use operations::launch_operation;
