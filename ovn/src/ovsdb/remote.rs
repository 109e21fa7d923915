//! OVSDB remote addresses in the `ovn-nbctl --db` syntax: `unix:PATH`,
//! `tcp:HOST:PORT` (IPv6 as `tcp:[ADDR]:PORT`), and comma-separated lists of them
//! for clustered databases. `ssl:` is recognised and refused until TLS support
//! lands; passive forms (`punix:`, `ptcp:`) are for servers and refused too.

use std::fmt;
use std::path::PathBuf;

use super::error::Error;

/// Where an OVSDB server listens (an active remote).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Remote {
    /// `unix:PATH`: a Unix domain socket.
    Unix(PathBuf),
    /// `tcp:HOST:PORT`: plain TCP.
    Tcp { host: String, port: u16 },
}

impl Remote {
    /// Parses one remote such as `unix:/run/ovn/ovnnb_db.sock` or `tcp:[::1]:6641`.
    pub fn parse(s: &str) -> Result<Remote, Error> {
        let s = s.trim();
        let bad = |reason: &str| Error::BadRemote {
            remote: s.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| bad("expected unix:PATH or tcp:HOST:PORT"))?;
        match scheme {
            "unix" => {
                if rest.is_empty() {
                    return Err(bad("empty socket path"));
                }
                Ok(Remote::Unix(PathBuf::from(rest)))
            }
            "tcp" => {
                let (host, port) =
                    split_host_port(rest).ok_or_else(|| bad("expected HOST:PORT"))?;
                let port = port
                    .parse::<u16>()
                    .map_err(|_| bad("port is not a number from 0 to 65535"))?;
                if host.is_empty() {
                    return Err(bad("empty host"));
                }
                Ok(Remote::Tcp {
                    host: host.to_owned(),
                    port,
                })
            }
            "ssl" => Err(bad("ssl: remotes are not supported yet")),
            "punix" | "ptcp" | "pssl" => Err(bad(
                "passive remotes are for servers; a client needs unix:, tcp: or ssl:",
            )),
            _ => Err(bad("unknown scheme; expected unix:, tcp: or ssl:")),
        }
    }
}

/// Splits `HOST:PORT` or `[V6ADDR]:PORT`.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        Some((host, port))
    } else {
        let (host, port) = s.rsplit_once(':')?;
        if host.contains(':') {
            // An unbracketed IPv6 address is ambiguous.
            return None;
        }
        Some((host, port))
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Unix(p) => write!(f, "unix:{}", p.display()),
            Remote::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Remote::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
        }
    }
}

impl std::str::FromStr for Remote {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Remote::parse(s)
    }
}

/// Parses a comma-separated remote list (`unix:/a.sock,tcp:10.0.0.1:6641`), as
/// given to `ovn-nbctl --db` for a clustered database.
pub fn parse_remotes(s: &str) -> Result<Vec<Remote>, Error> {
    let remotes = s
        .split(',')
        .filter(|part| !part.trim().is_empty())
        .map(Remote::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if remotes.is_empty() {
        return Err(Error::BadRemote {
            remote: s.to_owned(),
            reason: "no remote given".to_owned(),
        });
    }
    Ok(remotes)
}

/// Formats a remote list back into its comma-separated form.
pub fn format_remotes(remotes: &[Remote]) -> String {
    remotes
        .iter()
        .map(Remote::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(e: Error) -> String {
        match e {
            Error::BadRemote { reason, .. } => reason,
            other => panic!("expected BadRemote, got {other:?}"),
        }
    }

    #[test]
    fn unix_and_tcp_remotes_parse_and_print_back() {
        for s in [
            "unix:/run/ovn/ovnnb_db.sock",
            "tcp:10.0.0.1:6641",
            "tcp:[::1]:6641",
            "tcp:nb.example:6641",
        ] {
            assert_eq!(Remote::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Remote::parse("tcp:[::1]:6641").unwrap(),
            Remote::Tcp {
                host: "::1".into(),
                port: 6641
            }
        );
    }

    #[test]
    fn a_comma_separated_list_keeps_its_order() {
        let list = parse_remotes("unix:/a.sock, tcp:10.0.0.1:6641,tcp:[fe80::1]:6643").unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0], Remote::Unix("/a.sock".into()));
        assert_eq!(
            format_remotes(&list),
            "unix:/a.sock,tcp:10.0.0.1:6641,tcp:[fe80::1]:6643"
        );
    }

    #[test]
    fn ssl_remotes_are_refused_with_a_clear_reason() {
        assert_eq!(
            reason(Remote::parse("ssl:10.0.0.1:6641").unwrap_err()),
            "ssl: remotes are not supported yet"
        );
    }

    #[test]
    fn malformed_remotes_are_errors() {
        for bad in [
            "",
            "unix:",
            "tcp:10.0.0.1",
            "tcp:10.0.0.1:http",
            "tcp:10.0.0.1:70000",
            "tcp::6641",
            "tcp:::1:6641",
            "tcp:[::1]6641",
            "ptcp:6641",
            "punix:/a.sock",
            "http://x",
            "/run/ovn.sock",
        ] {
            assert!(Remote::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_remotes(" , ").is_err());
        assert!(parse_remotes("unix:/a.sock,ssl:1.2.3.4:6641").is_err());
    }
}
