//! The library's error type: what can stop a master or agent from
//! starting. Request-level problems are HTTP answers ([`crate::api`]), not
//! errors.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::resources::{AttributeError, ResourceError};

/// Why a master, agent or cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening socket could not be bound (port in use, bad address).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `--resources` is invalid.
    #[error("invalid --resources")]
    Resources(#[from] ResourceError),
    /// `--attributes` is invalid.
    #[error("invalid --attributes")]
    Attributes(#[from] AttributeError),
    /// The work directory could not be created.
    #[error("cannot create work directory {path}")]
    WorkDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `--master` is not `host:port`.
    #[error("invalid master address '{0}': expected ip:port")]
    MasterAddress(String),
    /// Agents of a cluster did not register in time.
    #[error("agents did not register with the master within {0:?}")]
    NotRegistered(std::time::Duration),
    /// `--zk` or a `zk://` master is unusable.
    #[error("ZooKeeper: {0}")]
    ZooKeeper(String),
    /// The cluster's settings contradict each other.
    #[error("{0}")]
    Config(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}
