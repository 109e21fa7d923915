//! The definition files of `ovn-mesos apply -f PATH...`: every file named
//! (whatever its name) and every `*.json` file directly inside a named
//! directory, in name order, each once; all read and checked to be JSON
//! objects before anything is sent, so one bad file sends nothing.

use std::fs;
use std::path::PathBuf;

use crate::tasks::{Problem, TaskFileError};

/// A definition file, read and checked to be a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionFile {
    /// The file's path, as reached from the command line.
    pub path: PathBuf,
    /// The file's bytes, sent as they are.
    pub bytes: Vec<u8>,
}

/// Reads the definition files at `paths` (files or directories). Every
/// unreadable or non-JSON file is a [`Problem`] (one line each); if there
/// is any, none of the files is returned.
pub fn read_definitions(paths: &[PathBuf]) -> Result<Vec<DefinitionFile>, TaskFileError> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for path in expand(paths, &mut problems) {
        match fs::read(&path) {
            Err(e) => problems.push(Problem::file(&path, format!("cannot read: {e}"))),
            Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Err(e) => problems.push(Problem::file(&path, format!("invalid JSON: {e}"))),
                Ok(value) if !value.is_object() => problems.push(Problem::file(
                    &path,
                    "not a task definition: the JSON is not an object",
                )),
                Ok(_) => files.push(DefinitionFile { path, bytes }),
            },
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(TaskFileError::Invalid { problems })
    }
}

/// The files to read ([`crate::tasks::expand`]); a directory without
/// `*.json` files is a problem too: nothing to apply is a mistake.
fn expand(paths: &[PathBuf], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let (files, empty) = crate::tasks::expand(paths, problems);
    problems.extend(
        empty
            .iter()
            .map(|dir| Problem::file(dir, "no *.json files in this directory")),
    );
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_directory_gives_its_json_files_in_name_order_and_a_file_any_name() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.json", r#"{"name":"b"}"#);
        write(dir.path(), "a.json", r#"{"name":"a"}"#);
        write(dir.path(), "notes.txt", "not a definition");
        let plain = write(dir.path(), "classic", r#"{"name":"c"}"#);
        let a = dir.path().join("a.json");
        let files = read_definitions(&[dir.path().to_owned(), plain.clone(), a.clone()]).unwrap();
        let names: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(names, [a, dir.path().join("b.json"), plain]);
        assert_eq!(files[0].bytes, br#"{"name":"a"}"#);
    }

    #[test]
    fn every_bad_file_is_one_problem_and_nothing_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.json", r#"{"name":"a"}"#);
        write(dir.path(), "b.json", "{ nope");
        write(dir.path(), "c.json", "[1, 2]");
        let empty = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let err = read_definitions(&[dir.path().to_owned(), missing, empty.path().to_owned()])
            .unwrap_err();
        let lines: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(
            lines[0].contains("missing.json: cannot read: "),
            "{lines:?}"
        );
        assert!(
            lines[1].ends_with(": no *.json files in this directory"),
            "{lines:?}"
        );
        assert!(lines[2].contains("b.json: invalid JSON: "), "{lines:?}");
        assert!(
            lines[3].contains("c.json: not a task definition"),
            "{lines:?}"
        );
    }
}
