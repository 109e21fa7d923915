//! Process identity from `/proc`: a pid together with its start time (clock
//! ticks since boot, `/proc/PID/stat` field 22), so a recycled pid is never
//! mistaken for the executor that created a port.

use std::fs;

/// This process' pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Me {
    pub pid: u32,
    pub start_time: u64,
}

impl Me {
    /// The running process.
    pub fn current() -> Me {
        let pid = std::process::id();
        Me {
            pid,
            start_time: start_time(pid as i32).unwrap_or(0),
        }
    }
}

/// Start time of `pid`, None when there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// True when `pid` runs, is not a zombie and (if given) started at `start`.
pub fn is_alive(pid: i32, start: Option<u64>) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let running = status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .is_some_and(|s| !matches!(s.trim_start().chars().next(), Some('Z' | 'X')));
    running && start.is_none_or(|s| start_time(pid) == Some(s))
}

/// Resident memory of `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_with_its_own_start_time() {
        let me = Me::current();
        assert!(me.start_time > 0);
        assert!(is_alive(me.pid as i32, Some(me.start_time)));
        assert!(
            !is_alive(me.pid as i32, Some(me.start_time + 1)),
            "another start time is another process"
        );
        assert!(rss_kib(me.pid as i32).is_some_and(|k| k > 0));
    }

    #[test]
    fn a_pid_beyond_the_kernel_limit_is_not_alive() {
        assert!(!is_alive(4_194_305, None));
        assert_eq!(start_time(4_194_305), None);
    }
}
