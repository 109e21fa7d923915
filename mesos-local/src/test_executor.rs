//! `mesos-local test-executor` (hidden): a minimal v1 HTTP executor used
//! by the tests and the bench as a CUSTOM executor
//! (`ExecutorInfo.command.value = "<path>/mesos-local test-executor"`).
//!
//! It subscribes (JSON; protobuf when `TEST_EXECUTOR_ENCODING=protobuf`),
//! then sends the framework a MESSAGE `{"event":"subscribed","env":{..},
//! "pid":..,"pgid":..,"sid":..,"cwd":..}` describing itself. Each launched
//! task gets TASK_RUNNING (with `container_status.network_infos` carrying
//! the task label `ip` if present), then acts on the task's `data`:
//! `finish` (TASK_FINISHED), `fail` (TASK_FAILED), `exit:N` (the process
//! exits with code N, no terminal update), `updates:N` (N more
//! TASK_RUNNING updates), anything else stays running. KILL answers
//! TASK_KILLED; MESSAGE `x` is echoed as `echo:x`; ACKNOWLEDGED is
//! reported as a MESSAGE `{"event":"acknowledged","task":..,"uuid":..}`;
//! SHUTDOWN kills every task (TASK_KILLED) and exits 0; a closed stream
//! exits 0.

use std::collections::BTreeMap;

use futures::StreamExt;
use mesos_proto::v1::executor::{call, event, Call, Event};
use mesos_proto::v1::network_info::IpAddress;
use mesos_proto::v1::{task_status, ContainerStatus, NetworkInfo, TaskInfo, TaskState, TaskStatus};
use mesos_proto::{Encoding, RecordIoDecoder};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::json;

/// Why the test executor stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TestExecutorError {
    /// A required environment variable is missing.
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// Talking to the agent failed.
    #[error("agent request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The agent refused a call.
    #[error("agent answered {0}")]
    Refused(String),
    /// The event stream could not be decoded.
    #[error("cannot decode events: {0}")]
    Decode(String),
}

struct Executor {
    http: reqwest::Client,
    url: String,
    encoding: Encoding,
    framework_id: String,
    executor_id: String,
    running: BTreeMap<String, TaskInfo>,
}

fn env(name: &'static str) -> Result<String, TestExecutorError> {
    std::env::var(name).map_err(|_| TestExecutorError::MissingEnv(name))
}

