//! What a topology command changed: one line per created, updated or deleted
//! row, e.g. `created Logical_Router GR_coke_mesos-master`. An empty report
//! means the database already matched (nothing was written).

use std::fmt;

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Deleted,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Deleted => "deleted",
        })
    }
}

/// One changed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: Action,
    pub table: &'static str,
    /// The row's name, or for routes and NAT rules a description
    /// (`0.0.0.0/0 via 10.10.1.1 on GR_coke_m`).
    pub name: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.action, self.table, self.name)
    }
}

/// The changes of one command on one database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub changes: Vec<Change>,
}

impl Report {
    /// True when nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub(crate) fn push(&mut self, action: Action, table: &'static str, name: impl Into<String>) {
        self.changes.push(Change {
            action,
            table,
            name: name.into(),
        });
    }

    /// How many rows had `action`.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return write!(f, "nothing to change");
        }
        for (i, c) in self.changes.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_prints_one_line_per_change() {
        let mut r = Report::default();
        assert_eq!(r.to_string(), "nothing to change");
        r.push(Action::Created, "Logical_Router", "coke");
        r.push(
            Action::Deleted,
            "NAT",
            "snat 10.10.1.12 for 192.168.0.0/16 on GR_coke_m",
        );
        assert_eq!(
            r.to_string(),
            "created Logical_Router coke\ndeleted NAT snat 10.10.1.12 for 192.168.0.0/16 on GR_coke_m"
        );
        assert_eq!(r.count(Action::Created), 1);
    }
}
