//! SUBSCRIBE (`POST /api/v1/scheduler`, like the scheduler driver's first
//! call): finds the leader in ZooKeeper for a `zk://` master, sends the
//! framework info (with the framework id when failing over), follows a
//! non-leading master's 307 to the leader, and waits for SUBSCRIBED on
//! the RecordIO event stream. The leader's URL and the
//! `Mesos-Stream-Id` are kept for the calls.

use mesos_proto::v1::scheduler::{call, Call};
use mesos_proto::v1::FrameworkId;
use mesos_proto::MESOS_STREAM_ID_HEADER;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::redirect::Policy;
use tracing::{info, warn};

use super::subscription::{Stream, Subscription};
use crate::mesos::caller::Caller;
use crate::mesos::config::MesosConfig;
use crate::mesos::detector::{Detector, LeaderWatch};
use crate::mesos::endpoint::{resolve_location, scheduler_url};
use crate::mesos::error::{MesosError, OK, TEMPORARY_REDIRECT};
use crate::mesos::master::MasterSpec;
use ovn::report::Chain;

/// Redirects (307 to the leading master) followed before giving up.
pub const MAX_REDIRECTS: usize = 3;

/// The call name of SUBSCRIBE in errors.
const SUBSCRIBE: &str = "SUBSCRIBE";

/// Subscribes the framework of `config` to the leading master, as a new
/// framework (`framework_id` `None`) or failing over the given one, and
/// returns once SUBSCRIBED arrived (within `config.request_timeout`).
///
/// A `zk://` master is looked up first in ZooKeeper through the process'
/// [`Detector`] of that URL (its session is set up within
/// `config.request_timeout`): no master registered is
/// [`MesosError::NoMaster`], ZooKeeper trouble [`MesosError::Detector`];
/// the subscription then ends with [`MesosError::LeaderChanged`] (or
/// `NoMaster`) when ZooKeeper names another leader (or none).
///
/// Follows up to [`MAX_REDIRECTS`] 307 redirects (protocol-relative
/// `Location: //host:port/api/v1/scheduler`); calls go to the master
/// that finally answered. Errors: 503 is [`MesosError::NoLeader`], an
/// ERROR event instead of SUBSCRIBED is [`MesosError::MasterError`] or
/// [`MesosError::FrameworkRemoved`] (the id must then be forgotten).
pub async fn subscribe(
    config: &MesosConfig,
    framework_id: Option<&FrameworkId>,
) -> Result<Subscription, MesosError> {
    let timeout = config.request_timeout;
    let (mut url, detected) = match config.master.parse::<MasterSpec>()? {
        MasterSpec::Direct(master) => (scheduler_url(&master)?, None),
        MasterSpec::ZooKeeper(zk) => {
            let mut detector = Detector::shared(&zk, timeout);
            let leader = detector.leader().await?;
            let url = scheduler_url(&leader.address).map_err(|e| MesosError::Detector {
                url: zk.to_string(),
                reason: format!("znode {}: {e}", leader.node),
            })?;
            info!(zk = %zk, node = %leader.node, leader = %leader.address, "subscribing to the leading master");
            (url, Some((detector, leader)))
        }
    };
    let client_error = |url: &str, source| MesosError::Request {
        call: SUBSCRIBE,
        master: url.to_string(),
        source,
    };
    // The stream gets a client (and so a connection) of its own; calls
    // share a pooled one.
    let stream_http = reqwest::Client::builder()
        .redirect(Policy::none())
        .connect_timeout(timeout)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| client_error(&url, e))?;
    let call_http = reqwest::Client::builder()
        .redirect(Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| client_error(&url, e))?;

    let mut info = config.framework.clone();
    info.id = framework_id.cloned();
    let call = Call {
        framework_id: framework_id.cloned(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    };
    let body = config
        .encoding
        .encode(&call)
        .map_err(|e| MesosError::InvalidCall(format!("cannot encode SUBSCRIBE: {}", Chain(&e))))?;
    let content_type = config.encoding.content_type();

    let mut redirects = 0;
    let response = loop {
        let request = stream_http
            .post(&url)
            .header(CONTENT_TYPE, content_type)
            .header(ACCEPT, content_type)
            .body(body.clone())
            .send();
        let response = tokio::time::timeout(timeout, request)
            .await
            .map_err(|_| MesosError::Timeout {
                call: SUBSCRIBE,
                after: timeout,
            })?
            .map_err(|e| MesosError::from_reqwest(SUBSCRIBE, &url, timeout, e))?;
        let status = response.status().as_u16();
        if status == OK {
            break response;
        }
        if status == TEMPORARY_REDIRECT {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let leader = resolve_location(&url, location);
            match leader {
                Some(leader) if redirects < MAX_REDIRECTS => {
                    info!(master = %url, leader = %leader, "master is not the leader; following the redirect");
                    url = leader;
                    redirects += 1;
                    continue;
                }
                _ => {
                    warn!(master = %url, location, redirects, "giving up on redirects");
                    return Err(MesosError::Redirects { master: url });
                }
            }
        }
        let text = tokio::time::timeout(timeout, response.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        return Err(MesosError::from_status(SUBSCRIBE, &url, status, &text));
    };

    let stream_id = response
        .headers()
        .get(MESOS_STREAM_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            MesosError::Decode(format!(
                "the SUBSCRIBE answer of {url} has no {MESOS_STREAM_ID_HEADER} header"
            ))
        })?;
    let mut stream = Stream::new(response, config.encoding, url.clone(), timeout);
    let subscribed = stream.first_subscribed().await?;
    stream.set_silence_limit(config.heartbeat_timeout(subscribed.heartbeat_interval_seconds));
    let caller = Caller::new(
        call_http,
        url.clone(),
        config.encoding,
        subscribed.framework_id.clone(),
        stream_id,
        timeout,
    );
    info!(
        framework_id = %subscribed.framework_id,
        master = %url,
        failover = framework_id.is_some(),
        heartbeat_interval = subscribed.heartbeat_interval_seconds.unwrap_or_default(),
        "subscribed"
    );
    let leader = detected.map(|(detector, leader)| LeaderWatch::new(detector, leader, url));
    Ok(Subscription::new(stream, subscribed, caller, leader))
}
