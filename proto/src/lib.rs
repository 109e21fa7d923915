//! Mesos v1 protobuf messages, the Mesos JSON mapping and RecordIO framing:
//! the wire formats shared by the ovn-mesos framework, its executor and the
//! local Mesos master and agent.
//!
//! # Layout
//!
//! The generated types follow the protobuf packages of
//! `proto/mesos/v1/**.proto` (same names and numbers as Apache Mesos):
//!
//! | protobuf package      | Rust module                      | e.g.                              |
//! |-----------------------|----------------------------------|-----------------------------------|
//! | `mesos.v1`            | [`v1`]                           | [`v1::TaskInfo`], [`v1::TaskStatus`] |
//! | `mesos.v1.scheduler`  | [`v1::scheduler`]                | [`v1::scheduler::Call`], [`v1::scheduler::Event`] |
//! | `mesos.v1.executor`   | [`v1::executor`]                 | [`v1::executor::Call`], [`v1::executor::Event`] |
//!
//! prost renames types to Rust case (`TaskID` is [`v1::TaskId`], `URL` is
//! [`v1::Url`]); a nested message `Event.Subscribed` lives in the snake-case
//! module of its parent (`v1::scheduler::event::Subscribed`), and so do
//! nested enums (`v1::scheduler::event::Type`). Enum variants drop their
//! enum's prefix: `TaskStatus.REASON_INVALID_OFFERS` is
//! `v1::task_status::Reason::InvalidOffers`, while `TASK_RUNNING` stays
//! `v1::TaskState::TaskRunning`. Required message fields are plain values,
//! optional ones are `Option`s; proto2 defaults come back through getters
//! (`TaskStatus::state()` is `TASK_STAGING`, `Filters::refuse_seconds()` is 5).
//! Every message implements [`prost::Name`], so [`json`] finds its
//! descriptor from its type.
//!
//! # Other modules
//!
//! * [`json`]: Mesos JSON for any message (`to_json`, `from_json_str` ...).
//! * [`encoding`]: pick JSON or protobuf from `Content-Type`/`Accept`.
//! * [`recordio`]: `<length>\n<bytes>` framing of the event streams, with a
//!   push-based decoder; [`codec`] wraps it as a `tokio_util` codec.
//! * ids: `TaskId::from("web-1")`, `Display` for every id message.
//! * task states: [`v1::TaskState::is_terminal`].
//! * [`health`]: a `HealthCheck` validated with Mesos' rules and defaults.

pub mod codec;
pub mod duration;
pub mod encoding;
pub mod health;
mod ids;
pub mod json;
pub mod recordio;
mod task_state;

use std::sync::LazyLock;

use prost_reflect::{DescriptorError, DescriptorPool};

pub use encoding::{BodyError, Encoding};
pub use json::{
    from_json, from_json_slice, from_json_str, from_json_value, to_json, to_json_string,
    to_json_vec, JsonError,
};
pub use recordio::{RecordIoDecoder, RecordIoError};

/// Generated messages of protobuf package `mesos.v1`, with the scheduler
/// and executor API packages nested inside.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rustdoc::bare_urls,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));

    /// Generated messages of protobuf package `mesos.v1.scheduler`: the
    /// scheduler HTTP API (`POST /api/v1/scheduler`).
    pub mod scheduler {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.scheduler.rs"));
    }

    /// Generated messages of protobuf package `mesos.v1.executor`: the
    /// executor HTTP API (`POST /api/v1/executor`).
    pub mod executor {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.executor.rs"));
    }
}

/// Encoded `google.protobuf.FileDescriptorSet` of all three `.proto` files
/// (what `protoc --include_imports --descriptor_set_out` would write).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mesos_v1_descriptor_set.bin"));

/// Media type of protobuf bodies and streams.
pub const APPLICATION_PROTOBUF: &str = "application/x-protobuf";

/// Media type of Mesos JSON bodies and streams.
pub const APPLICATION_JSON: &str = "application/json";

/// Response header carrying the scheduler subscription's stream id; every
/// later scheduler call must send it back.
pub const MESOS_STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

static POOL: LazyLock<Result<DescriptorPool, DescriptorError>> =
    LazyLock::new(|| DescriptorPool::decode(FILE_DESCRIPTOR_SET));

/// The descriptors of every Mesos message, decoded once from
/// [`FILE_DESCRIPTOR_SET`].
///
/// Fails only if the embedded set is corrupt, which the build prevents; the
/// error is returned rather than panicking.
pub fn descriptor_pool() -> Result<&'static DescriptorPool, JsonError> {
    POOL.as_ref().map_err(|error| JsonError::Descriptors {
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use prost::Name;

    use super::*;

    #[test]
    fn the_embedded_descriptor_set_decodes() {
        let pool = descriptor_pool().expect("embedded descriptor set");
        for name in [
            "mesos.v1.TaskInfo",
            "mesos.v1.scheduler.Call",
            "mesos.v1.scheduler.Event.Offers",
            "mesos.v1.executor.Event",
            "mesos.v1.executor.Call.Subscribe",
        ] {
            assert!(pool.get_message_by_name(name).is_some(), "{name} missing");
        }
    }

    #[test]
    fn generated_names_match_the_descriptors() {
        assert_eq!(v1::TaskInfo::full_name(), "mesos.v1.TaskInfo");
        assert_eq!(
            v1::scheduler::event::Subscribed::full_name(),
            "mesos.v1.scheduler.Event.Subscribed"
        );
        assert_eq!(
            v1::executor::call::Update::full_name(),
            "mesos.v1.executor.Call.Update"
        );
    }
}