impl Executor {
    fn call(&self, kind: call::Type) -> Call {
        Call {
            executor_id: self.executor_id.as_str().into(),
            framework_id: self.framework_id.as_str().into(),
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    async fn post(&self, call: &Call) -> Result<reqwest::Response, TestExecutorError> {
        let body = self
            .encoding
            .encode(call)
            .map_err(|e| TestExecutorError::Decode(e.to_string()))?;
        Ok(self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, self.encoding.content_type())
            .header(ACCEPT, self.encoding.content_type())
            .body(body)
            .send()
            .await?)
    }

    async fn update(&self, task: &TaskInfo, state: TaskState) -> Result<(), TestExecutorError> {
        let mut status = TaskStatus {
            task_id: task.task_id.clone(),
            uuid: Some(crate::ids::new_uuid_bytes()),
            timestamp: Some(crate::master::now_secs()),
            ..Default::default()
        };
        status.set_state(state);
        status.set_source(task_status::Source::Executor);
        let ip = task
            .labels
            .iter()
            .flat_map(|l| l.labels.iter())
            .find(|l| l.key == "ip")
            .and_then(|l| l.value.clone());
        if let (TaskState::TaskRunning, Some(ip)) = (state, ip) {
            status.container_status = Some(ContainerStatus {
                network_infos: vec![NetworkInfo {
                    ip_addresses: vec![IpAddress {
                        ip_address: Some(ip),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        let mut call = self.call(call::Type::Update);
        call.update = Some(call::Update { status });
        self.expect_accepted(&call).await
    }

    async fn message(&self, data: Vec<u8>) -> Result<(), TestExecutorError> {
        let mut call = self.call(call::Type::Message);
        call.message = Some(call::Message { data });
        self.expect_accepted(&call).await
    }

    async fn expect_accepted(&self, call: &Call) -> Result<(), TestExecutorError> {
        let response = self.post(call).await?;
        if response.status() == reqwest::StatusCode::ACCEPTED {
            Ok(())
        } else {
            let status = response.status();
            Err(TestExecutorError::Refused(format!(
                "{status}: {}",
                response.text().await.unwrap_or_default()
            )))
        }
    }

    async fn introduce(&self) -> Result<(), TestExecutorError> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let description = json!({
            "event": "subscribed",
            "env": vars,
            "pid": std::process::id(),
            "pgid": fields.get(2),
            "sid": fields.get(3),
            "cwd": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        });
        self.message(description.to_string().into_bytes()).await
    }

    /// Acts on one event; `false` ends the executor.
    async fn handle(&mut self, event: Event) -> Result<bool, TestExecutorError> {
        match event.r#type() {
            event::Type::Subscribed => self.introduce().await?,
            event::Type::Launch => {
                if let Some(launch) = event.launch {
                    self.launch(launch.task).await?;
                }
            }
            event::Type::LaunchGroup => {
                for task in event
                    .launch_group
                    .map(|g| g.task_group.tasks)
                    .unwrap_or_default()
                {
                    self.launch(task).await?;
                }
            }
            event::Type::Kill => {
                if let Some(task) = event
                    .kill
                    .and_then(|k| self.running.remove(&k.task_id.value))
                {
                    self.update(&task, TaskState::TaskKilled).await?;
                }
            }
            event::Type::Acknowledged => {
                if let Some(ack) = event.acknowledged {
                    let report = json!({"event": "acknowledged", "task": ack.task_id.value, "uuid": crate::ids::uuid_text(&ack.uuid)});
                    self.message(report.to_string().into_bytes()).await?;
                }
            }
            event::Type::Message => {
                let data = event.message.map(|m| m.data).unwrap_or_default();
                self.message([b"echo:".as_slice(), &data].concat()).await?;
            }
            event::Type::Shutdown => {
                for task in std::mem::take(&mut self.running).into_values() {
                    self.update(&task, TaskState::TaskKilled).await?;
                }
                return Ok(false);
            }
            _ => {}
        }
        Ok(true)
    }

    async fn launch(&mut self, task: TaskInfo) -> Result<(), TestExecutorError> {
        self.update(&task, TaskState::TaskRunning).await?;
        let action = String::from_utf8_lossy(task.data.as_deref().unwrap_or_default()).into_owned();
        if action == "finish" {
            self.update(&task, TaskState::TaskFinished).await?;
        } else if action == "fail" {
            self.update(&task, TaskState::TaskFailed).await?;
        } else if let Some(code) = action.strip_prefix("exit:") {
            std::process::exit(code.trim().parse().unwrap_or(1));
        } else if let Some(n) = action.strip_prefix("updates:") {
            for _ in 0..n.trim().parse::<u32>().unwrap_or(0) {
                self.update(&task, TaskState::TaskRunning).await?;
            }
            self.running.insert(task.task_id.value.clone(), task);
        } else {
            self.running.insert(task.task_id.value.clone(), task);
        }
        Ok(())
    }
}

/// Runs the test executor until SHUTDOWN or the stream closes.
pub async fn run() -> Result<(), TestExecutorError> {
    let encoding = match std::env::var("TEST_EXECUTOR_ENCODING").as_deref() {
        Ok("protobuf") => Encoding::Protobuf,
        _ => Encoding::Json,
    };
    let mut executor = Executor {
        http: reqwest::Client::new(),
        url: format!("http://{}/api/v1/executor", env("MESOS_AGENT_ENDPOINT")?),
        encoding,
        framework_id: env("MESOS_FRAMEWORK_ID")?,
        executor_id: env("MESOS_EXECUTOR_ID")?,
        running: BTreeMap::new(),
    };
    let mut subscribe = executor.call(call::Type::Subscribe);
    subscribe.subscribe = Some(call::Subscribe::default());
    let response = executor.post(&subscribe).await?;
    if !response.status().is_success() {
        return Err(TestExecutorError::Refused(response.status().to_string()));
    }
    let mut body = response.bytes_stream();
    let mut decoder = RecordIoDecoder::new();
    while let Some(chunk) = body.next().await {
        decoder.push(&chunk?);
        while let Some(record) = decoder
            .next_record()
            .map_err(|e| TestExecutorError::Decode(e.to_string()))?
        {
            let event: Event = encoding
                .decode(&record)
                .map_err(|e| TestExecutorError::Decode(e.to_string()))?;
            if !executor.handle(event).await? {
                return Ok(());
            }
        }
    }
    Ok(())
}
