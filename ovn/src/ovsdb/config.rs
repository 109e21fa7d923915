//! The plain configuration of a [`super::Client`]: where the servers are,
//! which database and tables to monitor, and the timing of probes, reconnects
//! and bounded waits.

use std::time::Duration;

use super::error::Error;
use super::remote::{parse_remotes, Remote};

/// How to reach and use one database.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Servers to try, round-robin (the members of a cluster, or one server).
    pub remotes: Vec<Remote>,
    /// The database to use (`OVN_Northbound`, `Open_vSwitch`).
    pub database: String,
    /// Tables to monitor into the cache (`None` = all columns); empty = none.
    pub tables: Vec<(String, Option<Vec<String>>)>,
    /// For clustered databases talk only to the Raft leader (default true).
    pub leader_only: bool,
    /// Send an `echo` after this much silence, drop the connection after twice
    /// as much (default 5 s; zero disables the probe).
    pub probe_interval: Duration,
    /// Reconnect backoff bounds (default 100 ms and 8 s, jittered).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// `Client::connect` gives up with `Error::NoServer` after this (default 5 s);
    /// also bounds each connection attempt.
    pub connect_timeout: Duration,
    /// How long `transact` waits for the cache to show its own writes (default 5 s).
    pub write_visible_timeout: Duration,
    /// How long `ensure` keeps retrying a retryable failure (default 30 s).
    pub ensure_deadline: Duration,
}

impl ClientConfig {
    /// A configuration for `database` at `remotes` (`unix:/a.sock,tcp:10.0.0.1:6641`).
    pub fn new(remotes: &str, database: &str) -> Result<Self, Error> {
        Ok(ClientConfig {
            remotes: parse_remotes(remotes)?,
            database: database.to_owned(),
            tables: Vec::new(),
            leader_only: true,
            probe_interval: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(5),
            write_visible_timeout: Duration::from_secs(5),
            ensure_deadline: Duration::from_secs(30),
        })
    }

    /// Monitors every column of `table`.
    pub fn monitor(mut self, table: &str) -> Self {
        self.set_monitor(table, None);
        self
    }

    /// Monitors only `columns` of `table`.
    pub fn monitor_columns(mut self, table: &str, columns: &[&str]) -> Self {
        let columns = columns.iter().map(|c| (*c).to_owned()).collect();
        self.set_monitor(table, Some(columns));
        self
    }

    fn set_monitor(&mut self, table: &str, columns: Option<Vec<String>>) {
        match self.tables.iter_mut().find(|(t, _)| t == table) {
            Some(entry) => entry.1 = columns,
            None => self.tables.push((table.to_owned(), columns)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_ovn_nbctl() {
        let c = ClientConfig::new("unix:/a.sock,tcp:127.0.0.1:6641", "OVN_Northbound").unwrap();
        assert_eq!(c.remotes.len(), 2);
        assert!(c.leader_only);
        assert_eq!(c.probe_interval, Duration::from_secs(5));
        assert_eq!(
            (c.backoff_min, c.backoff_max),
            (Duration::from_millis(100), Duration::from_secs(8))
        );
        assert!(c.tables.is_empty());
    }

    #[test]
    fn monitoring_a_table_twice_keeps_the_last_column_choice() {
        let c = ClientConfig::new("unix:/a.sock", "db")
            .unwrap()
            .monitor("Logical_Switch")
            .monitor_columns("Logical_Switch_Port", &["name"])
            .monitor_columns("Logical_Switch", &["name", "ports"]);
        assert_eq!(
            c.tables,
            vec![
                (
                    "Logical_Switch".to_string(),
                    Some(vec!["name".to_string(), "ports".to_string()])
                ),
                (
                    "Logical_Switch_Port".to_string(),
                    Some(vec!["name".to_string()])
                ),
            ]
        );
    }

    #[test]
    fn a_bad_remote_is_refused() {
        assert!(matches!(
            ClientConfig::new("ssl:1.2.3.4:6641", "db"),
            Err(Error::BadRemote { .. })
        ));
    }
}
