//! Links, addresses and routes over rtnetlink (what `ip link`, `ip addr` and
//! `ip route` do, without running them). A [`Netlink`] talks to the namespace
//! its socket was opened in: [`Netlink::current`] for the executor's own,
//! [`Netlink::in_netns`] for a named one (the socket is opened on a thread
//! inside it, then served by the runtime like any other).

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use nix::errno::Errno;
use ovn::ipam::MacAddr;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute};
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};
use tokio::task::JoinHandle;

use crate::netns::{self, NetnsError};

/// Why a netlink request failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The netlink socket could not be opened.
    #[error("cannot open a netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    /// Opening the socket inside a named namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// The kernel refused a request (`what` is the equivalent `ip` command).
    #[error("`{what}` failed: {errno}")]
    Kernel { what: String, errno: Errno },
    /// The request failed without an errno.
    #[error("`{what}` failed: {detail}")]
    Request { what: String, detail: String },
    /// A link looked up by name does not exist.
    #[error("no link named {name}")]
    NoSuchLink { name: String },
}

impl LinkError {
    fn of(what: impl Into<String>, e: rtnetlink::Error) -> LinkError {
        match &e {
            rtnetlink::Error::NetlinkError(m) if m.raw_code() != 0 => LinkError::Kernel {
                what: what.into(),
                errno: Errno::from_raw(-m.raw_code()),
            },
            _ => LinkError::Request {
                what: what.into(),
                detail: e.to_string(),
            },
        }
    }

    /// The kernel's errno, if the kernel refused.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            LinkError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// A netlink connection bound to one network namespace.
#[derive(Debug)]
pub struct Netlink {
    handle: Handle,
    connection: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// What the veth pair of one task looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    /// Host end name (at most 15 characters).
    pub host: String,
    /// Container end name inside the namespace (`eth0`).
    pub peer: String,
    /// The container end's MAC (the logical port's).
    pub mac: MacAddr,
    pub mtu: u32,
}

impl Netlink {
    /// A connection in the executor's own namespace. Needs a Tokio runtime.
    pub fn current() -> Result<Netlink, LinkError> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(LinkError::Socket)?;
        Ok(Netlink {
            handle,
            connection: tokio::spawn(connection),
        })
    }

    /// A connection in the named namespace `/var/run/netns/<name>`.
    pub async fn in_netns(name: &str) -> Result<Netlink, LinkError> {
        Self::in_netns_with(name, || ()).await.map(|(nl, ())| nl)
    }

