//! The fetcher: copies `CommandInfo.uris` into the sandbox before a
//! command starts (`mesos-fetcher`). Local files only (`file:///path`,
//! `/path` or a path relative to the agent's working directory); other
//! schemes are refused. Archives (`.tar`, `.tar.gz`, `.tgz`, `.tar.bz2`,
//! `.tar.xz`) are extracted with `tar -xf` unless `extract` is false;
//! `executable` makes the copy mode 0755; `output_file` renames it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use mesos_proto::v1::command_info::Uri;
use tracing::info;

/// Why a URI could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The scheme is not a local file.
    #[error("cannot fetch '{uri}': only local files (file:// or a path) are supported")]
    UnsupportedScheme {
        /// The URI.
        uri: String,
    },
    /// Copying or extracting failed.
    #[error("cannot fetch '{uri}' into {dest}: {reason}")]
    Copy {
        /// The URI.
        uri: String,
        /// The destination.
        dest: PathBuf,
        /// The I/O error or tar's complaint.
        reason: String,
    },
}

const ARCHIVES: [&str; 7] = [
    ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
];

/// The local path a URI names.
fn local_path(uri: &str) -> Result<PathBuf, FetchError> {
    if let Some(path) = uri.strip_prefix("file://") {
        return Ok(PathBuf::from(path));
    }
    if uri.contains("://") {
        return Err(FetchError::UnsupportedScheme {
            uri: uri.to_string(),
        });
    }
    Ok(PathBuf::from(uri))
}

/// Fetches every URI into `sandbox` (blocking I/O).
pub fn fetch(uris: &[Uri], sandbox: &Path) -> Result<(), FetchError> {
    for uri in uris {
        let source = local_path(&uri.value)?;
        let name = uri
            .output_file
            .clone()
            .or_else(|| source.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "fetched".to_string());
        let dest = sandbox.join(&name);
        let failed = |reason: String| FetchError::Copy {
            uri: uri.value.clone(),
            dest: dest.clone(),
            reason,
        };
        let is_archive = ARCHIVES.iter().any(|ext| name.ends_with(ext));
        if uri.extract() && is_archive {
            let output = std::process::Command::new("tar")
                .arg("-C")
                .arg(sandbox)
                .arg("-xf")
                .arg(&source)
                .output()
                .map_err(|e| failed(format!("cannot run tar: {e}")))?;
            if !output.status.success() {
                return Err(failed(
                    String::from_utf8_lossy(&output.stderr).trim().to_string(),
                ));
            }
        } else {
            fs::copy(&source, &dest).map_err(|e| failed(e.to_string()))?;
            if uri.executable() {
                fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))
                    .map_err(|e| failed(e.to_string()))?;
            }
        }
        info!(uri = %uri.value, dest = %dest.display(), "fetched");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(value: &str) -> Uri {
        Uri {
            value: value.into(),
            ..Default::default()
        }
    }

    #[test]
    fn local_files_are_copied_and_made_executable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("run.sh");
        fs::write(&source, "#!/bin/sh\necho hi\n").expect("write");
        let sandbox = dir.path().join("sandbox");
        fs::create_dir(&sandbox).expect("mkdir");
        let mut executable = uri(&format!("file://{}", source.display()));
        executable.executable = Some(true);
        let mut renamed = uri(source.to_str().expect("utf8"));
        renamed.output_file = Some("copy.sh".into());
        fetch(&[executable, renamed], &sandbox).expect("fetched");
        let mode = fs::metadata(sandbox.join("run.sh"))
            .expect("copied")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(sandbox.join("copy.sh").exists());
    }

    #[test]
    fn remote_schemes_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            fetch(&[uri("http://example.invalid/x")], dir.path()),
            Err(FetchError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            fetch(&[uri("/nonexistent/file")], dir.path()),
            Err(FetchError::Copy { .. })
        ));
    }
}
