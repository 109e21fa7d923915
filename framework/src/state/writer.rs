//! The background writer of task records: the scheduler queues a record
//! change and goes on; a thread writes what accumulated while it was busy as
//! one batch ([`atomic::write_batch`]: one directory `fsync`, one `syncfs`
//! for the data of a large batch),
//! so a burst of 2,000 launches costs a handful of syncs instead of 2,000,
//! and none of them on the event loop. The last change of a task in a batch
//! wins (a record written then removed is never written). [`Writer::flush`]
//! waits for everything queued before it and reports what failed.
//!
//! The thread runs at a lower priority ([`crate::cpu::BACKGROUND_NICE`]):
//! the event loop and the runtime's workers get the CPU first.
//!
//! A record only lags the NB port it describes (the NB is the truth for
//! addresses), so a crash that loses queued changes is repaired at the next
//! start like a crash between a port and its record.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;

use tracing::warn;

use super::atomic;
use ovn::report::Chain;

#[derive(Debug)]
enum Job {
    /// Replace (`Some`) or remove (`None`) a file of the tasks dir.
    Change(String, Option<Vec<u8>>),
    /// Answer once everything queued before is written.
    Flush(mpsc::Sender<Vec<(String, std::io::Error)>>),
}

/// The writer thread and its queue.
#[derive(Debug)]
pub(super) struct Writer {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
    /// Something was queued since the last flush.
    queued: bool,
}

impl Writer {
    /// A writer for the files of `dir`, with its thread.
    pub(super) fn new(dir: PathBuf) -> Writer {
        let (tx, rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || run(&dir, &rx));
        match thread {
            Ok(handle) => Writer {
                tx: Some(tx),
                thread: Some(handle),
                queued: false,
            },
            Err(e) => {
                warn!(error = %Chain(&e), "cannot start the state writer thread; task records are written inline");
                Writer {
                    tx: None,
                    thread: None,
                    queued: false,
                }
            }
        }
    }

    /// Queues a change; `Err` gives it back when there is no thread (the
    /// caller writes it inline).
    pub(super) fn queue(
        &mut self,
        name: String,
        bytes: Option<Vec<u8>>,
    ) -> Result<(), (String, Option<Vec<u8>>)> {
        let Some(tx) = &self.tx else {
            return Err((name, bytes));
        };
        match tx.send(Job::Change(name, bytes)) {
            Ok(()) => {
                self.queued = true;
                Ok(())
            }
            Err(mpsc::SendError(Job::Change(name, bytes))) => Err((name, bytes)),
            Err(_) => unreachable!("a change was sent"),
        }
    }

    /// Waits until every queued change is written; the files that failed.
    pub(super) fn flush(&mut self) -> Vec<(String, std::io::Error)> {
        if !self.queued {
            return Vec::new();
        }
        self.queued = false;
        let Some(tx) = &self.tx else {
            return Vec::new();
        };
        let (done_tx, done_rx) = mpsc::channel();
        if tx.send(Job::Flush(done_tx)).is_err() {
            return vec![(
                "tasks".into(),
                std::io::Error::other("the state writer thread is gone"),
            )];
        }
        done_rx.recv().unwrap_or_else(|_| {
            vec![(
                "tasks".into(),
                std::io::Error::other("the state writer thread is gone"),
            )]
        })
    }
}

impl Drop for Writer {
    /// Writes what is queued, then ends the thread.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(handle) = self.thread.take() {
            let _ = handle.join();
        }
    }
}

/// The thread: each round takes every job queued so far and writes them as
/// one batch; failures are logged and handed to the next flush.
fn run(dir: &std::path::Path, rx: &mpsc::Receiver<Job>) {
    // Syncs cost CPU as well as I/O; none of them is on a launch's path.
    if let Err(e) = crate::cpu::lower_current_thread(crate::cpu::BACKGROUND_NICE) {
        warn!(error = %Chain(&e), "cannot lower the state writer's priority");
    }
    let mut failed: Vec<(String, std::io::Error)> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut changes: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        let mut waiters = Vec::new();
        for job in std::iter::once(first).chain(rx.try_iter()) {
            match job {
                Job::Change(name, bytes) => {
                    changes.insert(name, bytes);
                }
                Job::Flush(done) => waiters.push(done),
            }
        }
        if !changes.is_empty() {
            for (name, e) in atomic::write_batch(dir, changes.into_iter().collect()) {
                warn!(dir = %dir.display(), file = %name, error = %Chain(&e), "cannot write the task record");
                failed.push((name, e));
            }
        }
        for done in waiters {
            let _ = done.send(std::mem::take(&mut failed));
        }
    }
}
