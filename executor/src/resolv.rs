//! A task's own `/etc/resolv.conf`, for an attachment with DNS labels
//! ([`crate::attachment::Dns`]): what it says ([`ResolvConf`]) and where the
//! executor keeps it ([`path_of`]: `/run/ovn-mesos/netns/<namespace>/resolv.conf`,
//! the counterpart of `ip netns`' `/etc/netns/<namespace>/resolv.conf`). The
//! network setup writes it ([`write()`]) and the teardown removes it
//! ([`remove`]); the `exec-in-netns` helper bind-mounts it onto
//! `/etc/resolv.conf` in a mount namespace of the task's own.
//!
//! The file has a `search` line and up to [`MAX_DNS_SERVERS`] `nameserver`
//! lines, and no `options`: the resolver's defaults stay (glibc: `ndots:1`,
//! `timeout:5`, `attempts:2`), under which a name without a dot (`web`) is
//! tried with the search domains first (`web.coke.ovn-mesos`), the form
//! ovn-controller answers.
//!
//! The nameservers, first that gives any:
//!
//! 1. the attachment's (label `ovn-mesos/dns-servers`);
//! 2. the host's: the `nameserver` lines of the agent's `/etc/resolv.conf`
//!    that are IPv4 and neither loopback (`127.0.0.0/8`) nor `0.0.0.0`, both
//!    of which mean "this host" and, inside the task's namespace, the task
//!    itself (systemd-resolved's `127.0.0.53` is one): a query to them never
//!    leaves through the task's veth, so ovn-controller never sees it. When
//!    none is left (an agent whose `/etc/resolv.conf` is systemd-resolved's
//!    stub), the upstream servers systemd-resolved itself uses, from
//!    [`RESOLVED_RESOLV_CONF`] ([`host_text`]);
//! 3. the task's gateway, with a warning: ovn-controller answers the service
//!    names on the way, but other names do not resolve (the gateway router
//!    serves no DNS); `ovn-mesos run --dns-server` is the remedy.
//!
//! With none of them the file has no `nameserver` line (the resolver then
//! asks `127.0.0.1`, i.e. nothing).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::attachment::{Dns, MAX_DNS_SERVERS};

/// Where the executor keeps files of its tasks: `<RUN_DIR>/netns/<namespace>/`.
pub const RUN_DIR: &str = "/run/ovn-mesos";
/// The host's resolver configuration: where the host's nameservers are read
/// from, and the file the task's own is bind-mounted onto.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// systemd-resolved's list of the upstream servers it uses (what its
/// documentation offers programs that must bypass its stub).
pub const RESOLVED_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";
/// The name of a task's file in its directory.
pub const FILE_NAME: &str = "resolv.conf";

/// `<run_dir>/netns`: one directory per task namespace.
pub fn netns_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("netns")
}

/// `<run_dir>/netns/<netns>`: the directory of a task's files.
pub fn task_dir(run_dir: &Path, netns: &str) -> PathBuf {
    netns_dir(run_dir).join(netns)
}

/// `<run_dir>/netns/<netns>/resolv.conf`.
pub fn path_of(run_dir: &Path, netns: &str) -> PathBuf {
    task_dir(run_dir, netns).join(FILE_NAME)
}

/// Where a task's nameservers come from (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Servers {
    /// The attachment's label.
    Label,
    /// The host's `/etc/resolv.conf`.
    Host,
    /// The task's gateway: nothing else was left.
    Gateway,
    /// Nothing at all.
    Nowhere,
}

impl Servers {
    /// A word for logs and the file's header.
    pub fn as_str(self) -> &'static str {
        match self {
            Servers::Label => "the attachment",
            Servers::Host => "the host",
            Servers::Gateway => "the task's gateway",
            Servers::Nowhere => "nowhere",
        }
    }
}

/// A task's resolv.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    /// The `search` line's domains.
    pub search: Vec<String>,
    /// The `nameserver` lines, at most [`MAX_DNS_SERVERS`].
    pub nameservers: Vec<Ipv4Addr>,
    /// Where they came from.
    pub from: Servers,
    /// Nameservers beyond [`MAX_DNS_SERVERS`], left out.
    pub dropped: Vec<Ipv4Addr>,
}

