//! The leader fence: a write guard that only the current leader of several
//! framework instances passes. The leader epoch lives in the database
//! itself (an `external_ids` key of a one-row table, `NB_Global` for the
//! NB); a new leader raises it ([`crate::nb::nb_global::bump_epoch`]) before
//! it writes anything, and every transaction of a fenced client starts with
//! a `wait` that the row still holds its epoch. A deposed leader's late
//! transaction (it was frozen, or its session expired while a write was in
//! flight) then fails as a whole with [`super::Error::Fenced`], which is
//! not retried: it must step down, not try again.

use super::datum::Datum;
use super::operation::{Condition, Expect, Operation, Txn, WaitUntil};

/// The epoch a client's writes are guarded on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderFence {
    /// The one-row table holding the epoch (`NB_Global`).
    pub table: String,
    /// The `external_ids` key of the epoch (`ovn-mesos/leader-epoch`).
    pub key: String,
    pub epoch: u64,
}

impl LeaderFence {
    pub fn new(table: impl Into<String>, key: impl Into<String>, epoch: u64) -> LeaderFence {
        LeaderFence {
            table: table.into(),
            key: key.into(),
            epoch,
        }
    }

    /// The `wait` that fails unless a row of the table holds this epoch:
    /// "until the rows whose `external_ids` include `{key: epoch}` are not
    /// none", with a zero timeout.
    pub fn guard(&self) -> Operation {
        Operation::Wait {
            table: self.table.clone(),
            conditions: vec![Condition::includes(
                "external_ids",
                Datum::map([(self.key.as_str(), self.epoch.to_string().as_str())]),
            )],
            columns: vec!["external_ids".to_owned()],
            until: WaitUntil::NotEqual,
            rows: Vec::new(),
            timeout_ms: Some(0),
        }
    }

    /// `txn` with the guard as its first operation.
    pub fn guarded(&self, txn: &Txn) -> Txn {
        let mut wire = Txn::new(txn.database.clone());
        wire.push(self.guard(), Expect::Any);
        for (op, expect) in &txn.ops {
            wire.push(op.clone(), *expect);
        }
        wire
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_comes_first_and_waits_for_the_epoch() {
        let fence = LeaderFence::new("NB_Global", "ovn-mesos/leader-epoch", 7);
        let mut txn = Txn::new("OVN_Northbound");
        txn.push(Operation::Comment("x".into()), Expect::Any);
        let wire = fence.guarded(&txn);
        assert_eq!(wire.len(), 2);
        let p = wire.to_params();
        assert_eq!(p[1]["op"], "wait");
        assert_eq!(p[1]["until"], "!=");
        assert_eq!(p[1]["rows"], serde_json::json!([]));
        assert_eq!(
            p[1]["where"],
            serde_json::json!([[
                "external_ids",
                "includes",
                ["map", [["ovn-mesos/leader-epoch", "7"]]]
            ]])
        );
        assert_eq!(p[2]["op"], "comment");
    }
}
