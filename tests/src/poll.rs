//! Waiting for a condition with a deadline, instead of sleeping.
//!
//! Tests never sleep a fixed time: they poll a condition every few
//! milliseconds and, when the deadline passes, fail with what was awaited and
//! the last result seen (the last error, or that the condition was not met).

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::bail;

/// First pause between two polls.
const FIRST_PAUSE: Duration = Duration::from_millis(2);
/// Longest pause between two polls.
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// What the last poll returned, for the timeout message.
#[derive(Debug)]
struct LastSeen(Option<String>);

impl LastSeen {
    fn record<T>(&mut self, result: &anyhow::Result<Option<T>>) {
        self.0 = match result {
            Ok(_) => None,
            Err(e) => Some(format!("{e:#}")),
        };
    }

    fn timeout(self, what: &str, timeout: Duration, polls: u32) -> anyhow::Error {
        let last = match self.0 {
            Some(e) => format!("last error: {e}"),
            None => "the condition was not met".to_string(),
        };
        anyhow::anyhow!("timed out after {timeout:?} ({polls} polls) waiting for {what}; {last}")
    }
}

/// Polls `cond` until it returns `Ok(Some(v))` or `timeout` passes. `cond` runs
/// at least once; `Err` results are retried (the last one is reported).
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    let mut last = LastSeen(None);
    let mut polls = 0;
    loop {
        polls += 1;
        let result = cond();
        if let Ok(Some(v)) = result {
            return Ok(v);
        }
        last.record(&result);
        let now = Instant::now();
        if now >= deadline {
            return Err(last.timeout(what, timeout, polls));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Async [`wait_for`]: awaits `cond()` until it yields `Ok(Some(v))` or
/// `timeout` passes, pausing with `tokio::time::sleep` between polls.
pub async fn wait_for_async<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut cond: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    let mut last = LastSeen(None);
    let mut polls = 0;
    loop {
        polls += 1;
        let result = cond().await;
        if let Ok(Some(v)) = result {
            return Ok(v);
        }
        last.record(&result);
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(last.timeout(what, timeout, polls));
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// `Ok(Some(()))` when `ok`, else `Ok(None)`: for boolean conditions.
pub fn ready(ok: bool) -> anyhow::Result<Option<()>> {
    Ok(ok.then_some(()))
}

/// Fails with `msg` unless `cond` holds: `ensure`-style helper for polls.
pub fn check(cond: bool, msg: impl FnOnce() -> String) -> anyhow::Result<()> {
    if !cond {
        bail!(msg());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_met_on_the_third_poll_returns_its_value() {
        let mut n = 0;
        let v = wait_for("n to reach 3", Duration::from_secs(5), || {
            n += 1;
            Ok((n == 3).then_some(n * 10))
        })
        .unwrap();
        assert_eq!(v, 30);
        assert_eq!(n, 3);
    }

    #[test]
    fn a_timeout_names_what_was_awaited_and_the_last_error() {
        let mut n = 0;
        let err = wait_for::<()>("the moon", Duration::from_millis(30), || {
            n += 1;
            bail!("error number {n}")
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("waiting for the moon"), "{err}");
        assert!(
            err.contains(&format!("last error: error number {n}")),
            "{err}"
        );
    }

    #[test]
    fn a_timeout_after_none_says_the_condition_was_not_met() {
        let err = wait_for::<()>("nothing", Duration::ZERO, || Ok(None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("the condition was not met"), "{err}");
        assert!(err.contains("(1 polls)"), "{err}");
    }

    #[test]
    fn check_fails_with_its_message() {
        assert!(check(true, || "no".into()).is_ok());
        assert_eq!(check(false, || "no".into()).unwrap_err().to_string(), "no");
        assert!(ready(true).unwrap().is_some());
        assert!(ready(false).unwrap().is_none());
    }

    #[tokio::test]
    async fn the_async_variant_awaits_the_condition() {
        let mut n = 0;
        let v = wait_for_async("n to reach 2", Duration::from_secs(5), || {
            n += 1;
            let k = n;
            async move { Ok((k == 2).then_some(k)) }
        })
        .await
        .unwrap();
        assert_eq!(v, 2);
        let err = wait_for_async::<(), _, _>("never", Duration::from_millis(10), || async {
            bail!("broken")
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("waiting for never; last error: broken"),
            "{err}"
        );
    }
}
