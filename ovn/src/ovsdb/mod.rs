//! An async OVSDB client (RFC 7047 and the ovsdb-server(7) extensions):
//! values, operations, JSON-RPC framing, a monitored cache and the client.
//!
//! Layers, bottom up: [`datum`] and [`operation`] (values and operation lists,
//! no I/O), [`jsonrpc`] (messages and stream framing), [`connection`] (one
//! socket with its reader, writer and echo probe), [`cache`] and [`schema`]
//! (the monitored replica and how to apply `update2` diffs), [`Client`] (the
//! session: leader selection via [`server`], reconnect and full resync,
//! checked transactions with read-your-writes, level-triggered `ensure`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ovn::ovsdb::Error> {
//! use ovn::ovsdb::{Client, ClientConfig, Datum, Mutation, Row, Txn};
//!
//! let config = ClientConfig::new("unix:/run/ovn/ovnnb_db.sock", "OVN_Northbound")?
//!     .monitor("Logical_Switch")
//!     .monitor_columns("Logical_Switch_Port", &["name", "addresses"]);
//! let client = Client::connect(config).await?;
//! // `ovn-nbctl lsp-add sw0 p1`, as a level-triggered write; the build's
//! // own value (here: whether it adds the port) comes back with the commit.
//! let added = client
//!     .ensure("port p1", |cache| {
//!         if !cache.find("Logical_Switch_Port", "name", &Datum::string("p1")).is_empty() {
//!             return Ok((None, false));
//!         }
//!         let Some((sw, _)) = cache.find("Logical_Switch", "name", &Datum::string("sw0")).pop() else {
//!             return Err("no switch sw0");
//!         };
//!         let mut txn = Txn::new("OVN_Northbound");
//!         let row = Row::from([("name".to_string(), Datum::string("p1"))]);
//!         let (port, _uuid) = txn.insert("Logical_Switch_Port", row);
//!         txn.mutate_row("Logical_Switch", sw, vec![Mutation::insert("ports", port)]);
//!         Ok((Some(txn), true))
//!     })
//!     .await?;
//! assert_eq!(added, Ok(true));
//! // The cache already shows the new port.
//! assert_eq!(client.read(|c| c.len("Logical_Switch_Port")), 1);
//! # Ok(())
//! # }
//! ```

pub mod cache;
mod client;
mod config;
pub mod connection;
pub mod datum;
pub mod error;
mod fence;
pub mod jsonrpc;
mod leader;
pub mod operation;
mod pending;
pub mod remote;
pub mod result;
pub mod schema;
pub mod server;
mod session;

pub use cache::Cache;
pub use client::{Client, Committed};
pub use config::ClientConfig;
pub use datum::{Atom, Datum, DatumError, Row};
pub use error::{Error, OpErrorKind};
pub use leader::LeaderFence;
pub use operation::{Condition, Expect, Function, Mutation, Mutator, Operation, Txn, WaitUntil};
pub use remote::{parse_remotes, Remote};
pub use result::OpResult;
pub use schema::{AtomicType, BaseType, ColumnSchema, ColumnType, Schema, TableSchema};
