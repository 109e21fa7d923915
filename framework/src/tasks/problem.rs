//! What goes wrong with task files, as data: a [`Problem`] (the file is
//! refused) or a [`Warning`] (a field is ignored), each one line naming the
//! file, the field and what is wrong; and [`TaskFileError`], every problem of
//! one load.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a task file is refused: `tasks/x.json: container.network_infos[0].labels: no logical_switch label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// The JSON path of the field at fault (`resources[1].scalar.value`);
    /// `None` when the file as a whole is at fault (unreadable, not JSON).
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    /// A problem with one field of `file`.
    pub fn field(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            file: file.to_owned(),
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A problem with `file` as a whole.
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Problem {
            file: file.to_owned(),
            field: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(f, &self.file, self.field.as_deref(), &self.message)
    }
}

/// A field ovn-mesos does not use (a docker image, `roles`, an unknown
/// key): the file still loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    /// The JSON path of the ignored field; `None` for the file as a whole
    /// (e.g. a directory without task files).
    pub field: Option<String>,
    pub message: String,
}

impl Warning {
    /// A warning about one field of `file`.
    pub fn field(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        Warning {
            file: file.to_owned(),
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A warning about `file` (or directory) as a whole.
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Warning {
            file: file.to_owned(),
            field: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(f, &self.file, self.field.as_deref(), &self.message)
    }
}

fn write_line(
    f: &mut fmt::Formatter<'_>,
    file: &Path,
    field: Option<&str>,
    message: &str,
) -> fmt::Result {
    match field {
        Some(field) => write!(f, "{}: {field}: {message}", file.display()),
        None => write!(f, "{}: {message}", file.display()),
    }
}

/// Why a set of task files was refused. Loading is all-or-nothing: nothing
/// from a failed load is launched; fix the files and load again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskFileError {
    /// One or more files are unreadable, invalid, or conflict with each
    /// other (duplicate task ids, one service with two VIPs, an unknown
    /// network). Displays one line per problem, in file order.
    #[error("{}", lines(.problems))]
    Invalid { problems: Vec<Problem> },
}

impl TaskFileError {
    /// Every problem found, one per bad file (and per conflict).
    pub fn problems(&self) -> &[Problem] {
        match self {
            TaskFileError::Invalid { problems } => problems,
        }
    }
}

fn lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_one_line_naming_file_field_and_reason() {
        let p = Problem::field(
            Path::new("tasks/x.json"),
            "container.network_infos[0].labels",
            "no logical_switch label",
        );
        assert_eq!(
            p.to_string(),
            "tasks/x.json: container.network_infos[0].labels: no logical_switch label"
        );
        let whole = Problem::file(Path::new("tasks/y.json"), "cannot read: gone");
        assert_eq!(whole.to_string(), "tasks/y.json: cannot read: gone");
    }

    #[test]
    fn the_error_lists_every_problem_on_its_own_line() {
        let err = TaskFileError::Invalid {
            problems: vec![
                Problem::file(Path::new("a.json"), "bad"),
                Problem::field(Path::new("b.json"), "name", "empty"),
            ],
        };
        assert_eq!(err.to_string(), "a.json: bad\nb.json: name: empty");
        assert_eq!(err.problems().len(), 2);
    }
}
