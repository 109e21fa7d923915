//! How tasks' executors are started: [`ExecutorSettings`] (where the
//! `ovn-mesos-executor` binary is, its flags, the attachment MTU, bridge and
//! DNS settings, and its own cpus and mem) and the `CommandInfo` the agent
//! runs it with.
//!
//! The command is either a path on the agents (`/usr/local/bin/ovn-mesos-executor`)
//! or a URI the agent's fetcher copies into the sandbox first
//! (`http://repo/ovn-mesos-executor`: `CommandInfo.uris` with `executable`, run
//! as `./ovn-mesos-executor`). Either way it is executed directly
//! (`shell=false`) with its flags as arguments.

use std::net::Ipv4Addr;

use mesos_proto::v1::{command_info, CommandInfo};
use ovn::attachment::{MAX_DNS_SERVERS, MTU_RANGE};

use crate::tasks::Resources;

/// `cpus` given to each executor when not configured.
pub const DEFAULT_EXECUTOR_CPUS: f64 = 0.1;
/// `mem` (MB) given to each executor when not configured.
pub const DEFAULT_EXECUTOR_MEM: f64 = 32.0;
/// Container MTU when not configured: the attachment contract's default,
/// a 1500 underlay minus geneve's 58 bytes, rounded down.
pub use ovn::attachment::DEFAULT_MTU;
/// The DNS domain when not configured: a task of tenant `coke` searches
/// `coke.ovn-mesos`.
pub const DEFAULT_DNS_DOMAIN: &str = "ovn-mesos";
/// The longest DNS name (RFC 1035).
const MAX_DOMAIN_LEN: usize = 253;
/// The longest label of a DNS name (RFC 1035).
const MAX_LABEL_LEN: usize = 63;
/// `ExecutorInfo.name` of every ovn-mesos executor.
pub const EXECUTOR_NAME: &str = "ovn-mesos-executor";

/// URI schemes the Mesos fetcher downloads.
const FETCHED_SCHEMES: [&str; 3] = ["http://", "https://", "file://"];

/// How the agents start the ovn-mesos executor of each task.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorSettings {
    /// An absolute path on the agents, or an `http(s)://` / `file://` URI
    /// fetched into the sandbox.
    pub command: String,
    /// Extra executor flags (`--install-timeout=60secs` ...).
    pub args: Vec<String>,
    /// Container MTU (label `ovn-mesos/mtu`).
    pub mtu: u32,
    /// The integration bridge (label `ovn-mesos/bridge`); `None` leaves the
    /// executor's default, `br-int`.
    pub bridge: Option<String>,
    /// The executor's own `cpus` (`ExecutorInfo.resources`).
    pub cpus: f64,
    /// The executor's own `mem` in MB (`ExecutorInfo.resources`).
    pub mem: f64,
    /// The DNS domain, lower case ([`parse_dns_domain`]): a task of tenant
    /// `coke` gets `/etc/resolv.conf` `search coke.<domain>` (label
    /// `ovn-mesos/dns-search`, [`ExecutorSettings::tenant_domain`]), where
    /// its tenant's service names are `<service>.coke.<domain>`.
    pub dns_domain: String,
    /// The tasks' nameservers (label `ovn-mesos/dns-servers`); empty, each
    /// agent's own non-loopback ones.
    pub dns_servers: Vec<Ipv4Addr>,
}

/// Why [`ExecutorSettings`] cannot start executors; checked once at start-up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecutorSettingsError {
    /// The command is neither an absolute path nor a URI the fetcher takes.
    #[error(
        "executor command {command:?} is neither an absolute path nor an http(s):// or file:// URI"
    )]
    BadCommand { command: String },
    /// A URI whose path ends without a file name (`http://host/`).
    #[error("executor URI {uri:?} names no file")]
    UriWithoutFile { uri: String },
    /// `cpus` or `mem` negative or not a number.
    #[error("executor {what} {value} is not a number >= 0")]
    BadResource { what: &'static str, value: f64 },
    /// The MTU is outside what the executor accepts.
    #[error(
        "MTU {mtu} is not between {} and {}",
        MTU_RANGE.start(),
        MTU_RANGE.end()
    )]
    BadMtu { mtu: u32 },
    /// The bridge name is empty or has whitespace.
    #[error("bridge name {bridge:?} is not a valid name")]
    BadBridge { bridge: String },
    /// The DNS domain is not one.
    #[error(transparent)]
    BadDnsDomain(#[from] DnsDomainError),
    /// More nameservers than a resolv.conf takes.
    #[error("{count} DNS servers given: a resolv.conf takes at most {MAX_DNS_SERVERS}")]
    TooManyDnsServers { count: usize },
    /// A nameserver a task cannot reach: loopback or 0.0.0.0 mean the task
    /// itself inside its namespace.
    #[error("DNS server {server} is a loopback or unspecified address: a task's queries to it never leave the task")]
    BadDnsServer { server: Ipv4Addr },
}

