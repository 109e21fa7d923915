//! An async OVSDB client (RFC 7047 and the ovsdb-server(7) extensions):
//! values, operations, JSON-RPC framing, a monitored cache and the client.

pub mod datum;
pub mod operation;

pub use datum::{Atom, Datum, DatumError, Row};
pub use operation::{Condition, Expect, Function, Mutation, Mutator, Operation, Txn, WaitUntil};
