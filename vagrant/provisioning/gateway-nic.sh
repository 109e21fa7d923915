#!/usr/bin/env bash
# gateway-nic.sh: finds this VM's gateway NIC (the one Vagrant left
# unconfigured for PUBLIC_IP2: no address, not the management NIC, not the
# overlay NIC), brings it up without any kernel address (the tenant's gateway
# router owns PUBLIC_IP2 through OVS) and prints its name.
#
# Environment: OVERLAY_IP, GATEWAY_NIC (skips detection; required with
# RENDER_ONLY=1, where nothing is touched).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP=gateway-nic
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# detect: the first physical NIC that carries neither the default route nor
# OVERLAY_IP nor any IPv4 address.
detect() {
  local mgmt overlay dev name
  mgmt=$(ip -o route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
  overlay=$(ip -o -4 addr show | awk -v ip="$OVERLAY_IP" 'index($4, ip "/") == 1 { print $2; exit }')
  for dev in /sys/class/net/*; do
    name=${dev##*/}
    [ -e "$dev/device" ] || continue
    if [ "$name" = "$mgmt" ] || [ "$name" = "$overlay" ]; then
      continue
    fi
    [ -z "$(ip -o -4 addr show dev "$name")" ] || continue
    echo "$name"
    return 0
  done
  return 1
}

main() {
  parse_mode "$@"
  if render_only; then
    require_env GATEWAY_NIC
    echo "$GATEWAY_NIC"
    return 0
  fi
  require_env OVERLAY_IP
  local nic=${GATEWAY_NIC:-}
  if [ -z "$nic" ]; then
    nic=$(detect) || die "no unconfigured NIC found for the gateway; set GATEWAY_NIC"
  fi
  sysctl -qw "net.ipv6.conf.$nic.disable_ipv6=1"
  ip link set "$nic" up
  log "gateway NIC $nic up, no kernel address"
  echo "$nic"
}

main "$@"
