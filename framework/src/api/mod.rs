//! The framework's HTTP API and Prometheus metrics. The scheduler publishes a
//! [`Snapshot`] of its services and tasks (built by [`Views`]) on a `tokio::sync::watch` channel
//! and bumps the counters of a shared [`Metrics`]; [`serve`] answers
//! `GET /v1/services`, `/v1/services/{tenant}/{name}`, `/v1/tasks`, `/health`
//! and `/metrics` from them until its shutdown future resolves.
//! `DELETE /v1/tasks/{id}` is handed to the scheduler as a [`Command`].
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use ovn_mesos::api::{serve, ApiState, Metrics, Snapshot};
//!
//! let (publish, snapshot) = tokio::sync::watch::channel(Arc::new(Snapshot::default()));
//! let metrics = Arc::new(Metrics::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let state = ApiState { snapshot, metrics: metrics.clone(), commands: None, events: None, ha: None };
//! let server = tokio::spawn(serve(listener, state, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! }));
//! metrics.subscribed();
//! publish.send_replace(Arc::new(Snapshot { connected: true, ..Snapshot::default() }));
//! # server.await.expect("server task")?;
//! # Ok(())
//! # }
//! ```

mod control;
mod events;
mod gauges;
mod histogram;
mod metrics;
mod routes;
mod server;
mod snapshot;
mod text;
mod view;

pub use control::{
    Command, Commands, DefinitionAnswer, DefinitionRefused, DefinitionRequest, KillRefused,
};
pub use events::{ApiEvent, EventHub};
pub use metrics::Metrics;
pub use routes::{router, ApiState, HaRole, METRICS_CONTENT_TYPE};
pub use server::serve;
pub use snapshot::{DefinitionView, DeploymentView, ServiceView, Snapshot, TaskView};
pub use view::{Head, TaskSource, Views};
