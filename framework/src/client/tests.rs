//! The client commands against a tiny axum server on 127.0.0.1:0 that
//! records what it is sent and answers canned JSON, as the API's contract
//! says.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::cli::{Cli, ClientCommand, Command, RunArgs, DEFAULT_API};
use crate::exit;

/// One request the server received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A canned API on 127.0.0.1:0.
struct Server {
    api: String,
    log: Log,
}

impl Server {
    async fn start() -> Server {
        let log: Log = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(answer).with_state(log.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server { api, log }
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// What `POST /v1/definitions` answers for the task in `body`.
fn applied(body: &str) -> Response {
    let task: Value = serde_json::from_str(body).unwrap_or_default();
    let id = task["task_id"]["value"].as_str().unwrap_or("").to_owned();
    let result = match id.as_str() {
        "refused" => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused.json: container.network_infos[0].labels: no logical_switch label",
            )
        }
        "web" => "updated",
        _ => "created",
    };
    let answer = json!({"definition": id, "result": result, "version": "ab", "deployment": null});
    Json(answer).into_response()
}

/// An event stream of two events, the first cut mid-line across chunks.
fn event_stream() -> Response {
    let chunks = [
        ": hello\n\ndata: {\"type\":\"task\",",
        "\"id\":1}\n",
        "\ndata: {\"type\":\"definition\"}\n\n",
    ];
    let stream = futures::stream::unfold(0, move |i| async move {
        let chunk = chunks.get(i)?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let bytes = Bytes::from_static(chunk.as_bytes());
        Some((Ok::<_, std::io::Error>(bytes), i + 1))
    });
    let content_type = [(header::CONTENT_TYPE, "text/event-stream")];
    (content_type, Body::from_stream(stream)).into_response()
}

/// The canned answers.
async fn answer(State(log): State<Log>, method: Method, uri: Uri, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        body: body.clone(),
    });
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::POST, ["v1", "definitions"]) => applied(&body),
        (Method::PUT, ["v1", "definitions", name, "instances"]) => {
            let n = serde_json::from_str::<Value>(&body).unwrap_or_default()["instances"].clone();
            let result = if n == 2 { "unchanged" } else { "scaled" };
            Json(json!({"definition": name, "result": result, "instances": n})).into_response()
        }
        (Method::DELETE, ["v1", "definitions", "nope"]) => {
            error(StatusCode::NOT_FOUND, "no definition nope")
        }
        (Method::DELETE, ["v1", "definitions", name]) => {
            Json(json!({"definition": name, "result": "deleted"})).into_response()
        }
        (Method::DELETE, ["v1", "deployments", name]) => {
            let id = format!("{name}@a1b2c3d4");
            Json(json!({"deployment": id, "result": "cancelled"})).into_response()
        }
        (Method::GET, ["v1", "definitions"]) => Json(json!({"definitions": [{
            "id": "nginxcoke", "tenant": "coke", "service": "coke-web", "network": "coke-net1",
            "instances": 2, "version": "a1b2c3d4e5f60718", "source": "file", "file": "/t/n.json",
            "running": 2, "healthy": 2, "draining": 0, "deployment": null, "waiting": null,
            "definition": {"name": "nginx"}, "some_new_field": 1
        }]}))
        .into_response(),
        (Method::GET, ["v1", "tasks"]) => Json(json!({"tasks": []})).into_response(),
        (Method::GET, ["v1", "services"]) => {
            (StatusCode::BAD_GATEWAY, "upstream <html> broke").into_response()
        }
        (Method::GET, ["v1", "events"]) => event_stream(),
        _ => error(StatusCode::NOT_FOUND, "no route"),
    }
}

/// What a command printed and the lines `main` would print for its error.
struct Ran {
    out: String,
    err: String,
    error: Option<Vec<String>>,
}

