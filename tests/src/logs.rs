//! Daemon log checks: a test fails when a daemon logged an unexpected error.
//!
//! Like `OVS_VSWITCHD_STOP`/`OVN_CLEANUP` in ovn-org/ovn's test macros, every
//! line matching `|ERR|` or `|EMER|` counts, except lines containing one of the
//! allowed substrings (errors a test caused on purpose, e.g. by killing a
//! database server).

use std::path::PathBuf;

use anyhow::bail;

/// The log files to check and the substrings that excuse an error line.
#[derive(Debug, Clone, Default)]
pub struct LogCheck {
    files: Vec<PathBuf>,
    allowed: Vec<String>,
}

impl LogCheck {
    /// Checks `files` with nothing allowed yet.
    pub fn new(files: Vec<PathBuf>) -> LogCheck {
        LogCheck {
            files,
            allowed: Vec::new(),
        }
    }

    /// Adds a log file.
    pub fn add_file(&mut self, file: PathBuf) {
        if !self.files.contains(&file) {
            self.files.push(file);
        }
    }

    /// Excuses error lines containing `substring`.
    pub fn allow(&mut self, substring: impl Into<String>) {
        let s = substring.into();
        if !self.allowed.contains(&s) {
            self.allowed.push(s);
        }
    }

    /// The allowed substrings.
    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    /// Every `|ERR|`/`|EMER|` line not excused, as `<file>: <line>`. A file
    /// that does not exist (daemon never started) has no lines.
    pub fn unexpected(&self) -> Vec<String> {
        let mut found = Vec::new();
        for file in &self.files {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.extend(
                text.lines()
                    .filter(|l| is_error(l) && !self.allowed.iter().any(|a| l.contains(a)))
                    .map(|l| format!("{name}: {l}")),
            );
        }
        found
    }

    /// `Err` listing the unexpected error lines, if any.
    pub fn check(&self) -> anyhow::Result<()> {
        let found = self.unexpected();
        if !found.is_empty() {
            bail!(
                "{} unexpected error line(s) in daemon logs:\n{}",
                found.len(),
                found.join("\n")
            );
        }
        Ok(())
    }
}

/// A vlog line at level ERR or EMER (`...|module|ERR|message`).
pub fn is_error(line: &str) -> bool {
    line.contains("|ERR|") || line.contains("|EMER|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_are_reported_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.log");
        std::fs::write(
            &a,
            "t|00001|vlog|INFO|opened log file\n\
             t|00002|jsonrpc|ERR|unix:/x/nb.sock: receive error\n\
             t|00003|util|EMER|assertion failed\n\
             t|00004|ovsdb|WARN|something\n",
        )
        .unwrap();
        let mut check = LogCheck::new(vec![a, dir.path().join("missing.log")]);
        let found = check.unexpected();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("a.log: "), "{found:?}");
        let err = check.check().unwrap_err().to_string();
        assert!(err.contains("2 unexpected error line(s)"), "{err}");
        assert!(err.contains("assertion failed"), "{err}");

        check.allow("/x/nb.sock");
        assert_eq!(check.unexpected().len(), 1);
        check.allow("assertion failed");
        check.check().unwrap();
    }
}