/// The host text the nameservers are read from: `/etc/resolv.conf`'s when
/// it has one a task can reach, else systemd-resolved's upstream list when
/// that has one, else `/etc/resolv.conf`'s.
pub fn host_text(etc: Option<String>, resolved: Option<String>) -> Option<String> {
    let reachable = |t: &Option<String>| {
        t.as_deref()
            .is_some_and(|t| !reachable_nameservers(t).is_empty())
    };
    if !reachable(&etc) && reachable(&resolved) {
        resolved
    } else {
        etc
    }
}

impl ResolvConf {
    /// The resolv.conf for `dns`, given the host's `/etc/resolv.conf` text
    /// (`None` when unreadable) and the task's gateway.
    pub fn new(dns: &Dns, host: Option<&str>, gateway: Option<Ipv4Addr>) -> ResolvConf {
        let hosts = host.map(reachable_nameservers).unwrap_or_default();
        let (mut servers, from) = if !dns.servers.is_empty() {
            (dns.servers.clone(), Servers::Label)
        } else if !hosts.is_empty() {
            (hosts, Servers::Host)
        } else if let Some(gw) = gateway {
            (vec![gw], Servers::Gateway)
        } else {
            (Vec::new(), Servers::Nowhere)
        };
        let dropped = servers.split_off(servers.len().min(MAX_DNS_SERVERS));
        ResolvConf {
            search: dns.search.clone(),
            nameservers: servers,
            from,
            dropped,
        }
    }

    /// The file's text: a comment, `search`, `nameserver` lines.
    pub fn render(&self) -> String {
        let mut text = format!(
            "# ovn-mesos-executor: this task's resolv.conf (nameservers from {})\n",
            self.from.as_str()
        );
        let _ = writeln!(text, "search {}", self.search.join(" "));
        for server in &self.nameservers {
            let _ = writeln!(text, "nameserver {server}");
        }
        text
    }
}

/// The nameservers of a resolv.conf `text` that a task can reach: the IPv4
/// ones, in order and once each, except loopback and `0.0.0.0`.
pub fn reachable_nameservers(text: &str) -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(Ok(ip)) = words.next().map(str::parse::<Ipv4Addr>) else {
            continue;
        };
        if !ip.is_loopback() && !ip.is_unspecified() && !found.contains(&ip) {
            found.push(ip);
        }
    }
    found
}

/// Writes `conf` as the resolv.conf of the task with namespace `netns`
/// (mode 0644, its directory made as needed); returns its path.
pub fn write(run_dir: &Path, netns: &str, conf: &ResolvConf) -> io::Result<PathBuf> {
    let path = path_of(run_dir, netns);
    fs::create_dir_all(task_dir(run_dir, netns))?;
    fs::write(&path, conf.render())?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
    Ok(path)
}

