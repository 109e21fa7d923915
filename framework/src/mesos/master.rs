//! Where the Mesos master is, as `--master` gives it (the forms of Mesos'
//! own `--master` flag): a master's `HOST:PORT` (or `http[s]://` URL),
//! whose 307 points to the leader, or `zk://HOST:PORT[,HOST:PORT...]/PATH`,
//! the ZooKeeper group in which the masters contend (see
//! [`super::detector`]).
//!
//! Mesos' `zk://USER:PASSWORD@...` (digest credentials) is refused: the
//! masters create their znodes with ZooKeeper's `EVERYONE_READ_CREATOR_ALL`
//! ACL when they authenticate, so finding the leader needs no credentials,
//! and the master string is logged and shown by the HTTP API, where a
//! password has no business.

use std::fmt;
use std::str::FromStr;

use super::endpoint::scheduler_url;
use super::error::MesosError;

/// The scheme of a ZooKeeper master URL.
pub const ZK_SCHEME: &str = "zk://";

/// ZooKeeper's client port, for a server given without one (as its own
/// clients do).
pub const DEFAULT_ZK_PORT: u16 = 2181;

/// The Mesos master of `--master`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterSpec {
    /// One master, `HOST:PORT` or `http[s]://HOST:PORT[/prefix]`: a
    /// non-leading master redirects (307) to the leader.
    Direct(String),
    /// The masters' ZooKeeper group: the leader is the member with the
    /// lowest sequence.
    ZooKeeper(ZooKeeperUrl),
}

/// `zk://HOST:PORT[,HOST:PORT...]/PATH`: the ZooKeeper servers and the
/// znode under which the masters contend.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ZooKeeperUrl {
    /// `host:port` of each server, in the given order (port 2181 added
    /// when missing).
    pub servers: Vec<String>,
    /// The group's znode: absolute, without a trailing `/`, never `/`.
    pub path: String,
}

impl ZooKeeperUrl {
    /// Parses `zk://HOST:PORT[,HOST:PORT...]/PATH`; the error says what is
    /// wrong.
    pub fn parse(url: &str) -> Result<ZooKeeperUrl, String> {
        match strip_zk_scheme(url.trim()) {
            Some(rest) => parse_zk(rest),
            None => Err("expected zk://HOST:PORT[,HOST:PORT...]/PATH".to_string()),
        }
    }

    /// The servers as a ZooKeeper connect string: `h1:p1,h2:p2`.
    pub fn connect_string(&self) -> String {
        self.servers.join(",")
    }
}

impl fmt::Display for ZooKeeperUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ZK_SCHEME}{}{}", self.connect_string(), self.path)
    }
}

impl fmt::Display for MasterSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterSpec::Direct(master) => f.write_str(master),
            MasterSpec::ZooKeeper(url) => url.fmt(f),
        }
    }
}

impl MasterSpec {
    /// Parses `--master`; the error says what is wrong (without repeating
    /// the value, which clap and [`MesosError::InvalidMaster`] name).
    pub fn parse(master: &str) -> Result<MasterSpec, String> {
        let trimmed = master.trim();
        match strip_zk_scheme(trimmed) {
            Some(rest) => parse_zk(rest).map(MasterSpec::ZooKeeper),
            None => {
                scheduler_url(trimmed).map_err(|e| match e {
                    MesosError::InvalidMaster { reason, .. } => reason,
                    other => other.to_string(),
                })?;
                Ok(MasterSpec::Direct(trimmed.to_string()))
            }
        }
    }
}

impl FromStr for MasterSpec {
    type Err = MesosError;

    fn from_str(master: &str) -> Result<Self, Self::Err> {
        MasterSpec::parse(master).map_err(|reason| MesosError::InvalidMaster {
            master: master.to_string(),
            reason,
        })
    }
}

/// What follows `zk://` (any case), if `master` starts with it.
fn strip_zk_scheme(master: &str) -> Option<&str> {
    let head = master.get(..ZK_SCHEME.len())?;
    head.eq_ignore_ascii_case(ZK_SCHEME)
        .then(|| &master[ZK_SCHEME.len()..])
}

/// `HOST:PORT[,HOST:PORT...]/PATH`.
fn parse_zk(rest: &str) -> Result<ZooKeeperUrl, String> {
    const FORM: &str = "expected zk://HOST:PORT[,HOST:PORT...]/PATH";
    let (servers, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if servers.contains('@') {
        return Err(
            "ZooKeeper credentials (zk://USER:PASSWORD@...) are not supported: \
             the masters' znodes are world-readable, drop the credentials"
                .to_string(),
        );
    }
    if servers.trim().is_empty() {
        return Err(format!("no ZooKeeper server ({FORM})"));
    }
    let servers = servers
        .split(',')
        .map(parse_server)
        .collect::<Result<Vec<_>, _>>()?;
    let path = parse_path(path).map_err(|reason| format!("{reason} ({FORM})"))?;
    Ok(ZooKeeperUrl { servers, path })
}

/// One `host[:port]` of the server list, normalised to `host:port`.
fn parse_server(server: &str) -> Result<String, String> {
    let server = server.trim();
    if server.is_empty() {
        return Err("an empty ZooKeeper server in the list".to_string());
    }
    if server.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("ZooKeeper server {server:?} contains whitespace"));
    }
    let (host, port) = if let Some(bracketed) = server.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("ZooKeeper server {server:?} lacks the closing ]"))?;
        match after {
            "" => (format!("[{host}]"), None),
            _ => match after.strip_prefix(':') {
                Some(port) => (format!("[{host}]"), Some(port)),
                None => return Err(format!("ZooKeeper server {server:?}: junk after ]")),
            },
        }
    } else {
        match server.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (server.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(format!("ZooKeeper server {server:?} has no host"));
    }
    let port = match port {
        None => DEFAULT_ZK_PORT,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => {
                return Err(format!(
                    "ZooKeeper server {server:?} has a bad port {port:?} (1-65535)"
                ))
            }
        },
    };
    Ok(format!("{host}:{port}"))
}

