//! Named network namespaces, as `ip netns add|del|exec` keeps them: a file
//! `/var/run/netns/<name>` with the namespace bind-mounted on it, the
//! directory itself a shared mount so the namespaces show in every mount
//! namespace. Entering a namespace (`setns`) changes only the calling thread,
//! so work inside one runs on a fresh, dedicated thread that ends afterwards
//! ([`run_in`]); no pooled thread is ever moved.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::Pid;
use tracing::debug;

/// Where named namespaces live (`ip netns` uses the same directory).
pub const NETNS_DIR: &str = "/var/run/netns";

/// Why a namespace operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// `/var/run/netns` could not be created or made a shared mount.
    #[error("cannot prepare {NETNS_DIR}: {0}")]
    RunDir(String),
    /// A namespace of that name exists already.
    #[error("network namespace {name} already exists")]
    Exists { name: String },
    /// A step of `ip netns add` failed.
    #[error("cannot create network namespace {name}: {step}: {errno}")]
    Create {
        name: String,
        step: &'static str,
        errno: Errno,
    },
    /// The namespace file cannot be opened (it does not exist?).
    #[error("cannot open network namespace {name}")]
    Open {
        name: String,
        #[source]
        source: io::Error,
    },
    /// `setns` into the namespace failed.
    #[error("cannot enter network namespace {name}: {errno}")]
    Enter { name: String, errno: Errno },
    /// Unmounting or removing the namespace file failed.
    #[error("cannot delete network namespace {name}: {detail}")]
    Delete { name: String, detail: String },
    /// The dedicated thread could not be started or panicked.
    #[error("the thread working in network namespace {name} failed: {detail}")]
    Thread { name: String, detail: String },
}

/// `/var/run/netns/<name>`.
pub fn path_of(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// True when `/var/run/netns/<name>` exists.
pub fn exists(name: &str) -> bool {
    path_of(name).exists()
}

/// Opens the namespace (for `setns`, or `IFLA_NET_NS_FD` when moving a link).
pub fn open(name: &str) -> Result<File, NetnsError> {
    File::open(path_of(name)).map_err(|source| NetnsError::Open {
        name: name.to_owned(),
        source,
    })
}

/// `ip netns add <name>`: a new, empty network namespace kept alive by a bind
/// mount on `/var/run/netns/<name>`. Fails with [`NetnsError::Exists`] rather
/// than reuse a namespace.
///
/// The mount point file, the new namespace and the bind mount are all made
/// on one dedicated thread, which removes the file again when a step fails.
/// Should the caller stop waiting (the future is dropped, e.g. its task was
/// aborted), the namespace is removed as soon as it is made: an abandoned
/// create leaves neither a namespace nor an empty mount point file behind.
pub async fn create(name: &str) -> Result<(), NetnsError> {
    prepare_run_dir()?;
    let owned = name.to_owned();
    match on_thread(name, move || make(&owned)).await {
        Ok(made) => {
            made?.keep();
            debug!(netns = name, "created");
            Ok(())
        }
        Err(e) => {
            // The thread died midway: undo whatever it got to.
            remove_mount_point(name);
            Err(e)
        }
    }
}

/// A namespace [`make`] created, removed again when dropped before its
/// creator took it over with [`Made::keep`].
struct Made {
    name: Option<String>,
}

impl Made {
    /// The namespace stays.
    fn keep(mut self) {
        self.name = None;
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            remove_mount_point(&name);
            debug!(netns = %name, "creation abandoned by its caller; removed");
        }
    }
}

/// The work of [`create`], on its own thread: the mount point file, then a
/// new network namespace for this thread bind-mounted on it. On error the
/// file is removed again.
fn make(name: &str) -> Result<Made, NetnsError> {
    let path = path_of(name);
    let create_err = |step, errno| NetnsError::Create {
        name: name.to_owned(),
        step,
        errno,
    };
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => NetnsError::Exists {
                name: name.to_owned(),
            },
            _ => create_err("create the mount point", errno_of(&e)),
        })?;
    let mounted = unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| ("unshare", e))
        .and_then(|()| {
            mount(
                Some("/proc/thread-self/ns/net"),
                &path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| ("bind-mount", e))
        });
    match mounted {
        Ok(()) => Ok(Made {
            name: Some(name.to_owned()),
        }),
        Err((step, errno)) => {
            let _ = fs::remove_file(&path);
            Err(create_err(step, errno))
        }
    }
}

/// Unmounts and removes `/var/run/netns/<name>`, ignoring what is not there.
fn remove_mount_point(name: &str) {
    let path = path_of(name);
    let _ = umount2(&path, MntFlags::MNT_DETACH);
    let _ = fs::remove_file(&path);
}

/// `ip netns del <name>`: unmounts and removes the file. Returns false when
/// there was no such namespace. The namespace itself goes away once no process
/// or open file uses it any more.
pub fn delete(name: &str) -> Result<bool, NetnsError> {
    let path = path_of(name);
    if fs::symlink_metadata(&path).is_err() {
        return Ok(false);
    }
    match umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => {
            return Err(NetnsError::Delete {
                name: name.to_owned(),
                detail: format!("umount: {e}"),
            })
        }
    }
    match fs::remove_file(&path) {
        Ok(()) => {
            debug!(netns = name, "deleted");
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(NetnsError::Delete {
            name: name.to_owned(),
            detail: format!("remove: {e}"),
        }),
    }
}

