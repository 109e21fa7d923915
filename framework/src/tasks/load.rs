//! Loading task files from the paths given on the command line
//! (`ovn-mesos run --tasks PATH...`): every regular file named explicitly
//! (whatever its name: the seed's files have no extension) and every
//! `*.json` file directly inside a named directory, in name order.
//! All-or-nothing: one bad file fails the whole load, and the error lists
//! every bad file, one line each.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use tracing::{error, warn};

use super::{parse_task_file, Problem, TaskDefinition, TaskFileError, Warning};

/// Loads and validates the task files at `paths` (files or directories).
/// On success every definition and every warning (already logged); on
/// failure every problem (already logged) and nothing else.
pub fn load_paths(paths: &[PathBuf]) -> Result<(Vec<TaskDefinition>, Vec<Warning>), TaskFileError> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let (files, empty) = expand(paths, &mut problems);
    warnings.extend(
        empty
            .iter()
            .map(|dir| Warning::file(dir, "no *.json task files in this directory")),
    );

    let mut definitions: Vec<TaskDefinition> = Vec::new();
    let mut ids: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in files {
        let bytes = match fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) => {
                problems.push(Problem::file(&file, format!("cannot read: {e}")));
                continue;
            }
        };
        match parse_task_file(&file, &bytes) {
            Ok((definition, file_warnings)) => {
                let id = definition.task_id.value.clone();
                if let Some(first) = ids.get(&id) {
                    problems.push(Problem::field(
                        &file,
                        "task_id.value",
                        format!("task id {id} is also used by {}", first.display()),
                    ));
                    continue;
                }
                ids.insert(id, file.clone());
                warnings.extend(file_warnings);
                definitions.push(definition);
            }
            Err(problem) => problems.push(problem),
        }
    }

    for w in &warnings {
        warn!(file = %w.file.display(), field = w.field.as_deref().unwrap_or(""), "task file: {}", w.message);
    }
    if problems.is_empty() {
        Ok((definitions, warnings))
    } else {
        for p in &problems {
            error!(file = %p.file.display(), field = p.field.as_deref().unwrap_or(""), "task file refused: {}", p.message);
        }
        Err(TaskFileError::Invalid { problems })
    }
}

/// The files to read, each once (by canonical path), in argument order and
/// name order within a directory; and the directories without `*.json`
/// files. A path that is missing, unlistable or neither a file nor a
/// directory is a problem. `ovn-mesos run --tasks` and `ovn-mesos apply -f`
/// both read their paths so.
pub(crate) fn expand(
    paths: &[PathBuf],
    problems: &mut Vec<Problem>,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut seen = BTreeSet::new();
    let mut empty = Vec::new();
    let mut out = Vec::new();
    let mut add = |file: PathBuf| {
        let key = fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if seen.insert(key) {
            out.push(file);
        }
    };
    for path in paths {
        match fs::metadata(path) {
            Err(e) => problems.push(Problem::file(path, format!("cannot read: {e}"))),
            Ok(meta) if meta.is_dir() => match json_files(path) {
                Ok(files) if files.is_empty() => empty.push(path.clone()),
                Ok(files) => files.into_iter().for_each(&mut add),
                Err(e) => problems.push(Problem::file(path, format!("cannot list: {e}"))),
            },
            Ok(meta) if meta.is_file() => add(path.clone()),
            Ok(_) => problems.push(Problem::file(path, "not a regular file or directory")),
        }
    }
    (out, empty)
}

/// The regular `*.json` files directly in `dir`, sorted by name.
fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let is_json = path.extension().is_some_and(|e| e == "json");
        if is_json && fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK: &str = r#"{"name": "NAME", "task_id": {"value": "ID"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
        "command": {"value": "true"},
        "container": {"type": "MESOS", "network_infos": [{"labels": {"labels": [{"key": "logical_switch", "value": "net1"}]}}]}}"#;

    fn write(dir: &Path, file: &str, name: &str, id: &str) -> PathBuf {
        let path = dir.join(file);
        fs::write(&path, TASK.replace("NAME", name).replace("ID", id)).unwrap();
        path
    }

    #[test]
    fn a_directory_loads_its_json_files_in_name_order_and_skips_others() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.json", "b", "2");
        write(dir.path(), "a.json", "a", "1");
        write(dir.path(), "notes.txt", "c", "3");
        let (defs, warnings) = load_paths(&[dir.path().to_owned()]).unwrap();
        let names: Vec<_> = defs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_file_named_twice_loads_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.json", "a", "1");
        let (defs, _) = load_paths(&[a, dir.path().to_owned()]).unwrap();
        assert_eq!(defs.len(), 1);
    }

    #[test]
    fn a_duplicate_task_id_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.json", "a", "7");
        write(dir.path(), "b.json", "b", "7");
        let err = load_paths(&[dir.path().to_owned()]).unwrap_err();
        let line = err.to_string();
        assert!(
            line.contains("b.json: task_id.value: task id 7 is also used by"),
            "{line}"
        );
        assert!(line.ends_with("a.json"), "{line}");
    }

    #[test]
    fn a_missing_path_and_an_empty_directory_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (defs, warnings) = load_paths(&[dir.path().to_owned()]).unwrap();
        assert!(defs.is_empty());
        assert!(warnings[0].message.contains("no *.json task files"));
        let err = load_paths(&[dir.path().join("nope")]).unwrap_err();
        assert!(err.to_string().contains("nope: cannot read: "), "{err}");
    }
}
