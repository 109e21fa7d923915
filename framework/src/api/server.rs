//! Serving the framework's HTTP API ([`super::routes`]) on a TCP listener
//! until the shutdown future the caller passes in resolves, then draining the
//! requests in flight.

use std::future::Future;
use std::io;

use tokio::net::TcpListener;
use tracing::info;

use super::routes::{router, ApiState};

/// Serves the API on `listener` until `shutdown` resolves, then stops taking
/// connections and waits for the requests in flight to finish.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    info!(%addr, "api listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    info!(%addr, "api stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use axum::http::header;
    use mesos_proto::v1::TaskState;
    use serde_json::{json, Value};
    use tokio::sync::{oneshot, watch};
    use tokio::task::JoinHandle;

    use super::*;
    use crate::api::snapshot::tests::{service, task};
    use crate::api::{Metrics, Snapshot};

    /// A server on 127.0.0.1:0, its publisher and its stop switch.
    struct Running {
        base: String,
        publish: watch::Sender<Arc<Snapshot>>,
        metrics: Arc<Metrics>,
        stop: oneshot::Sender<()>,
        server: JoinHandle<io::Result<()>>,
        client: reqwest::Client,
    }

    async fn start(snapshot: Snapshot) -> Running {
        start_with(snapshot, None).await
    }

    async fn start_with(snapshot: Snapshot, commands: Option<crate::api::Commands>) -> Running {
        start_ha(snapshot, commands, None).await
    }

    async fn start_ha(
        snapshot: Snapshot,
        commands: Option<crate::api::Commands>,
        ha: Option<crate::api::HaRole>,
    ) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (publish, receiver) = watch::channel(Arc::new(snapshot));
        let metrics = Arc::new(Metrics::default());
        let state = ApiState {
            events: None,
            ha,
            snapshot: receiver,
            metrics: metrics.clone(),
            commands,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        Running {
            base,
            publish,
            metrics,
            stop,
            server,
            client,
        }
    }

    impl Running {
        /// Status, content type and body of `method path`.
        async fn call(&self, method: reqwest::Method, path: &str) -> (u16, String, String) {
            let response = self
                .client
                .request(method, format!("{}{path}", self.base))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let content_type = response.headers()[header::CONTENT_TYPE.as_str()]
                .to_str()
                .unwrap()
                .to_string();
            (status, content_type, response.text().await.unwrap())
        }

        /// Status and JSON body of `GET path`, checking the body is one JSON line.
        async fn get(&self, path: &str) -> (u16, Value) {
            let (status, content_type, body) = self.call(reqwest::Method::GET, path).await;
            assert_eq!(content_type, "application/json", "{path}");
            assert!(!body.contains('\n'), "{path} body is one line: {body}");
            (status, serde_json::from_str(&body).unwrap())
        }

        /// Stops the server and waits for `serve` to return.
        async fn stop(self) {
            drop(self.client);
            self.stop.send(()).unwrap();
            let done = tokio::time::timeout(Duration::from_secs(10), self.server).await;
            let result = done.expect("serve returned within 10 s of the shutdown signal");
            result.unwrap().unwrap();
        }
    }

    fn busy_snapshot() -> Snapshot {
        let mut web = service("coke", "web", &["10.1.0.5:80"]);
        web.tasks = vec![task("a", "web", "TASK_RUNNING")];
        Snapshot {
            framework_id: Some("fw-1".to_string()),
            connected: true,
            master: "127.0.0.1:5050".to_string(),
            services: vec![web, service("pepsi", "db", &[])],
            tasks: vec![
                task("a", "web", "TASK_RUNNING"),
                task("b", "db", "TASK_STAGING"),
            ],
            ..Snapshot::default()
        }
    }

    #[tokio::test]
    async fn services_are_listed_and_found_by_tenant_and_name() {
        let api = start(busy_snapshot()).await;
        let (status, body) = api.get("/v1/services").await;
        assert_eq!(status, 200);
        let expected = serde_json::to_value(&busy_snapshot().services).unwrap();
        assert_eq!(body, json!({ "services": expected }));
        let (status, body) = api.get("/v1/services/coke/web").await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            serde_json::to_value(busy_snapshot().service("coke", "web")).unwrap()
        );
        assert_eq!(body["tasks"][0]["id"], "a");
        api.stop().await;
    }

    #[tokio::test]
    async fn an_unknown_service_is_a_404_naming_it() {
        let api = start(busy_snapshot()).await;
        let (status, body) = api.get("/v1/services/coke/x").await;
        assert_eq!(status, 404);
        assert_eq!(body, json!({ "error": "no service coke/x" }));
        api.stop().await;
    }

    #[tokio::test]
    async fn tasks_are_listed() {
        let api = start(busy_snapshot()).await;
        let (status, body) = api.get("/v1/tasks").await;
        assert_eq!(status, 200);
        let ids: Vec<&str> = body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(body["tasks"][1]["state"], "TASK_STAGING");
        api.stop().await;
    }

    #[tokio::test]
    async fn health_is_ok_when_connected_and_503_when_not() {
        let api = start(busy_snapshot()).await;
        let (status, body) = api.get("/health").await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["framework_id"], "fw-1");
        assert_eq!(body["master"], "127.0.0.1:5050");
        api.stop().await;

        let api = start(Snapshot::default()).await;
        let (status, body) = api.get("/health").await;
        assert_eq!(status, 503);
        assert_eq!(body["status"], "disconnected");
        assert!(body["framework_id"].is_null());
        api.stop().await;
    }

    #[tokio::test]
    async fn a_standby_says_who_leads_and_redirects_to_it() {
        let (leading_tx, leading) = watch::channel(false);
        let (leader_tx, leader) = watch::channel(None);
        let role = crate::api::HaRole {
            advertise: "10.0.0.2:8089".into(),
            leading,
            leader,
        };
        let api = start_ha(busy_snapshot(), None, Some(role)).await;
        // No leader yet: 503 everywhere but /metrics.
        let (status, body) = api.get("/health").await;
        assert_eq!((status, &body["role"]), (503, &json!("standby")), "{body}");
        assert!(body["leader"].is_null(), "{body}");
        assert_eq!(api.get("/v1/tasks").await.0, 503);
        assert_eq!(api.call(reqwest::Method::GET, "/metrics").await.0, 200);

        leader_tx.send_replace(Some("10.0.0.1:8089".into()));
        let (status, body) = api.get("/health").await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "standby");
        assert_eq!(body["leader"], "10.0.0.1:8089");
        let no_follow = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for (method, path) in [
            (reqwest::Method::POST, "/v1/definitions"),
            (reqwest::Method::PUT, "/v1/definitions/web/instances"),
            (reqwest::Method::GET, "/v1/tasks?x=1"),
            (reqwest::Method::DELETE, "/v1/tasks/t1"),
        ] {
            let response = no_follow
                .request(method.clone(), format!("{}{path}", api.base))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 307, "{method} {path}");
            assert_eq!(
                response.headers()["location"].to_str().unwrap(),
                format!("http://10.0.0.1:8089{path}"),
                "{method} {path}"
            );
        }

        // Elected: it serves, and names itself.
        leading_tx.send_replace(true);
        let (status, body) = api.get("/health").await;
        assert_eq!(status, 200);
        assert_eq!(body["role"], "leader");
        assert_eq!(body["leader"], "10.0.0.2:8089");
        assert_eq!(body["framework_id"], "fw-1");
        assert_eq!(api.get("/v1/tasks").await.0, 200);
        api.stop().await;
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text_with_counters_and_gauges() {
        let api = start(busy_snapshot()).await;
        api.metrics.status_update(TaskState::TaskRunning, None);
        let (status, content_type, body) = api.call(reqwest::Method::GET, "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        assert!(body.contains("\novn_mesos_task_updates_total{state=\"TASK_RUNNING\"} 1\n"));
        assert!(body.contains("\novn_mesos_connected 1\n"));
        assert!(body.contains("\novn_mesos_services 2\n"));
        assert!(body.contains("\novn_mesos_tasks{state=\"TASK_STAGING\"} 1\n"));
        api.stop().await;
    }

    #[tokio::test]
    async fn unknown_paths_are_404_and_other_methods_405_as_json() {
        let api = start(busy_snapshot()).await;
        let (status, body) = api.get("/v2/nothing").await;
        assert_eq!(status, 404);
        assert_eq!(body, json!({ "error": "no route /v2/nothing" }));
        let (status, body) = api.get("/v1/services/%FF/web").await;
        assert_eq!(status, 400, "a tenant that is not UTF-8: {body}");
        assert!(body["error"].as_str().unwrap().contains("UTF-8"), "{body}");
        let (status, _) = api.get("/v1/services/coke").await;
        assert_eq!(status, 404, "a service path needs tenant and name");
        for path in [
            "/v1/services",
            "/v1/services/coke/web",
            "/v1/tasks",
            "/health",
            "/metrics",
        ] {
            let (status, content_type, body) = api.call(reqwest::Method::POST, path).await;
            assert_eq!(status, 405, "POST {path}");
            assert_eq!(content_type, "application/json");
            let error = format!("method POST not allowed on {path}");
            assert_eq!(
                serde_json::from_str::<Value>(&body).unwrap(),
                json!({ "error": error })
            );
        }
        let (status, _, _) = api.call(reqwest::Method::DELETE, "/v1/tasks").await;
        assert_eq!(status, 405);
        api.stop().await;
    }

    #[tokio::test]
    async fn a_task_kill_is_handed_to_the_scheduler_and_its_answer_mapped() {
        use crate::api::{Command, KillRefused};
        let (commands, mut requests) = tokio::sync::mpsc::channel(4);
        // The scheduler's end: answers by task id.
        let scheduler = tokio::spawn(async move {
            let mut asked = Vec::new();
            while let Some(Command::Kill { task_id, reply }) = requests.recv().await {
                let answer = match task_id.as_str() {
                    "web.1" => Ok(()),
                    "down" => Err(KillRefused::NotConnected),
                    "refused" => Err(KillRefused::Mesos {
                        task: task_id.clone(),
                        reason: "the master said no".into(),
                    }),
                    other => Err(KillRefused::UnknownTask(other.to_owned())),
                };
                asked.push(task_id);
                let _ = reply.send(answer);
            }
            asked
        });
        let api = start_with(busy_snapshot(), Some(commands)).await;
        let delete = |path: &'static str| {
            let api = &api;
            async move {
                let (status, content_type, body) = api.call(reqwest::Method::DELETE, path).await;
                assert_eq!(content_type, "application/json", "{path}");
                (status, serde_json::from_str::<Value>(&body).unwrap())
            }
        };
        assert_eq!(
            delete("/v1/tasks/web.1").await,
            (202, json!({ "task": "web.1", "kill": "sent" }))
        );
        assert_eq!(
            delete("/v1/tasks/ghost").await,
            (404, json!({ "error": "no task ghost" }))
        );
        let (status, body) = delete("/v1/tasks/down").await;
        assert_eq!(status, 503, "{body}");
        let (status, body) = delete("/v1/tasks/refused").await;
        assert_eq!(status, 502);
        assert_eq!(
            body,
            json!({ "error": "KILL of task refused failed: the master said no" })
        );
        api.stop().await;
        let asked = scheduler.await.unwrap();
        assert_eq!(asked, ["web.1", "ghost", "down", "refused"]);
    }

    #[tokio::test]
    async fn a_task_kill_without_a_scheduler_is_a_503() {
        let api = start(busy_snapshot()).await;
        let (status, _, body) = api.call(reqwest::Method::DELETE, "/v1/tasks/a").await;
        assert_eq!(status, 503);
        assert!(body.contains("serves no scheduler"), "{body}");
        api.stop().await;
    }

    #[tokio::test]
    async fn a_published_snapshot_shows_up_in_the_next_response() {
        let api = start(Snapshot::default()).await;
        let (status, body) = api.get("/v1/services").await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({ "services": [] }));
        assert_eq!(api.get("/health").await.0, 503);

        api.publish.send_replace(Arc::new(busy_snapshot()));
        let (_, body) = api.get("/v1/services").await;
        assert_eq!(body["services"].as_array().unwrap().len(), 2);
        assert_eq!(api.get("/health").await.0, 200);
        let (_, _, text) = api.call(reqwest::Method::GET, "/metrics").await;
        assert!(text.contains("\novn_mesos_connected 1\n"), "{text}");
        api.stop().await;
    }

    #[tokio::test]
    async fn after_shutdown_the_port_refuses_connections() {
        let api = start(Snapshot::default()).await;
        let base = api.base.clone();
        assert_eq!(api.get("/health").await.0, 503);
        api.stop().await;
        let error = reqwest::get(format!("{base}/health")).await.unwrap_err();
        assert!(error.is_connect(), "{error}");
    }
}