/// Runs `f` on a new thread inside namespace `name` (`ip netns exec`, for a
/// closure); the thread ends when `f` returns.
pub async fn run_in<T, F>(name: &str, f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file = open(name)?;
    let owned = name.to_owned();
    on_thread(name, move || {
        setns(&file, CloneFlags::CLONE_NEWNET)
            .map_err(|errno| NetnsError::Enter { name: owned, errno })?;
        drop(file);
        Ok(f())
    })
    .await?
}

/// Pids of the processes whose network namespace is `name` (what `ip netns
/// pids` prints), read from `/proc/*/ns/net`.
pub fn pids_in(name: &str) -> Vec<Pid> {
    let Ok(ns) = fs::metadata(path_of(name)) else {
        return Vec::new();
    };
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| m.ino() == ns.ino() && m.dev() == ns.dev())
        })
        .map(Pid::from_raw)
        .collect()
}

/// Runs `f` on a fresh OS thread and awaits its result without blocking the
/// runtime. A result the caller no longer waits for is dropped on the thread.
async fn on_thread<T, F>(name: &str, f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread_err = |detail: String| NetnsError::Thread {
        name: name.to_owned(),
        detail,
    };
    std::thread::Builder::new()
        .name("netns".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| thread_err(e.to_string()))?;
    rx.await.map_err(|_| thread_err("it panicked".into()))
}

/// Makes `/var/run/netns` exist and be a shared mount, once per process
/// (what `ip netns add` does on every call).
fn prepare_run_dir() -> Result<(), NetnsError> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            fs::create_dir_all(NETNS_DIR).map_err(|e| format!("mkdir: {e}"))?;
            let shared = || {
                mount(
                    None::<&str>,
                    NETNS_DIR,
                    None::<&str>,
                    MsFlags::MS_SHARED | MsFlags::MS_REC,
                    None::<&str>,
                )
            };
            match shared() {
                Ok(()) => Ok(()),
                Err(Errno::EINVAL) => {
                    mount(
                        Some(NETNS_DIR),
                        NETNS_DIR,
                        Some("none"),
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None::<&str>,
                    )
                    .map_err(|e| format!("bind-mount on itself: {e}"))?;
                    shared().map_err(|e| format!("make shared: {e}"))
                }
                Err(e) => Err(format!("make shared: {e}")),
            }
        })
        .clone()
        .map_err(NetnsError::RunDir)
}

fn errno_of(e: &io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_files_live_where_ip_netns_looks() {
        assert_eq!(
            path_of("ovnm-0123456789"),
            PathBuf::from("/var/run/netns/ovnm-0123456789")
        );
    }

    #[test]
    fn deleting_a_missing_namespace_is_not_an_error() {
        assert!(!delete("ovnm-never-created-here").unwrap());
        assert!(pids_in("ovnm-never-created-here").is_empty());
    }

    /// A name no other test or run uses.
    fn unique(what: &str) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "ovnm-t{what}{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Removes the namespace when the test ends, passed or failed.
    struct Cleanup(String);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            remove_mount_point(&self.0);
        }
    }

    /// Whether `/var/run/netns/<name>` is a mount point in this process.
    fn mounted(name: &str) -> bool {
        // mountinfo shows the path resolved (`/run/netns/...`).
        let dir = fs::canonicalize(NETNS_DIR).unwrap_or_else(|_| NETNS_DIR.into());
        let path = dir.join(name);
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split(' ').nth(4) == path.to_str())
    }

    #[tokio::test]
    async fn a_created_namespace_is_mounted_and_delete_removes_its_file() {
        let name = unique("d");
        let _cleanup = Cleanup(name.clone());
        create(&name).await.expect("created");
        assert!(mounted(&name), "bind-mounted on its file");
        assert!(matches!(
            create(&name).await,
            Err(NetnsError::Exists { .. })
        ));
        assert!(delete(&name).expect("deleted"));
        assert!(!path_of(&name).exists(), "the mount point file is removed");
        assert!(!mounted(&name));
        assert!(!delete(&name).expect("a second delete finds nothing"));
    }

    #[tokio::test]
    async fn deleting_a_bare_mount_point_file_removes_it() {
        // What a namespace leaves when its mount went away with another
        // mount namespace: an empty file.
        let name = unique("p");
        let _cleanup = Cleanup(name.clone());
        prepare_run_dir().expect("run dir");
        fs::write(path_of(&name), b"").expect("placeholder");
        assert!(delete(&name).expect("deleted"));
        assert!(!path_of(&name).exists());
    }

    /// How many threads this process has.
    fn threads() -> usize {
        fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
    }

    #[tokio::test]
    async fn an_abandoned_create_leaves_no_file_or_mount() {
        let mut abandoned = 0;
        for _ in 0..10 {
            let name = unique("a");
            let _cleanup = Cleanup(name.clone());
            let before = threads();
            let mut creating = Box::pin(create(&name));
            // One poll starts the creation on its thread; then the caller
            // gives up, as when the task awaiting it is aborted.
            match futures::poll!(creating.as_mut()) {
                std::task::Poll::Pending => {
                    drop(creating);
                    abandoned += 1;
                }
                std::task::Poll::Ready(made) => {
                    made.expect("created");
                    delete(&name).expect("deleted");
                }
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while threads() > before {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the creating thread still runs after 10s"
                );
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            assert!(!path_of(&name).exists(), "{name}: mount point file left");
            assert!(!mounted(&name), "{name}: namespace still mounted");
        }
        assert!(abandoned > 0, "every create was done after one poll");
    }

    #[tokio::test]
    async fn entering_a_missing_namespace_names_it() {
        let err = run_in("ovnm-never-created-here", || ()).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot open network namespace ovnm-never-created-here"),
            "{err}"
        );
    }
}