/// Why a DNS domain is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DNS domain {domain:?} is not a domain name: {why}")]
pub struct DnsDomainError {
    /// The domain as given.
    pub domain: String,
    /// What is wrong with it.
    pub why: String,
}

/// A DNS domain, lower-cased: dot-separated labels of `a-z`, `0-9` and `-`,
/// not starting or ending with `-`, 1 to 63 characters each, at most 253
/// in all (a trailing dot is dropped). Also the `--dns-domain` parser.
pub fn parse_dns_domain(text: &str) -> Result<String, DnsDomainError> {
    let refuse = |why: String| DnsDomainError {
        domain: text.to_owned(),
        why,
    };
    let domain = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    if domain.is_empty() {
        return Err(refuse("it is empty".into()));
    }
    if domain.len() > MAX_DOMAIN_LEN {
        return Err(refuse(format!(
            "{} characters, more than {MAX_DOMAIN_LEN}",
            domain.len()
        )));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(refuse("it has an empty label".into()));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(refuse(format!(
                "label {label:?} is longer than {MAX_LABEL_LEN} characters"
            )));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(refuse(format!(
                "label {label:?} has {c:?}, not one of a-z 0-9 -"
            )));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(refuse(format!("label {label:?} starts or ends with '-'")));
        }
    }
    Ok(domain)
}

impl ExecutorSettings {
    /// Settings for `command` with the defaults: no flags, MTU 1400, the
    /// executor's bridge, 0.1 cpus and 32 MB, DNS domain `ovn-mesos` and
    /// the agents' nameservers.
    pub fn new(command: impl Into<String>) -> ExecutorSettings {
        ExecutorSettings {
            command: command.into(),
            args: Vec::new(),
            mtu: DEFAULT_MTU,
            bridge: None,
            cpus: DEFAULT_EXECUTOR_CPUS,
            mem: DEFAULT_EXECUTOR_MEM,
            dns_domain: DEFAULT_DNS_DOMAIN.to_owned(),
            dns_servers: Vec::new(),
        }
    }

    /// The DNS domain of `tenant`'s tasks and services: `<tenant>.<domain>`,
    /// lower case (`coke.ovn-mesos`), their resolv.conf's `search` line.
    pub fn tenant_domain(&self, tenant: &str) -> String {
        format!("{}.{}", tenant.to_ascii_lowercase(), self.dns_domain)
    }