    /// [`Self::in_netns`], also running `also` on the same thread inside the
    /// namespace (one thread for the socket and, e.g., an ioctl).
    pub async fn in_netns_with<T: Send + 'static>(
        name: &str,
        also: impl FnOnce() -> T + Send + 'static,
    ) -> Result<(Netlink, T), LinkError> {
        let runtime = tokio::runtime::Handle::current();
        let (connection, extra) = netns::run_in(name, move || {
            let _entered = runtime.enter();
            (rtnetlink::new_connection(), also())
        })
        .await?;
        let (connection, handle, _) = connection.map_err(LinkError::Socket)?;
        Ok((
            Netlink {
                handle,
                connection: tokio::spawn(connection),
            },
            extra,
        ))
    }

    /// `ip link add <host> mtu <mtu> up type veth peer name <peer> address
    /// <mac> mtu <mtu> netns <ns>`: one request creates both ends, the peer
    /// directly inside the namespace `peer_netns`.
    pub async fn add_veth(&self, spec: &VethSpec, peer_netns: &File) -> Result<(), LinkError> {
        let peer = LinkUnspec::new_with_name(&spec.peer)
            .address(spec.mac.octets().to_vec())
            .mtu(spec.mtu)
            .setns_by_fd(peer_netns.as_raw_fd())
            .build();
        let message = LinkVeth::new(&spec.host, &spec.peer)
            .mtu(spec.mtu)
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(|e| {
                LinkError::of(
                    format!(
                        "ip link add {} type veth peer name {} address {} netns <task>",
                        spec.host, spec.peer, spec.mac
                    ),
                    e,
                )
            })
    }

    /// The index of link `name`, None when there is none (`ip link show <name>`).
    pub async fn index_of(&self, name: &str) -> Result<Option<u32>, LinkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute();
        match links.try_next().await {
            Ok(Some(link)) => Ok(Some(link.header.index)),
            Ok(None) => Ok(None),
            Err(e) => match LinkError::of(format!("ip link show {name}"), e) {
                LinkError::Kernel {
                    errno: Errno::ENODEV,
                    ..
                } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn require(&self, name: &str) -> Result<u32, LinkError> {
        self.index_of(name)
            .await?
            .ok_or_else(|| LinkError::NoSuchLink {
                name: name.to_owned(),
            })
    }

    /// `ip link set <name> up`.
    pub async fn set_up(&self, name: &str) -> Result<(), LinkError> {
        let index = self.require(name).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| LinkError::of(format!("ip link set {name} up"), e))
    }

    /// `ip addr add <ip>/<prefix_len> dev <name>`.
    pub async fn add_address(
        &self,
        name: &str,
        ip: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), LinkError> {
        let index = self.require(name).await?;
        self.handle
            .address()
            .add(index, IpAddr::V4(ip), prefix_len)
            .execute()
            .await
            .map_err(|e| LinkError::of(format!("ip addr add {ip}/{prefix_len} dev {name}"), e))
    }

    /// `ip route add default via <gateway>`.
    pub async fn add_default_route(&self, gateway: Ipv4Addr) -> Result<(), LinkError> {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .build();
        self.handle
            .route()
            .add(route)
            .execute()
            .await
            .map_err(|e| LinkError::of(format!("ip route add default via {gateway}"), e))
    }

    /// `ip link set <name> alias <alias>`.
    pub async fn set_alias(&self, name: &str, alias: &str) -> Result<(), LinkError> {
        let index = self.require(name).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).alias(alias).build())
            .execute()
            .await
            .map_err(|e| LinkError::of(format!("ip link set {name} alias {alias}"), e))
    }

    /// `(name, alias)` of every link whose name starts with `prefix` (`ip -o link`).
    pub async fn links_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, Option<String>)>, LinkError> {
        let mut links = self.handle.link().get().execute();
        let mut found = Vec::new();
        while let Some(link) = links
            .try_next()
            .await
            .map_err(|e| LinkError::of("ip -o link show", e))?
        {
            let mut name = None;
            let mut alias = None;
            for attr in link.attributes {
                match attr {
                    LinkAttribute::IfName(n) => name = Some(n),
                    LinkAttribute::IfAlias(a) => alias = Some(a),
                    _ => {}
                }
            }
            if let Some(n) = name.filter(|n| n.starts_with(prefix)) {
                found.push((n, alias));
            }
        }
        Ok(found)
    }

    /// `ip link del <name>`; false when there was no such link. Deleting one
    /// end of a veth pair deletes both.
    pub async fn delete_link(&self, name: &str) -> Result<bool, LinkError> {
        let Some(index) = self.index_of(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(true),
            Err(e) => match LinkError::of(format!("ip link del {name}"), e) {
                LinkError::Kernel {
                    errno: Errno::ENODEV,
                    ..
                } => Ok(false),
                other => Err(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_link_has_no_index_and_deleting_it_is_a_no_op() {
        let nl = Netlink::current().unwrap();
        assert_eq!(nl.index_of("ovnm-no-such").await.unwrap(), None);
        assert!(!nl.delete_link("ovnm-no-such").await.unwrap());
        assert_eq!(nl.index_of("lo").await.unwrap(), Some(1));
        let lo = nl.links_with_prefix("lo").await.unwrap();
        assert!(lo.iter().any(|(n, _)| n == "lo"), "{lo:?}");
        let err = nl.set_up("ovnm-no-such").await.unwrap_err();
        assert_eq!(err.to_string(), "no link named ovnm-no-such");
    }
}