/// The group's znode: absolute, trailing `/` dropped (as Mesos does),
/// not the root, no empty, `.` or `..` component.
fn parse_path(path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Err("no path".to_string());
    }
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Err("the path is the ZooKeeper root /, not the masters' znode".to_string());
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("the path {path:?} contains whitespace"));
    }
    for component in path.split('/').skip(1) {
        if component.is_empty() || component == "." || component == ".." {
            return Err(format!("the path {path:?} has an empty, . or .. component"));
        }
    }
    Ok(path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zk(servers: &[&str], path: &str) -> MasterSpec {
        MasterSpec::ZooKeeper(ZooKeeperUrl {
            servers: servers.iter().map(|s| s.to_string()).collect(),
            path: path.to_string(),
        })
    }

    #[test]
    fn host_port_and_http_urls_are_direct() {
        for master in [
            "10.0.0.1:5050",
            "master.mesos:5050",
            "http://m:5050",
            "https://m:5050/prefix",
        ] {
            let spec: MasterSpec = master.parse().expect(master);
            assert_eq!(spec, MasterSpec::Direct(master.to_string()));
            assert_eq!(spec.to_string(), master);
        }
        assert_eq!(
            " m:5050 ".parse::<MasterSpec>().unwrap(),
            MasterSpec::Direct("m:5050".into())
        );
    }

    #[test]
    fn zk_urls_give_servers_and_path() {
        let table = [
            ("zk://10.0.0.1:2181/mesos", zk(&["10.0.0.1:2181"], "/mesos")),
            (
                "zk://a:2181,b:2182,c:2183/mesos",
                zk(&["a:2181", "b:2182", "c:2183"], "/mesos"),
            ),
            ("zk://a/mesos/", zk(&["a:2181"], "/mesos")),
            ("ZK://a:1/x/y", zk(&["a:1"], "/x/y")),
            (" zk://[::1]:2181/mesos ", zk(&["[::1]:2181"], "/mesos")),
            ("zk://[::1]/mesos", zk(&["[::1]:2181"], "/mesos")),
        ];
        for (text, want) in table {
            assert_eq!(text.parse::<MasterSpec>().expect(text), want, "{text}");
        }
        let spec: MasterSpec = "zk://a:2181,b:2182/mesos".parse().unwrap();
        assert_eq!(spec.to_string(), "zk://a:2181,b:2182/mesos");
        let MasterSpec::ZooKeeper(url) = spec else {
            panic!("not zk")
        };
        assert_eq!(url.connect_string(), "a:2181,b:2182");
    }

    #[test]
    fn bad_zk_urls_say_what_is_wrong_on_one_line() {
        let table = [
            ("zk://", "no ZooKeeper server"),
            ("zk:///mesos", "no ZooKeeper server"),
            ("zk://a:2181", "no path"),
            ("zk://a:2181/", "the ZooKeeper root /"),
            ("zk://a:2181//", "the ZooKeeper root /"),
            ("zk://a:x/mesos", "bad port \"x\""),
            ("zk://a:0/mesos", "bad port \"0\""),
            ("zk://a:70000/mesos", "bad port \"70000\""),
            ("zk://a:2181,/mesos", "an empty ZooKeeper server"),
            ("zk://:2181/mesos", "has no host"),
            ("zk://[::1/mesos", "closing ]"),
            ("zk://a b:2181/mesos", "whitespace"),
            ("zk://a:2181/me//sos", "empty, . or .. component"),
            ("zk://a:2181/mesos/..", "empty, . or .. component"),
            ("zk://user:secret@a:2181/mesos", "credentials"),
        ];
        for (text, reason) in table {
            let error = text.parse::<MasterSpec>().expect_err(text);
            let line = error.to_string();
            assert!(line.contains(reason), "{text}: {line}");
            assert!(line.contains(text.trim()), "{text}: {line}");
            assert!(!line.contains('\n'), "{text}: {line}");
            assert!(!error.is_retryable(), "{text}");
        }
        let line = "zk://user:secret@a:2181/mesos"
            .parse::<MasterSpec>()
            .unwrap_err()
            .to_string();
        assert!(line.contains("not supported"), "{line}");
    }

    #[test]
    fn bad_direct_masters_are_refused_too() {
        for master in ["", "ftp://m:21", "http://", "a b:5050"] {
            let error = master.parse::<MasterSpec>().expect_err(master);
            assert!(
                matches!(error, MesosError::InvalidMaster { .. }),
                "{master}: {error:?}"
            );
        }
    }
}
