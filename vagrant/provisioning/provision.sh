#!/usr/bin/env bash
# provision.sh: provisions one VM of the ovn-mesos lab by running the steps
# in order (the Vagrantfile calls it once per VM, as root).
#
#   provision.sh [--render-only]
#
# Environment (set by the Vagrantfile; see vagrant/README.md):
#   LAB_NODE     VM name, also the OVS system-id / OVN chassis and Mesos hostname
#   LAB_ROLE     master | agent
#   OVERLAY_IP   this VM's address on 10.10.1.0/24 (Mesos, OVN, geneve endpoint)
#   MASTER_IP    mesos-master's OVERLAY_IP (OVN NB/SB, Mesos master)
#   GATEWAY_IP   the next hop outside the lab (the host, 10.10.1.1)
#   PUBLIC_IP2   optional: address of this VM's gateway NIC (a tenant's gateway router)
#   GATEWAY_NIC  optional: that NIC's name (detected when unset; required with --render-only)
#   LAB_SRC      the ovn-mesos checkout inside the VM (default /ovn-mesos)
#   LAB_USER     the login user that gets setup_*_args.sh (default vagrant)
#   MESOS_IMPL   auto | mesos | mesos-local (default auto; see mesos.sh)
#   DATAPATH_TYPE system (the VMs' kernel datapath, default) | netdev (the
#                userspace datapath, for hosts without the openvswitch module;
#                see ovn-host.sh)
#   LAB_HA       0 (default) | 1: high availability: ZooKeeper on the master
#                (zookeeper.sh), a Mesos master on every VM, all of them and
#                the agents through zk://MASTER_IP:2181/mesos, and ovn-mesos on
#                every VM electing its leader in zk://MASTER_IP:2181/ovn-mesos
#   DESTDIR      root for every written file (default /)
#
# With --render-only (or RENDER_ONLY=1) every step only writes its files under
# DESTDIR: no package, no service, no network change.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Vagrant's shell provisioner uploads this one file (to /tmp/vagrant-shell)
# and runs it there: the other steps are in the synced checkout.
if [ ! -f "$HERE/lib.sh" ]; then
  HERE=${LAB_SRC:-/ovn-mesos}/vagrant/provisioning
  [ -f "$HERE/lib.sh" ] || {
    echo "provision: error: $HERE/lib.sh is missing: is the checkout synced to ${LAB_SRC:-/ovn-mesos}?" >&2
    exit 1
  }
fi
STEP=provision
# shellcheck source=lib.sh
. "$HERE/lib.sh"

main() {
  parse_mode "$@"
  require_env LAB_NODE LAB_ROLE OVERLAY_IP MASTER_IP
  case "$LAB_ROLE" in
    master | agent) ;;
    *) die "LAB_ROLE must be master or agent, not '$LAB_ROLE'" ;;
  esac
  case "${LAB_HA:-0}" in
    0 | 1) ;;
    *) die "LAB_HA must be 0 or 1, not '$LAB_HA'" ;;
  esac
  export LAB_NODE LAB_ROLE OVERLAY_IP MASTER_IP
  export LAB_HA=${LAB_HA:-0}
  export GATEWAY_IP=${GATEWAY_IP:-10.10.1.1}
  export LAB_SRC=${LAB_SRC:-/ovn-mesos}
  export LAB_USER=${LAB_USER:-vagrant}
  export MESOS_IMPL=${MESOS_IMPL:-auto}
  export PUBLIC_IP2=${PUBLIC_IP2:-}
  export GATEWAY_NIC=${GATEWAY_NIC:-}
  log "$LAB_NODE ($LAB_ROLE) at $OVERLAY_IP, master $MASTER_IP$(ha_mode && echo ', high availability')$(render_only && echo ', render only')"

  "$HERE/packages.sh"
  "$HERE/binaries.sh"
  if [ "$LAB_ROLE" = master ]; then
    "$HERE/ovn-central.sh"
  fi
  "$HERE/ovn-host.sh"
  if ha_mode && [ "$LAB_ROLE" = master ]; then
    "$HERE/zookeeper.sh"
  fi
  "$HERE/mesos.sh"
  if [ "$LAB_ROLE" = master ] || ha_mode; then
    "$HERE/ovn-mesos-service.sh"
  fi
  if [ -n "$PUBLIC_IP2" ]; then
    GATEWAY_NIC=$("$HERE/gateway-nic.sh")
    export GATEWAY_NIC
  fi
  "$HERE/lab-args.sh"
  log "$LAB_NODE provisioned"
}

main "$@"