/// Parses `args` as the command line (after `ovn-mesos`) and runs it.
async fn ran(args: &[&str]) -> Ran {
    let cli = Cli::try_parse_from(std::iter::once("ovn-mesos").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let Command::Client(command) = &cli.command else {
        panic!("{args:?} is not a client command");
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = super::run(command, &mut out, &mut err).await;
    Ran {
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
        error: result.err().map(|e| exit::lines(&e)),
    }
}

fn task_file(dir: &Path, name: &str, id: &str) {
    let task = json!({"name": id, "task_id": {"value": id}});
    std::fs::write(dir.join(name), task.to_string()).unwrap();
}

#[tokio::test]
async fn apply_of_a_directory_sends_each_file_and_prints_one_line_each() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    task_file(dir.path(), "b.json", "web");
    task_file(dir.path(), "a.json", "nginxcoke");
    std::fs::write(dir.path().join("README"), "not sent").unwrap();
    let d = dir.path().to_str().unwrap();
    let ran = ran(&["apply", "--api", &server.api, "-f", d]).await;
    assert!(ran.error.is_none(), "{:?}", ran.error);
    assert_eq!(
        ran.out,
        "definition nginxcoke created\ndefinition web updated\n"
    );
    assert_eq!(ran.err, "");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|s| s.method == Method::POST && s.path == "/v1/definitions"));
    let a = std::fs::read_to_string(dir.path().join("a.json")).unwrap();
    assert_eq!(seen[0].body, a, "the file's bytes are sent as they are");
}

#[tokio::test]
async fn a_bad_json_file_sends_nothing_for_any_file() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    task_file(dir.path(), "a.json", "nginxcoke");
    std::fs::write(dir.path().join("b.json"), "{\"name\": ").unwrap();
    let d = dir.path().to_str().unwrap();
    let ran = ran(&["apply", "--api", &server.api, "-f", d]).await;
    let lines = ran.error.expect("apply fails");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let want = "b.json: invalid JSON: EOF while parsing a value at line 1 column 9";
    assert!(lines[0].ends_with(want), "{lines:?}");
    assert_eq!(ran.out, "");
    assert!(server.seen().is_empty(), "sent: {:?}", server.seen());
}