/// Removes the files of the task with namespace `netns`; what is not there
/// is no error. A task still running keeps reading its resolv.conf (the
/// bind mount holds the file).
pub fn remove(run_dir: &Path, netns: &str) -> io::Result<()> {
    match fs::remove_dir_all(task_dir(run_dir, netns)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The namespaces that have a directory under `<run_dir>/netns` and whose
/// name starts with `prefix`.
pub fn task_dirs(run_dir: &Path, prefix: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(netns_dir(run_dir)) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(servers: &[Ipv4Addr]) -> Dns {
        Dns {
            search: vec!["coke.ovn-mesos".into()],
            servers: servers.to_vec(),
        }
    }

    const GW: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const HOST: &str = "# a comment\n\
        nameserver 127.0.0.53\n\
        ; nameserver 10.9.9.9\n\
        nameserver ::1\n\
        nameserver 2001:db8::1\n\
        search lab.example\n\
        nameserver\t10.255.255.53 # trailing words\n\
        nameserver 0.0.0.0\n\
        nameserver 127.1.2.3\n\
        nameserver 10.255.255.53\n\
        nameserver 10.0.0.8\n";

    fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
        Ipv4Addr::new(a, b, c, d)
    }

    #[test]
    fn systemd_resolveds_upstreams_stand_in_for_its_stub_only() {
        let stub = Some("nameserver 127.0.0.53\noptions edns0\n".to_owned());
        let upstream = Some("nameserver 10.0.0.2\n".to_owned());
        let own = Some("nameserver 10.0.0.9\n".to_owned());
        assert_eq!(host_text(stub.clone(), upstream.clone()), upstream);
        assert_eq!(host_text(own.clone(), upstream.clone()), own);
        assert_eq!(host_text(stub.clone(), None), stub);
        assert_eq!(host_text(None, upstream.clone()), upstream);
        assert_eq!(host_text(None, None), None);
    }

    #[test]
    fn the_labels_servers_come_first() {
        let conf = ResolvConf::new(&dns(&[ip(10, 0, 0, 2)]), Some(HOST), Some(GW));
        assert_eq!(conf.from, Servers::Label);
        assert_eq!(conf.nameservers, [ip(10, 0, 0, 2)]);
        assert_eq!(
            conf.render(),
            "# ovn-mesos-executor: this task's resolv.conf (nameservers from the attachment)\n\
             search coke.ovn-mesos\n\
             nameserver 10.0.0.2\n"
        );
    }

    #[test]
    fn the_hosts_servers_skip_loopback_ipv6_and_duplicates() {
        assert_eq!(
            reachable_nameservers(HOST),
            [ip(10, 255, 255, 53), ip(10, 0, 0, 8)]
        );
        let conf = ResolvConf::new(&dns(&[]), Some(HOST), Some(GW));
        assert_eq!(conf.from, Servers::Host);
        assert_eq!(conf.nameservers, [ip(10, 255, 255, 53), ip(10, 0, 0, 8)]);
        assert!(conf
            .render()
            .ends_with("search coke.ovn-mesos\nnameserver 10.255.255.53\nnameserver 10.0.0.8\n"));
    }

    #[test]
    fn without_a_reachable_server_the_gateway_answers() {
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n";
        for host in [Some(stub), Some(""), None] {
            let conf = ResolvConf::new(&dns(&[]), host, Some(GW));
            assert_eq!(conf.from, Servers::Gateway, "{host:?}");
            assert_eq!(conf.nameservers, [GW]);
        }
        let conf = ResolvConf::new(&dns(&[]), Some(stub), None);
        assert_eq!(conf.from, Servers::Nowhere);
        assert!(conf.nameservers.is_empty());
        assert!(!conf.render().contains("\nnameserver"), "{}", conf.render());
    }

    #[test]
    fn at_most_three_servers_are_written() {
        let four = [
            ip(10, 0, 0, 1),
            ip(10, 0, 0, 2),
            ip(10, 0, 0, 3),
            ip(10, 0, 0, 4),
        ];
        let conf = ResolvConf::new(&dns(&four), None, None);
        assert_eq!(conf.nameservers, four[..3]);
        assert_eq!(conf.dropped, four[3..]);
        assert_eq!(conf.render().matches("nameserver ").count(), 3);
        let host: String = four.iter().map(|s| format!("nameserver {s}\n")).collect();
        let conf = ResolvConf::new(&dns(&[]), Some(&host), None);
        assert_eq!((conf.from, conf.nameservers.len()), (Servers::Host, 3));
    }

    #[test]
    fn several_search_domains_share_one_line() {
        let d = Dns {
            search: vec!["coke.ovn-mesos".into(), "ovn-mesos".into()],
            servers: vec![ip(10, 0, 0, 2)],
        };
        let text = ResolvConf::new(&d, None, None).render();
        assert!(
            text.contains("\nsearch coke.ovn-mesos ovn-mesos\n"),
            "{text}"
        );
    }

    #[test]
    fn a_tasks_file_is_written_under_its_namespace_and_removed_with_its_directory() {
        let run = tempfile::tempdir().unwrap();
        let conf = ResolvConf::new(&dns(&[ip(10, 0, 0, 2)]), None, None);
        let path = write(run.path(), "ovnm-0123456789", &conf).unwrap();
        assert_eq!(path, run.path().join("netns/ovnm-0123456789/resolv.conf"));
        assert_eq!(fs::read_to_string(&path).unwrap(), conf.render());
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(task_dirs(run.path(), "ovnm"), ["ovnm-0123456789"]);
        assert!(task_dirs(run.path(), "other").is_empty());
        remove(run.path(), "ovnm-0123456789").unwrap();
        assert!(!task_dir(run.path(), "ovnm-0123456789").exists());
        remove(run.path(), "ovnm-0123456789").expect("removing twice is fine");
        assert!(task_dirs(run.path(), "ovnm").is_empty());
    }
}
