//! [`Chain`]: an error and its causes on one line, `outer: inner: root`.
//! Errors of this workspace say what failed in their own `Display` and
//! leave the cause to `source()`, so a log line or a message that shows
//! the whole story renders the chain: `warn!(error = %Chain(&e), ...)`.

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its sources.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot connect to {0}")]
    struct Outer(&'static str, #[source] std::io::Error);

    #[test]
    fn each_cause_follows_its_wrapper_once() {
        let e = Outer(
            "unix:/x.sock",
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        );
        assert_eq!(
            Chain(&e).to_string(),
            "cannot connect to unix:/x.sock: no such file"
        );
    }
}
