//! The single `NB_Global` row (`ovn-nbctl get NB_Global . nb_cfg`): the
//! configuration sequence numbers ovn-northd and the chassis acknowledge, and
//! global options.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::{RowError, Table, Writable, NB_DB};
use crate::ovsdb::{
    Cache, Client, Condition, Datum, Error, Expect, LeaderFence, Operation, Row, Txn, WaitUntil,
};

/// The `NB_Global` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NbGlobal {
    pub uuid: Uuid,
    pub name: String,
    /// Bumped by a client that wants to wait for its change to propagate.
    pub nb_cfg: i64,
    /// The `nb_cfg` ovn-northd has written to the Southbound DB.
    pub sb_cfg: i64,
    /// The `nb_cfg` every chassis has caught up with.
    pub hv_cfg: i64,
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

impl Table for NbGlobal {
    const TABLE: &'static str = "NB_Global";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(NbGlobal {
            uuid,
            name: c.string("name")?,
            nb_cfg: c.opt_int("nb_cfg")?.unwrap_or(0),
            sb_cfg: c.opt_int("sb_cfg")?.unwrap_or(0),
            hv_cfg: c.opt_int("hv_cfg")?.unwrap_or(0),
            options: c.map("options")?,
            external_ids: c.map("external_ids")?,
        })
    }
}

impl Writable for NbGlobal {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    /// Only the columns a client may set (the `*_cfg` counters are written
    /// with a mutation, never from a stale copy).
    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("name", &self.name)
            .map("options", &self.options)
            .map("external_ids", &self.external_ids)
            .build()
    }
}

/// The `NB_Global` row, if ovn-northd (or `ovn-nbctl init`) has created it.
pub fn nb_global(cache: &Cache) -> Option<NbGlobal> {
    super::list::<NbGlobal>(cache).into_iter().next()
}

/// `external_ids` key of `NB_Global` holding the leader epoch of the
/// framework instances sharing this NB ([`bump_epoch`], [`LeaderFence`]).
pub const LEADER_EPOCH: &str = "ovn-mesos/leader-epoch";

/// Raises the leader epoch `key` of `NB_Global` by one, in one
/// transaction guarded on the whole `external_ids` map read (so two
/// instances raising it at once cannot both get the same epoch; the loser
/// recomputes and gets the next), and guards the client's later writes on
/// the new epoch ([`Client::set_leader_fence`]); the guard is returned. It
/// is what an instance does when it becomes the leader: the raise itself
/// is sent without the client's earlier guard (an instance that led before
/// may lead again). A missing `NB_Global` row is created (`ovn-nbctl
/// init`), with a guard that the table is still empty. The client must
/// monitor `NB_Global`.
pub async fn bump_epoch(nb: &Client, key: &str) -> Result<LeaderFence, Error> {
    nb.set_leader_fence(None);
    let epoch = nb
        .ensure("leader epoch", |cache| {
            let mut txn = Txn::new(NB_DB);
            let next = match nb_global(cache) {
                Some(g) => {
                    let current = g
                        .external_ids
                        .get(key)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                    let next = current + 1;
                    let mut ids = g.external_ids.clone();
                    ids.insert(key.to_owned(), next.to_string());
                    let mut was = Row::new();
                    was.insert(
                        "external_ids".into(),
                        Datum::string_map(g.external_ids.iter()),
                    );
                    txn.push(
                        Operation::Wait {
                            table: NbGlobal::TABLE.to_owned(),
                            conditions: vec![Condition::uuid(g.uuid)],
                            columns: vec!["external_ids".to_owned()],
                            until: WaitUntil::Equal,
                            rows: vec![was],
                            timeout_ms: Some(0),
                        },
                        Expect::Any,
                    );
                    let mut row = Row::new();
                    row.insert("external_ids".into(), Datum::string_map(ids.iter()));
                    txn.update_row(NbGlobal::TABLE, g.uuid, row);
                    next
                }
                None => {
                    txn.push(
                        Operation::Wait {
                            table: NbGlobal::TABLE.to_owned(),
                            conditions: Vec::new(),
                            columns: vec!["_uuid".to_owned()],
                            until: WaitUntil::Equal,
                            rows: Vec::new(),
                            timeout_ms: Some(0),
                        },
                        Expect::Any,
                    );
                    let mut g = NbGlobal {
                        uuid: Uuid::new_v4(),
                        ..Default::default()
                    };
                    g.external_ids.insert(key.to_owned(), "1".to_owned());
                    super::insert_ops(&mut txn, &g);
                    1
                }
            };
            Ok::<_, std::convert::Infallible>((Some(txn), next))
        })
        .await?;
    let epoch = match epoch {
        Ok(epoch) => epoch,
        Err(never) => match never {},
    };
    let fence = LeaderFence::new(NbGlobal::TABLE, key, epoch);
    nb.set_leader_fence(Some(fence.clone()));
    Ok(fence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::Datum;

    #[test]
    fn counters_are_read_and_default_to_zero() {
        let mut row = Row::new();
        row.insert("nb_cfg".into(), Datum::int(7));
        row.insert("sb_cfg".into(), Datum::int(6));
        let g = NbGlobal::from_row(Uuid::nil(), &row).unwrap();
        assert_eq!((g.nb_cfg, g.sb_cfg, g.hv_cfg), (7, 6, 0));
    }

    #[test]
    fn counters_are_never_written_from_a_copy() {
        let g = NbGlobal {
            nb_cfg: 3,
            ..Default::default()
        };
        assert!(!g.to_row().contains_key("nb_cfg"));
    }
}
