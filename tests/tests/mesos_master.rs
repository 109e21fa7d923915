//! The local Mesos master's scheduler endpoint over HTTP, in JSON and
//! protobuf: subscription and heartbeats, every error status of
//! `POST /api/v1/scheduler`, and the read-only endpoints `/version`,
//! `/health` and `/state`. Master and agents run in-process on port 0.

use std::time::{Duration, Instant};

use mesos_local::client::{EventStream, SchedulerClient};
use mesos_local::testing::scheduler::{
    accept, call, next_offers, reach, start_cluster, subscribe, WAIT,
};
use mesos_local::testing::{command_task, framework_info};
use mesos_proto::v1::scheduler::{call, event, Call};
use mesos_proto::v1::TaskState;
use mesos_proto::{Encoding, MESOS_STREAM_ID_HEADER};
use reqwest::StatusCode;

const BOTH: [Encoding; 2] = [Encoding::Json, Encoding::Protobuf];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_streams_subscribed_then_heartbeats_in_both_encodings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 0, |c| {
        c.master.heartbeat_interval = Duration::from_millis(200)
    })
    .await
    .expect("cluster");
    for encoding in BOTH {
        let mut client = SchedulerClient::new(&cluster.master_endpoint(), encoding);
        let mut events = client
            .subscribe(framework_info("hb"))
            .await
            .expect("subscribed");
        assert!(
            client.stream_id.as_ref().is_some_and(|s| s.len() == 36),
            "stream id header"
        );
        assert!(client.framework_id.is_some());
        let first = events.next().await.expect("first event after SUBSCRIBED");
        assert_eq!(
            first.r#type(),
            event::Type::Heartbeat,
            "a heartbeat at once"
        );
        let started = Instant::now();
        events
            .next_of(event::Type::Heartbeat, WAIT)
            .await
            .expect("periodic heartbeat");
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "heartbeats are periodic"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_carries_framework_id_heartbeat_interval_and_master_info() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 0, |_| {}).await.expect("cluster");
    let body = r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"raw"}}}"#;
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/api/v1/scheduler",
            cluster.master_endpoint()
        ))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response
            .headers()
            .get("transfer-encoding")
            .map(|v| v.as_bytes()),
        Some(&b"chunked"[..])
    );
    assert!(response.headers().contains_key(MESOS_STREAM_ID_HEADER));
    let mut events = EventStream::new(response, Encoding::Json);
    let subscribed = events
        .next()
        .await
        .expect("SUBSCRIBED")
        .subscribed
        .expect("subscribed set");
    assert_eq!(subscribed.heartbeat_interval_seconds, Some(15.0));
    assert!(subscribed.framework_id.value.ends_with("-0000"));
    let master_info = subscribed.master_info.expect("master info");
    assert_eq!(master_info.version.as_deref(), Some("1.11.0"));
    assert_eq!(master_info.port, u32::from(cluster.master.addr.port()));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_405_415_406_or_400() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 0, |_| {}).await.expect("cluster");
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/v1/scheduler", cluster.master_endpoint());
    let post = |content_type: Option<&str>, body: &[u8]| {
        let mut request = http.post(&url).body(body.to_vec());
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct.to_string());
        }
        request
    };
    let get = http.get(&url).send().await.expect("sent");
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.headers()["allow"], "POST");
    let cases: [(Option<&str>, &[u8], StatusCode); 4] = [
        (Some("text/plain"), b"x", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (None, b"{}", StatusCode::BAD_REQUEST),
        (Some("application/json"), b"{oops", StatusCode::BAD_REQUEST),
        (
            Some("application/x-protobuf"),
            &[0xff, 0xff, 0xff],
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (content_type, body, expected) in cases {
        let status = post(content_type, body)
            .send()
            .await
            .expect("sent")
            .status();
        assert_eq!(status, expected, "{content_type:?} {body:?}");
    }
    let missing_user = br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"n"}}}"#;
    let response = post(Some("application/json"), missing_user)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response
        .text()
        .await
        .expect("body")
        .contains("framework_info.user"));
    let subscribe_body =
        br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}"#;
    let refused = post(Some("application/json"), subscribe_body).header("Accept", "text/html");
    assert_eq!(
        refused.send().await.expect("sent").status(),
        StatusCode::NOT_ACCEPTABLE
    );
    let with_stream_id =
        post(Some("application/json"), subscribe_body).header(MESOS_STREAM_ID_HEADER, "x");
    assert_eq!(
        with_stream_id.send().await.expect("sent").status(),
        StatusCode::BAD_REQUEST
    );
    let mismatch = br#"{"type":"SUBSCRIBE","framework_id":{"value":"a"},"subscribe":{"framework_info":{"user":"u","name":"n","id":{"value":"b"}}}}"#;
    let response = post(Some("application/json"), mismatch)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response
        .text()
        .await
        .expect("body")
        .contains("'framework_id' differs"));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_need_a_subscribed_framework_and_its_stream_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 0, |_| {}).await.expect("cluster");
    for encoding in BOTH {
        let (client, events) = subscribe(
            &cluster.master_endpoint(),
            encoding,
            framework_info("calls"),
        )
        .await
        .expect("subscribed");
        let mut stranger = client.clone();
        stranger.framework_id = Some("no-such-framework".into());
        assert_eq!(
            stranger
                .send(call(call::Type::Revive))
                .await
                .expect("sent")
                .0,
            StatusCode::BAD_REQUEST
        );
        let mut anonymous = client.clone();
        anonymous.stream_id = None;
        let (code, body) = anonymous
            .send(call(call::Type::Revive))
            .await
            .expect("sent");
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(String::from_utf8_lossy(&body).contains("Mesos-Stream-Id"));
        let mut wrong = client.clone();
        wrong.stream_id = Some("00000000-0000-0000-0000-000000000000".into());
        assert_eq!(
            wrong.send(call(call::Type::Revive)).await.expect("sent").0,
            StatusCode::BAD_REQUEST
        );
        let short_uuid = Call {
            acknowledge: Some(call::Acknowledge {
                agent_id: "a".into(),
                task_id: "t".into(),
                uuid: b"too-short".to_vec(),
            }),
            ..call(call::Type::Acknowledge)
        };
        let (code, body) = client.send(short_uuid).await.expect("sent");
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(String::from_utf8_lossy(&body).contains("Not a valid UUID"));
        assert_eq!(
            client.send(call(call::Type::Kill)).await.expect("sent").0,
            StatusCode::BAD_REQUEST
        );
        for kind in [
            call::Type::Revive,
            call::Type::Suppress,
            call::Type::Request,
        ] {
            let mut c = call(kind);
            if kind == call::Type::Request {
                c.request = Some(call::Request::default());
            }
            assert_eq!(
                client.send(c).await.expect("sent").0,
                StatusCode::ACCEPTED,
                "{kind:?}"
            );
        }
        assert_eq!(
            client
                .send(call(call::Type::Unknown))
                .await
                .expect("sent")
                .0,
            StatusCode::NOT_IMPLEMENTED
        );
        // A framework whose stream dropped is disconnected: 403.
        drop(events);
        let deadline = Instant::now() + WAIT;
        while client.send(call(call::Type::Revive)).await.expect("sent").0 != StatusCode::FORBIDDEN
        {
            assert!(
                Instant::now() < deadline,
                "waiting for 403 after the stream dropped"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_health_and_state_endpoints() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = start_cluster(dir.path(), 1, |c| {
        c.agent.attributes = Some("rack:r1;zone:2".into())
    })
    .await
    .expect("cluster");
    let (client, mut events) = subscribe(
        &cluster.master_endpoint(),
        Encoding::Json,
        framework_info("observed"),
    )
    .await
    .expect("subscribed");
    let offer = next_offers(&mut events).await.expect("offers").remove(0);
    let task = command_task(
        "watched",
        &offer.agent_id.value,
        "sleep 1000",
        "cpus:0.5;mem:64",
    );
    client
        .call(accept(&[&offer], vec![task], None))
        .await
        .expect("accepted");
    reach(&client, &mut events, "watched", TaskState::TaskRunning)
        .await
        .expect("running");
    let http = reqwest::Client::new();
    let base = format!("http://{}", cluster.master_endpoint());
    let version: serde_json::Value = http
        .get(format!("{base}/version"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(version["version"], "1.11.0");
    let health = http
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.bytes().await.expect("body").is_empty());
    for path in ["/state", "/master/state"] {
        let state: serde_json::Value = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        let agent = &state["slaves"][0];
        assert_eq!(agent["attributes"]["rack"], "r1");
        assert_eq!(agent["attributes"]["zone"], 2.0);
        assert_eq!(agent["resources"]["cpus"], 4.0);
        assert_eq!(agent["resources"]["ports"], "[31000-32000]");
        assert_eq!(agent["used_resources"]["cpus"], 0.5);
        let framework = &state["frameworks"][0];
        assert_eq!(framework["name"], "observed");
        let task = &framework["tasks"][0];
        assert_eq!(task["id"], "watched");
        assert_eq!(task["state"], "TASK_RUNNING");
        assert_eq!(task["slave_id"], agent["id"]);
        let ip = task["statuses"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["state"] == "TASK_RUNNING"))
            .map(|s| {
                s["container_status"]["network_infos"][0]["ip_addresses"][0]["ip_address"].clone()
            });
        assert_eq!(ip, Some(serde_json::json!("127.0.0.1")), "{path}: {task}");
    }
    cluster.shutdown().await;
}