#[tokio::test]
async fn a_refused_file_is_one_line_and_the_others_are_still_sent() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    task_file(dir.path(), "a.json", "nginxcoke");
    task_file(dir.path(), "refused.json", "refused");
    task_file(dir.path(), "z.json", "web");
    let d = dir.path().to_str().unwrap();
    let ran = ran(&["apply", "--api", &server.api, "-f", d]).await;
    assert_eq!(
        ran.out,
        "definition nginxcoke created\ndefinition web updated\n"
    );
    let refused = dir.path().join("refused.json");
    let why = "refused.json: container.network_infos[0].labels: no logical_switch label";
    assert_eq!(
        ran.err,
        format!("ovn-mesos: error: {}: {why}\n", refused.display())
    );
    assert_eq!(ran.error.unwrap(), ["1 of 3 definition files not applied"]);
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn scale_delete_and_cancel_print_what_the_api_did() {
    let server = Server::start().await;
    let api = server.api.as_str();
    let scaled = ran(&["scale", "--api", api, "nginxcoke", "3"]).await;
    assert_eq!(scaled.out, "definition nginxcoke scaled to 3\n");
    let same = ran(&["scale", "nginxcoke", "2", "--api", api]).await;
    assert_eq!(same.out, "definition nginxcoke unchanged\n");
    let deleted = ran(&["delete", "--api", api, "nginxcoke"]).await;
    assert_eq!(deleted.out, "definition nginxcoke deleted\n");
    let cancelled = ran(&["cancel", "--api", api, "nginxcoke"]).await;
    assert_eq!(cancelled.out, "deployment of nginxcoke cancelled\n");
    let seen = server.seen();
    let requests: Vec<(Method, &str, &str)> = seen
        .iter()
        .map(|s| (s.method.clone(), s.path.as_str(), s.body.as_str()))
        .collect();
    let instances = "/v1/definitions/nginxcoke/instances";
    assert_eq!(
        requests,
        [
            (Method::PUT, instances, r#"{"instances":3}"#),
            (Method::PUT, instances, r#"{"instances":2}"#),
            (Method::DELETE, "/v1/definitions/nginxcoke", ""),
            (Method::DELETE, "/v1/deployments/nginxcoke", ""),
        ]
    );
}

#[tokio::test]
async fn an_error_answer_is_its_message_on_one_line() {
    let server = Server::start().await;
    let deleted = ran(&["delete", "--api", &server.api, "nope"]).await;
    assert_eq!(deleted.error.unwrap(), ["no definition nope"]);
    assert_eq!(deleted.out, "");
    let listed = ran(&["get", "services", "--api", &server.api]).await;
    assert_eq!(
        listed.error.unwrap(),
        ["the ovn-mesos API answered 502 Bad Gateway: upstream <html> broke"]
    );
}

#[tokio::test]
async fn an_api_that_is_not_there_is_named_with_the_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let ran = ran(&["get", "tasks", "--api", &addr.to_string()]).await;
    let want = format!("cannot reach the ovn-mesos API at http://{addr}: connection refused");
    assert_eq!(ran.error.unwrap(), [want]);
}

#[tokio::test]
async fn get_prints_a_table_or_the_list_as_json() {
    let server = Server::start().await;
    let table = ran(&["get", "definitions", "--api", &server.api]).await;
    assert!(table.error.is_none(), "{:?}", table.error);
    assert_eq!(
        table.out,
        "NAME       TENANT  SERVICE   INSTANCES  RUNNING  HEALTHY  VERSION   DEPLOYMENT  SOURCE  WAITING\n\
         nginxcoke  coke    coke-web  2          2        2        a1b2c3d4  -           file    -\n"
    );
    let empty = ran(&["get", "tasks", "--api", &server.api]).await;
    assert_eq!(
        empty.out,
        "ID  DEFINITION  STATE  HEALTHY  IP  HOST  VERSION\n"
    );
    let as_json = ran(&["get", "def", "-o", "json", "--api", &server.api]).await;
    let list: Value = serde_json::from_str(&as_json.out).unwrap();
    assert_eq!(list[0]["id"], "nginxcoke");
    assert_eq!(list[0]["some_new_field"], 1, "unknown fields printed");
    assert!(as_json.out.starts_with("[\n  {"), "pretty: {}", as_json.out);
}

#[tokio::test]
async fn events_prints_each_event_on_its_own_line_until_the_stream_ends() {
    let server = Server::start().await;
    let api = server.api.as_str();
    let ran = ran(&[
        "events",
        "--api",
        api,
        "--type",
        "task",
        "--type",
        "definition",
    ])
    .await;
    assert!(ran.error.is_none(), "{:?}", ran.error);
    assert_eq!(
        ran.out,
        "{\"type\":\"task\",\"id\":1}\n{\"type\":\"definition\"}\n"
    );
    let seen = server.seen();
    assert_eq!(seen[0].path, "/v1/events");
    assert_eq!(
        seen[0].query.as_deref(),
        Some("event_type=task&event_type=definition")
    );
}

#[tokio::test]
async fn get_watch_prints_the_table_again_after_events_at_most_every_200ms() {
    let server = Server::start().await;
    let started = tokio::time::Instant::now();
    let ran = ran(&["get", "tasks", "--watch", "--api", &server.api]).await;
    assert!(ran.error.is_none(), "{:?}", ran.error);
    // Two events in one chunk make one more table, not two.
    let header = "ID  DEFINITION  STATE  HEALTHY  IP  HOST  VERSION\n";
    assert_eq!(ran.out, format!("{header}\n{header}"));
    let paths: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/v1/events", "/v1/tasks", "/v1/tasks"]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_client_default_is_where_run_listens_by_default() {
    let run = ["ovn-mesos", "run", "--master", "m:5050", "--tasks", "t"];
    let Command::Run(RunArgs { api, .. }) = Cli::try_parse_from(run).unwrap().command else {
        panic!("not run");
    };
    let client = super::http::ApiClient::new(DEFAULT_API).unwrap();
    let url = client.url(&[]);
    let (host, port) = (url.host_str().unwrap(), url.port().unwrap());
    assert_eq!(format!("{host}:{port}"), api.to_string());
}

#[test]
fn the_client_commands_parse() {
    let apply = ["ovn-mesos", "apply", "-f", "a", "-f", "b", "--api", "h:1"];
    let Command::Client(ClientCommand::Apply(args)) = Cli::try_parse_from(apply).unwrap().command
    else {
        panic!("not apply");
    };
    assert_eq!(args.files, [Path::new("a"), Path::new("b")]);
    assert_eq!(args.api.api, "h:1");
    assert!(Cli::try_parse_from(["ovn-mesos", "apply"]).is_err());
    assert!(Cli::try_parse_from(["ovn-mesos", "scale", "web", "-1"]).is_err());
    assert!(Cli::try_parse_from(["ovn-mesos", "get", "pods"]).is_err());
    let events = ["ovn-mesos", "events", "--type", "a,b", "--type", "c"];
    let Command::Client(ClientCommand::Events(args)) = Cli::try_parse_from(events).unwrap().command
    else {
        panic!("not events");
    };
    assert_eq!(args.types, ["a", "b", "c"]);
}
