//! Exit codes and error reporting for the `ovn-mesos` binary: usage errors
//! exit 64 (`EX_USAGE`), failures exit 1, and both print one line that names
//! the culprit; refused task files print one such line per problem.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::scheduler::SchedulerError;
use crate::tasks::TaskFileError;

/// Exit status for bad usage (sysexits.h `EX_USAGE`).
pub const USAGE: u8 = 64;
/// Exit status for a command that failed.
pub const FAILURE: u8 = 1;

/// Renders an error and its causes as one line: `outer: inner: root`. Each
/// error's `Display` says only what failed at its own layer, so every cause
/// is printed once.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for (i, cause) in err.chain().enumerate() {
        if i > 0 {
            line.push_str(": ");
        }
        let _ = write!(line, "{}", cause.to_string().trim());
    }
    line.replace('\n', " ")
}

/// The refused task files in `cause`, if it is (or plainly wraps) them.
fn task_files<'a>(cause: &'a (dyn StdError + 'static)) -> Option<&'a TaskFileError> {
    cause.downcast_ref::<TaskFileError>().or_else(|| {
        match cause.downcast_ref::<SchedulerError>()? {
            SchedulerError::TaskFiles(e) => Some(e),
            _ => None,
        }
    })
}

/// The lines that report `err`: one (see [`one_line`]), or for refused task
/// files one per problem, each naming its file and field (after the
/// context `err` gives them, if any).
pub fn lines(err: &anyhow::Error) -> Vec<String> {
    let causes: Vec<&(dyn StdError + 'static)> = err.chain().collect();
    let Some((at, files)) = causes
        .iter()
        .enumerate()
        .find_map(|(i, c)| Some((i, task_files(*c)?)))
        .filter(|(_, files)| !files.problems().is_empty())
    else {
        return vec![one_line(err)];
    };
    let context: String = causes[..at]
        .iter()
        .map(|c| format!("{}: ", c.to_string().trim()))
        .collect();
    files
        .problems()
        .iter()
        .map(|p| format!("{context}{p}").replace('\n', " "))
        .collect()
}

/// Prints `ovn-mesos: error: <line>` for each of [`lines`] and returns the
/// failure exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    for line in lines(err) {
        eprintln!("ovn-mesos: error: {line}");
    }
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
    fn refused_task_files_are_one_line_per_problem() {
        use crate::tasks::Problem;
        use std::path::Path;

        let refused = || TaskFileError::Invalid {
            problems: vec![
                Problem::file(Path::new("a.json"), "invalid JSON: expected value"),
                Problem::field(
                    Path::new("b.json"),
                    "container.network_infos[0].labels",
                    "no logical_switch label",
                ),
            ],
        };
        let want = [
            "a.json: invalid JSON: expected value",
            "b.json: container.network_infos[0].labels: no logical_switch label",
        ];
        assert_eq!(lines(&anyhow::Error::new(refused())), want);
        let from_scheduler = anyhow::Error::new(SchedulerError::TaskFiles(refused()));
        assert_eq!(lines(&from_scheduler), want);
        let with_context = anyhow::Error::new(refused()).context("cannot start");
        assert_eq!(
            lines(&with_context),
            want.map(|w| format!("cannot start: {w}"))
        );
    }

    #[test]
    fn other_errors_are_one_line() {
        let err = anyhow::anyhow!("no framework id\nin state dir /x").context("teardown");
        assert_eq!(lines(&err), ["teardown: no framework id in state dir /x"]);
    }

    #[test]
    fn a_library_error_and_its_source_are_each_printed_once() {
        let err = crate::state::StateError::Read {
            path: "/x/framework.json".into(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied"),
        };
        assert_eq!(
            one_line(&anyhow::Error::new(err).context("cannot open the state dir")),
            "cannot open the state dir: cannot read state file /x/framework.json: permission denied"
        );
    }
}