    /// Checks what a launch would otherwise carry to the agent and fail
    /// there.
    pub fn check(&self) -> Result<(), ExecutorSettingsError> {
        let command = self.command.trim();
        if fetched(command) {
            file_name(command).ok_or_else(|| ExecutorSettingsError::UriWithoutFile {
                uri: command.to_owned(),
            })?;
        } else if !command.starts_with('/') {
            return Err(ExecutorSettingsError::BadCommand {
                command: self.command.clone(),
            });
        }
        for (what, value) in [("cpus", self.cpus), ("mem", self.mem)] {
            if !value.is_finite() || value < 0.0 {
                return Err(ExecutorSettingsError::BadResource { what, value });
            }
        }
        if !MTU_RANGE.contains(&self.mtu) {
            return Err(ExecutorSettingsError::BadMtu { mtu: self.mtu });
        }
        if let Some(bridge) = &self.bridge {
            if bridge.is_empty() || bridge.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ExecutorSettingsError::BadBridge {
                    bridge: bridge.clone(),
                });
            }
        }
        if parse_dns_domain(&self.dns_domain)? != self.dns_domain {
            return Err(DnsDomainError {
                domain: self.dns_domain.clone(),
                why: "it is not in lower case without a trailing dot".into(),
            }
            .into());
        }
        if self.dns_servers.len() > MAX_DNS_SERVERS {
            return Err(ExecutorSettingsError::TooManyDnsServers {
                count: self.dns_servers.len(),
            });
        }
        if let Some(server) = self
            .dns_servers
            .iter()
            .find(|s| s.is_loopback() || s.is_unspecified())
        {
            return Err(ExecutorSettingsError::BadDnsServer { server: *server });
        }
        Ok(())
    }

    /// What the executor itself takes from an offer: its `cpus` and `mem`.
    pub fn resources(&self) -> Resources {
        Resources {
            cpus: self.cpus,
            mem: self.mem,
            disk: 0.0,
            ports: 0,
        }
    }

    /// The `ExecutorInfo.command`: `value` the path (or `./<file>` after
    /// fetching a URI), `arguments` its argv (`value` then [`Self::args`]),
    /// `shell=false`.
    pub fn command_info(&self) -> CommandInfo {
        let command = self.command.trim();
        let (value, uris) = match file_name(command).filter(|_| fetched(command)) {
            Some(file) => (
                format!("./{file}"),
                vec![command_info::Uri {
                    value: command.to_owned(),
                    executable: Some(true),
                    extract: Some(false),
                    output_file: Some(file.to_owned()),
                    ..Default::default()
                }],
            ),
            None => (command.to_owned(), Vec::new()),
        };
        let mut arguments = Vec::with_capacity(self.args.len() + 1);
        arguments.push(value.clone());
        arguments.extend(self.args.iter().cloned());
        CommandInfo {
            uris,
            shell: Some(false),
            value: Some(value),
            arguments,
            ..Default::default()
        }
    }
}

/// Whether the agent's fetcher downloads `command` (by its scheme).
fn fetched(command: &str) -> bool {
    let lower = command.to_ascii_lowercase();
    FETCHED_SCHEMES.iter().any(|s| lower.starts_with(s))
}

