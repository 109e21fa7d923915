//! CPU priority of the framework's background threads. Threads whose work
//! is not on any launch's path (the writer of task records, whose syncs
//! cost CPU as well as I/O) lower their own priority with
//! [`lower_current_thread`], so the event loop and the runtime's workers
//! get a core first.

/// The nice value of background threads.
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's priority to nice value `nice`, unless it
/// already runs at that or lower; returns the nice value it runs at. Linux
/// keeps nice per thread, and threads created afterwards inherit it. A
/// thread may always lower its own priority.
pub fn lower_current_thread(nice: i32) -> std::io::Result<i32> {
    let tid = nix::unistd::gettid().as_raw();
    let current = nice_of_thread(tid)?;
    if current >= nice {
        return Ok(current);
    }
    set_nice(tid, nice)?;
    Ok(nice)
}

/// The nice value of thread `tid` of this process, from `/proc`.
pub fn nice_of_thread(tid: i32) -> std::io::Result<i32> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))?;
    // Field 19, counted from the state field after the parenthesised name.
    stat.rfind(") ")
        .and_then(|end| stat[end + 2..].split(' ').nth(16))
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unreadable /proc stat of thread {tid}")))
}

#[allow(unsafe_code)]
fn set_nice(tid: i32, nice: i32) -> std::io::Result<()> {
    // SAFETY: `setpriority(2)` takes plain integers and touches no memory
    // of ours; on Linux `PRIO_PROCESS` with a thread id sets that thread.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_new_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().expect("thread")
    }

    #[test]
    fn a_thread_lowers_only_its_own_priority() {
        let tid = || nix::unistd::gettid().as_raw();
        let main = tid();
        let before = nice_of_thread(main).unwrap();
        let lowered = on_new_thread(move || {
            let set = lower_current_thread(before + 3).expect("setpriority");
            let mine = nice_of_thread(tid()).unwrap();
            let child = on_new_thread(move || nice_of_thread(tid()).unwrap());
            // Asking for a higher priority than the thread has changes nothing.
            let again = lower_current_thread(before + 1).expect("setpriority");
            (set, mine, child, again, nice_of_thread(tid()).unwrap())
        });
        let want = before + 3;
        assert_eq!(lowered, (want, want, want, want, want));
        assert_eq!(
            nice_of_thread(main).unwrap(),
            before,
            "the other threads keep theirs"
        );
    }
}
