//! Exit codes and one-line error reporting for the `ovn-mesos` binary: usage
//! errors exit 64 (`EX_USAGE`), failures exit 1, and both print one line that
//! names the culprit.

use std::fmt::Write as _;
use std::process::ExitCode;

/// Exit status for bad usage (sysexits.h `EX_USAGE`).
pub const USAGE: u8 = 64;
/// Exit status for a command that failed.
pub const FAILURE: u8 = 1;

/// Renders an error and its causes as one line: `outer: inner: root`.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for (i, cause) in err.chain().enumerate() {
        let text = cause.to_string();
        // Skip a cause already spelled out by its wrapper.
        if i > 0 && line.contains(text.trim()) {
            continue;
        }
        if i > 0 {
            line.push_str(": ");
        }
        let _ = write!(line, "{}", text.trim());
    }
    line.replace('\n', " ")
}

/// Prints `ovn-mesos: error: <one line>` and returns the failure exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("ovn-mesos: error: {}", one_line(err));
    ExitCode::from(FAILURE)
}

/// Folds clap's multi-line usage error into one line: the reason and what it
/// names, without the usage synopsis and the `--help` hint.
pub fn usage_line(clap_error: &str) -> String {
    let parts: Vec<&str> = clap_error
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let line = parts.join(" ");
    let line = line.trim_start_matches("error: ");
    if line.is_empty() {
        "bad usage (see --help)".to_owned()
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_argument_is_named_on_the_usage_line() {
        let clap = "error: the following required arguments were not provided:\n  --subnet <SUBNET>\n\nUsage: ovn-mesos network-init --subnet <SUBNET>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_line(clap),
            "the following required arguments were not provided: --subnet <SUBNET>"
        );
    }

    #[test]
    fn causes_are_joined_on_one_line() {
        let err =
            anyhow::anyhow!("connection refused\nby peer").context("cannot reach unix:/x.sock");
        assert_eq!(
            one_line(&err),
            "cannot reach unix:/x.sock: connection refused by peer"
        );
    }

    #[test]
    fn a_cause_repeated_by_its_wrapper_is_not_printed_twice() {
        let inner = anyhow::anyhow!("subnet 10.0.0.0/24 is full");
        let err = inner.context("network-init coke1: subnet 10.0.0.0/24 is full");
        assert_eq!(
            one_line(&err),
            "network-init coke1: subnet 10.0.0.0/24 is full"
        );
    }
}
