//! Readers of the rendered files: systemd units (INI with sections and
//! backslash continuations, as systemd reads them), `NAME='value'`
//! environment files (systemd `EnvironmentFile=` and POSIX shell alike), and
//! the list of files under a DESTDIR.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context};

/// A parsed unit: section -> (key, value) in file order.
#[derive(Debug)]
pub struct Unit {
    sections: BTreeMap<String, Vec<(String, String)>>,
}

impl Unit {
    /// Parses a unit file; Err on a line outside a section, a line without
    /// `=`, or a continuation at the end of the file.
    pub fn parse(text: &str) -> anyhow::Result<Unit> {
        let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let mut current: Option<String> = None;
        let mut pending = String::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if pending.is_empty()
                && (line.is_empty() || line.starts_with('#') || line.starts_with(';'))
            {
                continue;
            }
            if let Some(body) = line.strip_suffix('\\') {
                pending.push_str(body);
                pending.push(' ');
                continue;
            }
            let line = format!("{pending}{line}");
            pending.clear();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = Some(name.to_string());
                sections.entry(name.to_string()).or_default();
                continue;
            }
            let section = current
                .as_ref()
                .with_context(|| format!("line {}: outside a section", n + 1))?;
            let (key, value) = line
                .split_once('=')
                .with_context(|| format!("line {}: no '=': {line}", n + 1))?;
            sections
                .get_mut(section)
                .expect("section was inserted")
                .push((key.trim().to_string(), value.trim().to_string()));
        }
        if !pending.is_empty() {
            bail!("the file ends inside a continued line");
        }
        Ok(Unit { sections })
    }

    /// The section names.
    pub fn section_names(&self) -> BTreeSet<&str> {
        self.sections.keys().map(String::as_str).collect()
    }

    /// Every value of `key` in `section`.
    pub fn values(&self, section: &str, key: &str) -> Vec<&str> {
        self.sections
            .get(section)
            .map(|entries| {
                entries
                    .iter()
                    .filter(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The one value of `key` in `section`; Err when absent or repeated.
    pub fn value(&self, section: &str, key: &str) -> anyhow::Result<&str> {
        match self.values(section, key).as_slice() {
            [one] => Ok(one),
            other => bail!("[{section}] {key}: expected one value, found {other:?}"),
        }
    }

    /// `ExecStart=` split into words (the renderer never quotes).
    pub fn exec_start(&self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .value("Service", "ExecStart")?
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }
}

/// Parses `NAME='value'` lines (plus comments, blank lines and one
/// `export NAME...` line); Err on anything else or a repeated name.
pub fn parse_env_file(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') || line.starts_with("export ") {
            continue;
        }
        let (name, quoted) = line
            .split_once('=')
            .with_context(|| format!("not NAME=VALUE: {line}"))?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            bail!("bad variable name in: {line}");
        }
        let value = quoted
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .filter(|v| !v.contains('\''))
            .with_context(|| format!("value is not single-quoted: {line}"))?;
        if vars.insert(name.to_string(), value.to_string()).is_some() {
            bail!("{name} is set twice");
        }
    }
    Ok(vars)
}

/// Every file under `root`, as paths relative to it (`etc/default/x`).
pub fn files_under(root: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
                found.insert(rel);
            }
        }
    }
    Ok(found)
}

/// `--name=value` and `--flag` words of a command line -> name -> value
/// (`""` for a bare flag); Err on a repeated flag or a word that is none.
pub fn flags(words: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for word in words {
        let body = word
            .strip_prefix("--")
            .with_context(|| format!("not a --flag: {word}"))?;
        let (name, value) = body.split_once('=').unwrap_or((body, ""));
        if out.insert(name.to_string(), value.to_string()).is_some() {
            bail!("--{name} given twice");
        }
    }
    Ok(out)
}
