//! mesos-local: a faithful local Mesos master and agent over the v1 HTTP
//! APIs, for the project's tests and demo (no Mesos binaries can be
//! installed here; real clusters run real Mesos).
//!
//! # Running it
//!
//! ```text
//! mesos-local master --ip IP --port 5050 [--work-dir DIR] [--zk zk://HOST:PORT[,...]/PATH]
//! mesos-local agent  --master IP:5050|zk://HOST:PORT[,...]/PATH --ip IP --port 5051 --work-dir DIR \
//!                    [--resources "cpus:4;mem:4096;ports:[31000-32000]"] [--attributes "rack:r1"] [--hostname NAME]
//! mesos-local run    --ip IP --port 5050 --agents N [--masters M --zk zk://...] [--work-dir DIR] [--resources ...]
//! ```
//!
//! Every flag is also read from `MESOS_LOCAL_<FLAG>` (`MESOS_LOCAL_PORT`,
//! `MESOS_LOCAL_RESOURCES` ...); durations use stout units (`500ms`,
//! `15secs`, `1mins`). Each process prints `... listening on http://ip:port`
//! on stdout (port 0 picks a free port) and logs to stderr
//! (`MESOS_LOCAL_LOG`/`RUST_LOG`, default `info`). Tuning flags:
//! `--heartbeat-interval`, `--agent-ping-timeout`,
//! `--max-agent-ping-timeouts`, `--allocation-interval`, `--offer-timeout`
//! (master); `--executor-registration-timeout`,
//! `--executor-shutdown-grace-period`, `--status-update-retry-interval`,
//! `--executor-heartbeat-interval`, `--executor-environment-variables`
//! (JSON) and the bench settings `--noop-executor` (tasks answered
//! RUNNING then FINISHED) and `--noop-hold` (tasks kept RUNNING until
//! killed) (agent).
//!
//! `--zk-session-timeout` (default `10secs`, Mesos' `--zk_session_timeout`)
//! is the ZooKeeper session timeout of masters and of agents with a
//! `zk://` master.
//!
//! `run` starts the master and N agents in one process; each agent has its
//! own HTTP listener (ports `port+1 ..`, or free ports with `--port 0`) and
//! work directory `<work-dir>/agent-<i>`, and talks to the master over
//! HTTP like a separate agent process. (One listener per agent keeps
//! `MESOS_AGENT_ENDPOINT` unambiguous when two agents run executors with
//! the same id, so no shared executor listener is used.)
//!
//! # Several masters (`--zk`)
//!
//! As Mesos masters do (see [`zookeeper`] and `master/leadership.rs`),
//! each `mesos-local master --zk zk://host:port[,...]/path` joins the
//! ZooKeeper group with an EPHEMERAL_SEQUENTIAL znode
//! `<path>/json.info_<10 digits>` holding its `MasterInfo` as JSON (keys
//! sorted as stout writes them; `ip` is the IPv4 address in network byte
//! order read as a uint32, `pid` is `master@ip:port`, plus `id`, `port`,
//! `hostname`, `version` and `address`). The lowest sequence leads. Only
//! the leader serves frameworks and agents; the others answer the
//! scheduler API (`/api/v1/scheduler`, `/master/api/v1/scheduler`) and
//! `/state` with `307 Temporary Redirect` and `Location:
//! //<leader hostname>:<port><path>` (a protocol-relative URL, as
//! `Master::Http::redirect` sends; the hostname is the IP unless
//! `--hostname` is set), and `503 No leader elected` while they know no
//! leader. `/redirect` and `/master/redirect` answer `307` to
//! `//<leader>:<port>` on every master (`/redirect/...`: 404); `/health`
//! and `/version` are served by all. The leader's `/state` has
//! `leader`, `leader_info` and `elected_time`. A master that loses its
//! candidacy while leading (its ZooKeeper session expired, or was
//! disconnected for the session timeout) or sees another leader aborts at
//! once: it stops serving and `mesos-local master` exits with status 1
//! ("committing suicide", as Mesos' `EXIT(EXIT_FAILURE)`), to be restarted
//! by its supervisor. A follower that loses its candidacy contends again.
//! A master stopped with SIGTERM deletes its znode, so a successor leads at
//! once; a killed one leads until its session expires.
//!
//! `mesos-local agent --master zk://...` follows the leader (the lowest
//! member, whatever its label; `json.info_` is read as JSON, `info_` as a
//! protobuf, an unlabelled member as a pid). When another master is
//! detected the agent re-registers with it at once with its agent id,
//! frameworks, executors and tasks (REREGISTER_SLAVE semantics; the
//! master asks it to reconcile tasks it did not report), and resends
//! unacknowledged status updates; while no master leads it keeps its tasks
//! and waits. A framework that subscribes again with its id to the new
//! leader (through a `307`, or by reading ZooKeeper) keeps its tasks.
//! [`client::SchedulerClient`] follows the `307` of SUBSCRIBE and sends
//! its later calls to the leader.
//!
//! `mesos-local run --masters 3 --zk zk://...` starts three such masters
//! (ports `port`, `port+1`, `port+2`, work directories `master-<i>`; the
//! agents take the next ports) and agents that follow the leader through
//! ZooKeeper, and supervises the masters: one that aborts is started
//! again on its port. More than one master needs `--zk`. Without `--zk`
//! everything is a single master, leading from the start, as before.
//!
//! # Using it from tests
//!
//! * In-process: [`cluster::start`] (or [`master::start`] and
//!   [`agent::start`]) returns handles with `addr`, `endpoint()` and an
//!   async `shutdown()`; dropping a handle also stops it and kills the
//!   agent's executors. [`testing::scheduler::start_cluster`] starts
//!   [`testing::fast_cluster_config`] and waits for the agents;
//!   [`client::SchedulerClient`] speaks the scheduler API in JSON or
//!   protobuf, and [`testing::scheduler`] has the usual steps (offers,
//!   accept, acknowledge, wait for a state).
//! * As processes: [`testing::MesosProcess`] runs `mesos-local master`,
//!   `agent` or `run` (e.g. an agent inside a network namespace through
//!   `ip netns exec`), [`testing::ProcessCluster`] runs `mesos-local run`.
//!   [`testing::binary`] builds and locates the binary from any package's
//!   tests; [`testing::workspace_binary`] does the same for every binary
//!   of the workspace that tests run.
//! * A custom executor for tests: `mesos-local test-executor` (hidden), see
//!   [`test_executor`] and [`testing::test_executor_info`].
//!
//! # What the master does (`POST /api/v1/scheduler`, also `/master/...`)
//!
//! SUBSCRIBE (stream with `Mesos-Stream-Id`, SUBSCRIBED, HEARTBEAT at once
//! and every 15 s), failover (old stream: ERROR "Framework failed over"),
//! `failover_timeout`, ACCEPT with LAUNCH and LAUNCH_GROUP and Mesos'
//! offer/task validation, DECLINE with filters, REVIVE, SUPPRESS, KILL,
//! SHUTDOWN, ACKNOWLEDGE, RECONCILE, MESSAGE, TEARDOWN, UPDATE_FRAMEWORK,
//! REQUEST; status codes 400/403/405/406/415/202/501 as in
//! `Master::Http::scheduler`. Offers come from the agents' unused
//! resources (DRF order, filters, suppression, roles); RESCIND on agent
//! disconnection or offer expiry; FAILURE on executor exit or agent loss.
//! `GET /version`, `/health`, `/state` (`/master/state`, shaped like Mesos'
//! `/state`).
//!
//! # What the agent does (`POST /api/v1/executor`)
//!
//! Custom executors run as real processes in their own session (via
//! `setsid`), in `<work-dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>`
//! with `stdout`/`stderr` files and the environment of Mesos'
//! `executorEnvironment()` (the agent's own environment is not inherited).
//! Status updates get `agent_id`, `executor_id` and container status (the
//! agent's IP unless the executor set network infos), are acknowledged to
//! the executor when the agent takes them (ACKNOWLEDGED, as Mesos'
//! `___statusUpdate` does), and are delivered to the scheduler one at a
//! time per task, retried (10 s doubling) until acknowledged. Tasks with a
//! `command` and no `executor` run under a built-in command executor that
//! lives inside the agent process (no `mesos-executor` process): STARTING,
//! RUNNING, FINISHED/FAILED (`Command exited with status N`), KILLING and
//! KILLED with the kill policy's grace period. Stopping an agent (SIGTERM,
//! or `shutdown()`) follows `Slave::shutdown`: every framework is shut
//! down, each executor gets SHUTDOWN (SIGTERM to its process group when it
//! has no connection) and its grace period to end its tasks and clean up
//! before SIGKILL, and the agent exits once they are gone. A restarted
//! agent kills executors its predecessor left in the same work directory.
//!
//! The master-agent protocol is the project's own: see [`protocol`].
//!
//! # Known differences from Mesos
//!
//! * No isolation: containers, images, volumes, cgroups and network
//!   namespaces of `ContainerInfo` are ignored; commands run on the host.
//! * Resources are name/role/value only (no dynamic reservations, disk
//!   infos, revocable or shared resources); RESERVE/UNRESERVE/CREATE/
//!   DESTROY and other offer operations are ignored (logged).
//! * No master registry (Mesos keeps one in a replicated log, `--quorum`,
//!   which a newly elected leader recovers): a restarted or newly elected
//!   master learns agents, their tasks and executors, and the frameworks
//!   running them only from agents re-registering and frameworks
//!   resubscribing. It forgets completed frameworks (a torn-down id may
//!   subscribe again), agents marked unreachable and gone ones (no
//!   `agent_reregister_timeout`: an agent that never comes back is not
//!   reported lost), and a framework with no task on any agent until it
//!   resubscribes.
//! * ZooKeeper: `zk://` URLs only (no `file://`), `digest` credentials in
//!   the URL, no contender or detector modules.
//! * Agents do not recover executors after a restart (they kill them and
//!   register as new agents, like `--recover=cleanup`).
//! * The fetcher copies local files (`file://` or paths) and extracts tar
//!   archives; other URI schemes fail the task.
//! * No authentication or authorization, no inverse offers, no operation
//!   feedback (RECONCILE_OPERATIONS answers OPERATION_UNKNOWN), no
//!   operator API (`/api/v1`).

pub mod agent;
pub mod api;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub use mesos_proto::duration;
pub mod error;
pub mod ids;
pub mod master;
pub mod protocol;
pub mod required;
pub mod resources;
mod server;
pub mod stream;
pub mod test_executor;
pub mod testing;
pub mod zookeeper;

pub use config::{AgentConfig, ClusterConfig, MasterConfig};
pub use error::Error;
