//! The scheduler API connection (`ovn_mesos::mesos`) against the in-process
//! local Mesos (`mesos_local`), in protobuf and JSON: subscription and
//! failover, offers declined, suppressed and revived, a command task
//! launched, acknowledged, reconciled and killed, teardown; and, against
//! small fake masters started here, redirects, 503, a silent stream and a
//! master that is not listening.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use mesos_local::cluster::ClusterHandle;
use mesos_local::testing::{command_task, framework_info, scheduler::start_cluster};
use mesos_proto::v1::scheduler::{event, Event};
use mesos_proto::v1::{task_status, FrameworkId, MasterInfo, Offer, TaskState, TaskStatus};
use ovn_mesos::mesos::{
    launch_operation, subscribe, Caller, Encoding, MesosConfig, MesosError, Subscription,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a step waits for the event it needs.
const WAIT: Duration = Duration::from_secs(30);

/// How long a step waits to be sure an offer does NOT come (the test
/// cluster allocates every 50 ms, so this is ten allocation rounds).
const NO_OFFER_WINDOW: Duration = Duration::from_millis(500);

const ENCODINGS: [Encoding; 2] = [Encoding::Protobuf, Encoding::Json];

/// Runs `body` against a fresh local Mesos cluster (one agent), which is
/// shut down afterwards whatever `body` returned.
async fn in_cluster(body: impl AsyncFnOnce(&ClusterHandle) -> Result<()>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = start_cluster(dir.path(), 1, |_| {})
        .await
        .context("starting the local Mesos cluster")?;
    let result = body(&cluster).await;
    cluster.shutdown().await;
    result
}

/// Runs `body` once per encoding against one fresh local cluster, with a
/// configuration for that encoding.
async fn each_encoding(
    body: impl AsyncFn(&ClusterHandle, MesosConfig) -> Result<()>,
) -> Result<()> {
    in_cluster(async |cluster| {
        for encoding in ENCODINGS {
            body(cluster, config(&cluster.master_endpoint(), encoding))
                .await
                .with_context(|| format!("{encoding:?}"))?;
        }
        Ok(())
    })
    .await
}

fn config(master: &str, encoding: Encoding) -> MesosConfig {
    MesosConfig {
        encoding,
        ..MesosConfig::new(master, framework_info("mesos-connection-test"))
    }
}

/// The next event satisfying `wanted`, skipping others, within [`WAIT`].
async fn next_matching(
    subscription: &mut Subscription,
    what: &str,
    mut wanted: impl FnMut(&Event) -> bool,
) -> Result<Event> {
    let wait = async {
        loop {
            let event = subscription
                .next()
                .await
                .with_context(|| format!("waiting for {what}"))?;
            if wanted(&event) {
                return Ok(event);
            }
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .with_context(|| format!("no {what} within {WAIT:?}"))?
}

async fn next_offers(subscription: &mut Subscription) -> Result<Vec<Offer>> {
    let event = next_matching(subscription, "OFFERS", |e| {
        e.r#type() == event::Type::Offers
    })
    .await?;
    let offers = event.offers.map(|o| o.offers).unwrap_or_default();
    if offers.is_empty() {
        bail!("an OFFERS event without offers");
    }
    Ok(offers)
}

/// Fails if an OFFERS event arrives within [`NO_OFFER_WINDOW`].
async fn expect_no_offers(subscription: &mut Subscription, why: &str) -> Result<()> {
    let wait = next_matching(subscription, "OFFERS", |e| {
        e.r#type() == event::Type::Offers
    });
    match tokio::time::timeout(NO_OFFER_WINDOW, wait).await {
        Err(_) => Ok(()),
        Ok(event) => bail!("an offer arrived although {why}: {event:?}"),
    }
}

/// Acknowledges every update of `task` (each carries a uuid, so
/// `acknowledge` must answer true) until it reaches `state`.
async fn acknowledged_until(
    subscription: &mut Subscription,
    caller: &Caller,
    task: &str,
    state: TaskState,
) -> Result<Vec<TaskState>> {
    let mut seen = Vec::new();
    loop {
        let what = format!("an update of {task} towards {}", state.as_str_name());
        let event = next_matching(subscription, &what, |e| {
            e.update
                .as_ref()
                .is_some_and(|u| u.status.task_id.as_str() == task)
        })
        .await?;
        let status = event.update.map(|u| u.status).unwrap_or_default();
        let acknowledged = caller.acknowledge(&status).await?;
        if !acknowledged {
            bail!("the agent's update {status:?} was not acknowledged");
        }
        seen.push(status.state());
        if status.state() == state {
            return Ok(seen);
        }
    }
}

/// The error that ends `subscription`'s stream, within [`WAIT`].
async fn stream_error(subscription: &mut Subscription, what: &str) -> Result<MesosError> {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Err(error) = subscription.next().await {
                return error;
            }
        }
    })
    .await
    .with_context(|| format!("{what} stayed open"))
}