/// The last path segment of a URI (or path), without query or fragment.
fn file_name(uri: &str) -> Option<&str> {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    let path = FETCHED_SCHEMES
        .iter()
        .find_map(|s| {
            path.get(..s.len())
                .filter(|p| p.eq_ignore_ascii_case(s))
                .map(|_| &path[s.len()..])
        })
        .unwrap_or(path);
    // Without a '/' after the scheme there is only a host, no file.
    let (_, file) = path.rsplit_once('/')?;
    Some(file).filter(|f| !f.is_empty() && *f != "." && *f != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_runs_directly_with_the_flags_after_it() {
        let mut settings = ExecutorSettings::new("/usr/local/bin/ovn-mesos-executor");
        settings.args = vec!["--install-timeout=60secs".into()];
        let command = settings.command_info();
        assert_eq!(
            command.value.as_deref(),
            Some("/usr/local/bin/ovn-mesos-executor")
        );
        assert_eq!(command.shell, Some(false));
        assert_eq!(
            command.arguments,
            [
                "/usr/local/bin/ovn-mesos-executor",
                "--install-timeout=60secs"
            ]
        );
        assert!(command.uris.is_empty());
        assert_eq!(settings.check(), Ok(()));
    }

    #[test]
    fn a_uri_is_fetched_executable_and_run_from_the_sandbox() {
        let settings = ExecutorSettings::new("https://repo.example/bin/ovn-mesos-executor?v=2");
        let command = settings.command_info();
        assert_eq!(command.value.as_deref(), Some("./ovn-mesos-executor"));
        assert_eq!(command.arguments, ["./ovn-mesos-executor"]);
        assert_eq!(command.uris.len(), 1);
        let uri = &command.uris[0];
        assert_eq!(uri.value, "https://repo.example/bin/ovn-mesos-executor?v=2");
        assert_eq!(uri.executable, Some(true));
        assert_eq!(uri.output_file.as_deref(), Some("ovn-mesos-executor"));
        assert_eq!(settings.check(), Ok(()));
    }

    #[test]
    fn a_file_uri_is_fetched_too() {
        let command = ExecutorSettings::new("FILE:///opt/x/ovn-mesos-executor").command_info();
        assert_eq!(command.value.as_deref(), Some("./ovn-mesos-executor"));
        assert_eq!(command.uris[0].value, "FILE:///opt/x/ovn-mesos-executor");
    }

    #[test]
    fn relative_commands_and_uris_without_a_file_are_refused() {
        assert!(matches!(
            ExecutorSettings::new("ovn-mesos-executor").check(),
            Err(ExecutorSettingsError::BadCommand { .. })
        ));
        for uri in [
            "http://repo.example",
            "http://repo.example/",
            "file:///x/..",
        ] {
            assert!(
                matches!(
                    ExecutorSettings::new(uri).check(),
                    Err(ExecutorSettingsError::UriWithoutFile { .. })
                ),
                "{uri}"
            );
        }
    }

    #[test]
    fn bad_resources_mtu_and_bridge_are_refused() {
        let base = ExecutorSettings::new("/bin/e");
        let cases = [
            ExecutorSettings {
                cpus: -0.1,
                ..base.clone()
            },
            ExecutorSettings {
                mem: f64::NAN,
                ..base.clone()
            },
            ExecutorSettings {
                mtu: 67,
                ..base.clone()
            },
            ExecutorSettings {
                bridge: Some("br int".into()),
                ..base.clone()
            },
            ExecutorSettings {
                dns_domain: "Ovn-Mesos".into(),
                ..base.clone()
            },
        ];
        for settings in cases {
            assert!(settings.check().is_err(), "{settings:?}");
        }
    }

    #[test]
    fn a_dns_domain_is_lower_cased_and_checked_label_by_label() {
        for (given, want) in [
            ("ovn-mesos", "ovn-mesos"),
            ("Mesos.Example.COM.", "mesos.example.com"),
            ("a1.b-2", "a1.b-2"),
        ] {
            assert_eq!(parse_dns_domain(given).as_deref(), Ok(want), "{given}");
        }
        let long_label = "a".repeat(64);
        let long_name = vec!["a".repeat(63); 4].join(".");
        for (bad, why) in [
            ("", "it is empty"),
            (".", "it is empty"),
            ("ovn..mesos", "it has an empty label"),
            (
                "ovn_mesos",
                "label \"ovn_mesos\" has '_', not one of a-z 0-9 -",
            ),
            (
                "ovn mesos",
                "label \"ovn mesos\" has ' ', not one of a-z 0-9 -",
            ),
            ("-ovn.mesos", "label \"-ovn\" starts or ends with '-'"),
            ("ovn.mesos-", "label \"mesos-\" starts or ends with '-'"),
            (long_label.as_str(), "is longer than 63 characters"),
            (long_name.as_str(), "255 characters, more than 253"),
        ] {
            let err = parse_dns_domain(bad).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("DNS domain {bad:?} is not a domain name: ")),
                "{text}"
            );
            assert!(text.ends_with(why), "{bad:?}: {text}");
            assert!(!text.contains('\n'));
        }
    }

    #[test]
    fn a_tenants_domain_is_its_name_under_the_dns_domain() {
        let mut settings = ExecutorSettings::new("/bin/e");
        assert_eq!(settings.tenant_domain("coke"), "coke.ovn-mesos");
        settings.dns_domain = "mesos.example.com".into();
        assert_eq!(settings.tenant_domain("Pepsi"), "pepsi.mesos.example.com");
    }

    #[test]
    fn dns_servers_are_at_most_three_and_reachable_from_a_task() {
        let base = ExecutorSettings::new("/bin/e");
        let with = |servers: &[[u8; 4]]| ExecutorSettings {
            dns_servers: servers.iter().map(|&s| Ipv4Addr::from(s)).collect(),
            ..base.clone()
        };
        assert_eq!(
            with(&[[10, 0, 0, 2], [10, 0, 0, 3], [10, 0, 0, 4]]).check(),
            Ok(())
        );
        assert_eq!(
            with(&[[10, 0, 0, 2], [10, 0, 0, 3], [10, 0, 0, 4], [10, 0, 0, 5]]).check(),
            Err(ExecutorSettingsError::TooManyDnsServers { count: 4 })
        );
        for server in [[127, 0, 0, 53], [0, 0, 0, 0]] {
            let err = with(&[[10, 0, 0, 2], server]).check().unwrap_err();
            assert!(
                err.to_string().starts_with(&format!(
                    "DNS server {} is a loopback",
                    Ipv4Addr::from(server)
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn the_executor_needs_its_cpus_and_mem_only() {
        let settings = ExecutorSettings::new("/bin/e");
        assert_eq!(
            settings.resources(),
            Resources {
                cpus: 0.1,
                mem: 32.0,
                disk: 0.0,
                ports: 0
            }
        );
    }
}
