//! A minimal Mesos agent executor endpoint for tests and the benchmark
//! (feature `test-agent`): `POST /api/v1/executor` on 127.0.0.1 answering
//! SUBSCRIBE with a RecordIO event stream (SUBSCRIBED first), UPDATE and
//! MESSAGE with 202, in the encoding of the call. The test pushes LAUNCH,
//! KILL, SHUTDOWN ... into an executor's stream, reads the updates it got
//! (with their arrival time) and, by default, acknowledges each update at
//! once as a real agent does after checkpointing it. It can also drop an
//! executor's stream to exercise reconnection.
//!
//! It is a driver of the executor API, not a Mesos: no offers, resources or
//! containerizer; [`spawn`] starts the executor binary with the environment
//! an agent would give it.

mod http;
mod server;
pub mod spawn;

pub use server::{Received, TestAgent};
pub use spawn::{ExecutorProcess, ExecutorSpec};