/// The next update of `task` (not acknowledged).
async fn next_update(subscription: &mut Subscription, task: &str) -> Result<TaskStatus> {
    let event = next_matching(subscription, &format!("an update of {task}"), |e| {
        e.update
            .as_ref()
            .is_some_and(|u| u.status.task_id.as_str() == task)
    })
    .await?;
    Ok(event.update.map(|u| u.status).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_gets_subscribed_and_offers() -> Result<()> {
    each_encoding(async |cluster, config| {
        let mut subscription = subscribe(&config, None).await?;
        let subscribed = subscription.subscribed().clone();
        assert!(
            !subscribed.framework_id.value.is_empty(),
            "{:?}",
            config.encoding
        );
        assert_eq!(subscribed.heartbeat_interval_seconds, Some(15.0));
        assert!(subscribed.master_info.is_some(), "{:?}", config.encoding);
        assert_eq!(subscription.heartbeat_timeout(), Duration::from_secs(75));
        let caller = subscription.caller();
        assert_eq!(caller.framework_id(), &subscribed.framework_id);
        assert!(caller.master().contains(&cluster.master_endpoint()));
        let offers = next_offers(&mut subscription).await?;
        assert!(offers
            .iter()
            .all(|o| o.framework_id == subscribed.framework_id));
        caller.teardown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribing_after_a_drop_keeps_the_framework_id() -> Result<()> {
    each_encoding(async |_, config| {
        let first = subscribe(&config, None).await?;
        let id = first.subscribed().framework_id.clone();
        drop(first);
        let mut second = subscribe(&config, Some(&id)).await?;
        assert_eq!(
            second.subscribed().framework_id,
            id,
            "{:?}",
            config.encoding
        );
        next_offers(&mut second).await?;
        second.caller().teardown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_stream_of_a_failed_over_framework_gets_a_retryable_error() -> Result<()> {
    in_cluster(async |cluster| {
        let config = config(&cluster.master_endpoint(), Encoding::Protobuf);
        let mut old = subscribe(&config, None).await?;
        let id = old.subscribed().framework_id.clone();
        let new = subscribe(&config, Some(&id)).await?;
        let error = stream_error(&mut old, "the old stream").await?;
        assert!(
            matches!(error, MesosError::MasterError(ref m) if m.contains("failed over")),
            "{error:?}"
        );
        assert!(error.is_retryable());
        assert!(matches!(old.next().await, Err(MesosError::StreamEnded)));
        // The old caller's stream id is stale: 400, not retryable.
        let stale = old.caller().revive().await.expect_err("stale stream id");
        assert!(
            matches!(
                stale,
                MesosError::Status {
                    status: 400,
                    call: "REVIVE",
                    ..
                }
            ),
            "{stale:?}"
        );
        new.caller().teardown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_offers_stay_away_for_refuse_seconds() -> Result<()> {
    each_encoding(async |_, config| {
        let mut subscription = subscribe(&config, None).await?;
        let caller = subscription.caller();
        let ids = |offers: Vec<Offer>| offers.into_iter().map(|o| o.id).collect::<Vec<_>>();

        // Refusing for 0 s: the resources come straight back.
        let offers = next_offers(&mut subscription).await?;
        caller.decline(ids(offers), 0.0).await?;
        let offers = next_offers(&mut subscription).await?;

        // Refusing for an hour: they do not, until REVIVE clears the filter.
        caller.decline(ids(offers), 3600.0).await?;
        expect_no_offers(&mut subscription, "they were declined for an hour").await?;
        caller.revive().await?;
        next_offers(&mut subscription).await?;
        caller.teardown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppress_stops_offers_and_revive_brings_them_back() -> Result<()> {
    in_cluster(async |cluster| {
        let config = config(&cluster.master_endpoint(), Encoding::Json);
        let mut subscription = subscribe(&config, None).await?;
        let caller = subscription.caller();
        let offers = next_offers(&mut subscription).await?;
        caller.suppress().await?;
        caller
            .decline(offers.into_iter().map(|o| o.id).collect(), 0.0)
            .await?;
        expect_no_offers(&mut subscription, "the framework is suppressed").await?;
        caller.revive().await?;
        next_offers(&mut subscription).await?;
        caller.teardown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launched_task_is_acknowledged_reconciled_and_killed() -> Result<()> {
    each_encoding(async |_, config| {
        let mut subscription = subscribe(&config, None).await?;
        let caller = subscription.caller();
        let offer = next_offers(&mut subscription).await?.remove(0);
        let task_id = format!("sleeper-{:?}", config.encoding).to_lowercase();
        let task = command_task(
            &task_id,
            offer.agent_id.as_str(),
            "sleep 600",
            "cpus:0.1;mem:32",
        );
        caller
            .accept(
                vec![offer.id.clone()],
                vec![launch_operation(vec![task])],
                Some(1.0),
            )
            .await?;
        let seen = acknowledged_until(&mut subscription, &caller, &task_id, TaskState::TaskRunning)
            .await?;
        assert_eq!(seen.last(), Some(&TaskState::TaskRunning), "{seen:?}");

        // Implicit reconciliation: the master's answer has no uuid.
        caller.reconcile(vec![]).await?;
        let status = next_update(&mut subscription, &task_id).await?;
        assert_eq!(status.state(), TaskState::TaskRunning);
        assert_eq!(status.reason(), task_status::Reason::Reconciliation);
        assert!(status.uuid.is_none(), "{status:?}");
        assert!(!caller.acknowledge(&status).await?);

        // Explicit: the known task, and one the master never saw.
        caller
            .reconcile(vec![(
                task_id.as_str().into(),
                Some(offer.agent_id.clone()),
            )])
            .await?;
        let status = next_update(&mut subscription, &task_id).await?;
        assert_eq!(status.state(), TaskState::TaskRunning);
        assert!(!caller.acknowledge(&status).await?);
        caller.reconcile(vec![("ghost".into(), None)]).await?;
        let ghost = next_update(&mut subscription, "ghost").await?;
        assert_eq!(ghost.state(), TaskState::TaskLost, "{ghost:?}");
        assert!(!caller.acknowledge(&ghost).await?);

        caller
            .kill(task_id.as_str().into(), Some(offer.agent_id.clone()))
            .await?;
        let seen =
            acknowledged_until(&mut subscription, &caller, &task_id, TaskState::TaskKilled).await?;
        assert_eq!(seen.last(), Some(&TaskState::TaskKilled), "{seen:?}");
        caller.teardown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_teardown_the_old_framework_id_is_removed() -> Result<()> {
    each_encoding(async |_, config| {
        let mut subscription = subscribe(&config, None).await?;
        let id: FrameworkId = subscription.subscribed().framework_id.clone();
        subscription.caller().teardown().await?;
        let ended = stream_error(&mut subscription, "the stream of a torn down framework").await?;
        assert!(
            matches!(
                ended,
                MesosError::StreamEnded | MesosError::FrameworkRemoved(_)
            ),
            "{ended:?}"
        );
        let error = subscribe(&config, Some(&id))
            .await
            .expect_err("a removed framework cannot resubscribe");
        assert!(
            matches!(error, MesosError::FrameworkRemoved(ref m) if m.contains("removed")),
            "{:?}: {error:?}",
            config.encoding
        );
        assert!(!error.is_retryable());
        // A new framework (no id) is still welcome.
        subscribe(&config, None).await?.caller().teardown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_that_is_not_listening_is_a_connect_error_naming_it() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    drop(listener);
    let error = subscribe(&config(&address, Encoding::Protobuf), None)
        .await
        .expect_err("nothing listens");
    assert!(matches!(error, MesosError::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains(&address), "{error}");
    assert!(error.is_retryable());
    Ok(())
}

// ---- fake masters -------------------------------------------------------

/// Reads one HTTP request (headers and a Content-Length body).
async fn read_request(socket: &mut TcpStream) -> Result<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            bail!("the client closed the connection mid-request");
        }
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return Ok(text[..end].to_string());
            }
        }
    }
}

/// A fake master answering every request with `answer` (its bytes and
/// whether to keep the connection open afterwards); returns its address.
async fn fake_master(answer: impl Fn(usize) -> (Vec<u8>, bool) + Send + 'static) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        let mut count = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            if read_request(&mut socket).await.is_err() {
                continue;
            }
            count += 1;
            let (bytes, keep_open) = answer(count);
            if socket.write_all(&bytes).await.is_err() {
                continue;
            }
            if keep_open {
                held.push(socket);
            }
        }
    });
    Ok(address)
}

fn redirect_to(location: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A 200 SUBSCRIBE answer whose stream holds only SUBSCRIBED with the
/// given heartbeat interval, then stays silent.
fn silent_stream(encoding: Encoding, heartbeat_interval_seconds: f64) -> Vec<u8> {
    let subscribed = Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: "fake-framework".into(),
            heartbeat_interval_seconds: Some(heartbeat_interval_seconds),
            master_info: Some(MasterInfo::default()),
        }),
        ..Default::default()
    };
    let record = mesos_proto::recordio::encode(&encoding.encode(&subscribed).unwrap_or_default());
    let mut bytes = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nMesos-Stream-Id: fake-stream\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        encoding.content_type(),
        record.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&record);
    bytes.extend_from_slice(b"\r\n");
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_is_a_heartbeat_timeout() -> Result<()> {
    for encoding in ENCODINGS {
        let address = fake_master(move |_| (silent_stream(encoding, 0.1), true)).await?;
        let mut config = config(&address, encoding);
        config.missed_heartbeats = 3;
        let mut subscription = subscribe(&config, None).await?;
        assert_eq!(
            subscription.subscribed().framework_id.as_str(),
            "fake-framework"
        );
        let expected = Duration::from_millis(300);
        assert_eq!(subscription.heartbeat_timeout(), expected);
        let started = tokio::time::Instant::now();
        let error = tokio::time::timeout(WAIT, subscription.next())
            .await
            .context("the silent stream was never declared dead")?
            .expect_err("no event can arrive");
        assert!(
            matches!(error, MesosError::HeartbeatTimeout { after } if after == expected),
            "{error:?}"
        );
        assert!(started.elapsed() >= expected, "{:?}", started.elapsed());
        assert!(error.is_retryable());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_the_leader_is_followed_and_kept_for_calls() -> Result<()> {
    in_cluster(async |cluster| {
        let leader = cluster.master_endpoint();
        let location = format!("//{leader}/api/v1/scheduler");
        let follower = fake_master(move |_| (redirect_to(&location), false)).await?;
        let mut subscription = subscribe(&config(&follower, Encoding::Protobuf), None).await?;
        let caller = subscription.caller();
        assert_eq!(caller.master(), format!("http://{leader}/api/v1/scheduler"));
        let offers = next_offers(&mut subscription).await?;
        caller
            .decline(offers.into_iter().map(|o| o.id).collect(), 0.0)
            .await?;
        next_offers(&mut subscription).await?;
        caller.teardown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_redirects_and_no_leader_are_retryable_errors() -> Result<()> {
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = counter.clone();
    let looping = fake_master(move |n| {
        seen.store(n, std::sync::atomic::Ordering::SeqCst);
        (redirect_to("/api/v1/scheduler"), false)
    })
    .await?;
    let error = subscribe(&config(&looping, Encoding::Protobuf), None)
        .await
        .expect_err("redirect loop");
    assert!(matches!(error, MesosError::Redirects { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(
        counter.load(std::sync::atomic::Ordering::SeqCst),
        1 + ovn_mesos::mesos::MAX_REDIRECTS,
        "requests made"
    );

    let unavailable = fake_master(|_| {
        (
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_vec(),
            false,
        )
    })
    .await?;
    let error = subscribe(&config(&unavailable, Encoding::Json), None)
        .await
        .expect_err("503");
    assert!(
        matches!(error, MesosError::NoLeader { ref master } if master.contains(&unavailable)),
        "{error:?}"
    );
    assert!(error.is_retryable());
    Ok(())
}
