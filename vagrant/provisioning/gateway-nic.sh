#!/usr/bin/env bash
# gateway-nic.sh: finds this VM's gateway NIC (the one Vagrant left
# unconfigured for PUBLIC_IP2: no address, not the management NIC, not the
# overlay NIC), brings it up without any kernel address (the tenant's gateway
# router owns PUBLIC_IP2 through OVS), installs ovn-mesos-gateway-nic.service
# to do the same at every boot, and prints its name.
#
# Environment: OVERLAY_IP, GATEWAY_NIC (skips detection; required with
# RENDER_ONLY=1, where nothing is touched).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP=gateway-nic
# shellcheck source=lib.sh
. "$HERE/lib.sh"

UNIT=/etc/systemd/system/ovn-mesos-gateway-nic.service

# detect: the first NIC (a device's, or a veth as in a container) that
# carries neither the default route nor OVERLAY_IP nor any IPv4 address and
# is no Open vSwitch port yet (with the userspace datapath the overlay NIC is
# br-phy's port, without an address of its own).
detect() {
  local mgmt overlay dev name
  mgmt=$(ip -o route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
  overlay=$(ip -o -4 addr show | awk -v ip="$OVERLAY_IP" 'index($4, ip "/") == 1 { print $2; exit }')
  for dev in /sys/class/net/*; do
    name=${dev##*/}
    if [ ! -e "$dev/device" ] && ! ip -d -o link show dev "$name" | grep -qw veth; then
      continue
    fi
    if [ "$name" = "$mgmt" ] || [ "$name" = "$overlay" ]; then
      continue
    fi
    [ -z "$(ip -o -4 addr show dev "$name")" ] || continue
    if command -v ovs-vsctl >/dev/null && ovs-vsctl --timeout=10 port-to-br "$name" >/dev/null 2>&1; then
      continue
    fi
    echo "$name"
    return 0
  done
  return 1
}

# nic_sysctls NIC: no IPv6 on NIC, and the kernel neither answers ARP nor
# routes for what arrives on it. On the kernel datapath a port's frames never
# reach the kernel; on the userspace datapath the kernel sees a copy of each,
# and would answer ARP for its own addresses through the gateway NIC.
nic_sysctls() {
  echo "net.ipv6.conf.$1.disable_ipv6=1 net.ipv4.conf.$1.arp_ignore=8 net.ipv4.conf.$1.rp_filter=1"
}

# render_unit NIC: brings NIC up without an address at every boot (nothing
# else does: Vagrant leaves it out of the network configuration, and Open
# vSwitch does not set its ports up), before OVN uses it.
render_unit() {
  write_file "$UNIT" 0644 <<UNIT
[Unit]
Description=gateway NIC $1 of the ovn-mesos lab, up without an address
Before=ovn-host.service ovn-controller.service network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/sysctl -qw $(nic_sysctls "$1")
ExecStart=/usr/sbin/ip link set $1 up

[Install]
WantedBy=multi-user.target
UNIT
}

main() {
  parse_mode "$@"
  if render_only; then
    require_env GATEWAY_NIC
    render_unit "$GATEWAY_NIC" >&2
    echo "$GATEWAY_NIC"
    return 0
  fi
  require_env OVERLAY_IP
  local nic=${GATEWAY_NIC:-}
  if [ -z "$nic" ]; then
    nic=$(detect) || die "no unconfigured NIC found for the gateway; set GATEWAY_NIC"
  fi
  render_unit "$nic" >&2
  systemctl daemon-reload
  systemctl enable ovn-mesos-gateway-nic.service >&2
  # shellcheck disable=SC2046 # one word per setting
  sysctl -qw $(nic_sysctls "$nic")
  ip link set "$nic" up
  log "gateway NIC $nic up, no kernel address"
  echo "$nic"
}

main "$@"
