//! The single `NB_Global` row (`ovn-nbctl get NB_Global . nb_cfg`): the
//! configuration sequence numbers ovn-northd and the chassis acknowledge, and
//! global options.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::{RowError, Table, Writable};
use crate::ovsdb::{Cache, Row};

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
