#!/usr/bin/env bash
# ovn-chassis.sh: configures this host's Open vSwitch as an OVN chassis.
# Shared by the Vagrant lab (ovn-host.sh) and the one-machine lab of the
# end-to-end tests (tests/src/lab), so CI runs exactly what the VMs run.
#
# Sets in the Open_vSwitch table's external_ids (one ovs-vsctl transaction):
#   system-id, hostname         = SYSTEM_ID (the chassis name; ovn-mesos pins
#                                  tasks with requested-chassis = hostname)
#   ovn-remote                  = OVN_REMOTE (the SB database, tcp:IP:6642)
#   ovn-encap-type=geneve, ovn-encap-ip = ENCAP_IP (the tunnel endpoint)
#   ovn-bridge-datapath-type    = DATAPATH_TYPE
# and creates the integration bridge br-int (may-exist) with that datapath
# type, fail_mode=secure and other_config:disable-in-band=true.
#
# Environment:
#   SYSTEM_ID      required
#   ENCAP_IP       required, an IPv4 address
#   OVN_REMOTE     required, e.g. tcp:10.10.1.11:6642
#   DATAPATH_TYPE  system (kernel datapath, default) or netdev (userspace)
#   VSCTL          the ovs-vsctl command line (default "ovs-vsctl"), e.g.
#                  "ovs-vsctl --db=unix:/tmp/lab/agent1/db.sock"; split on spaces
#
# Idempotent: a second run with the same settings changes nothing. ovs-vsctl
# waits for ovs-vswitchd to apply the change, so ovs-vswitchd must be running.
# Exits 64 on bad settings. Touches nothing but the Open vSwitch database.
set -euo pipefail

die() {
  echo "ovn-chassis.sh: $*" >&2
  exit 64
}

[ -n "${SYSTEM_ID:-}" ] || die "SYSTEM_ID is required"
[ -n "${ENCAP_IP:-}" ] || die "ENCAP_IP is required"
[ -n "${OVN_REMOTE:-}" ] || die "OVN_REMOTE is required"
DATAPATH_TYPE=${DATAPATH_TYPE:-system}
case "$DATAPATH_TYPE" in
  system | netdev) ;;
  *) die "DATAPATH_TYPE must be system or netdev, not '$DATAPATH_TYPE'" ;;
esac
[[ "$ENCAP_IP" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "ENCAP_IP '$ENCAP_IP' is not an IPv4 address"
case "$OVN_REMOTE" in
  tcp:* | ssl:* | unix:*) ;;
  *) die "OVN_REMOTE '$OVN_REMOTE' must be tcp:IP:PORT, ssl:IP:PORT or unix:PATH" ;;
esac

read -r -a vsctl <<<"${VSCTL:-ovs-vsctl}"
[ "${#vsctl[@]}" -gt 0 ] || die "VSCTL is empty"

# quote VALUE: VALUE as an OVSDB string literal, so ':' and ',' stay one value.
quote() {
  local v=${1//\\/\\\\}
  printf '"%s"' "${v//\"/\\\"}"
}

"${vsctl[@]}" \
  -- set Open_vSwitch . \
  "external_ids:system-id=$(quote "$SYSTEM_ID")" \
  "external_ids:hostname=$(quote "$SYSTEM_ID")" \
  "external_ids:ovn-remote=$(quote "$OVN_REMOTE")" \
  external_ids:ovn-encap-type=geneve \
  "external_ids:ovn-encap-ip=$(quote "$ENCAP_IP")" \
  "external_ids:ovn-bridge-datapath-type=$DATAPATH_TYPE" \
  -- --may-exist add-br br-int \
  -- set Bridge br-int "datapath_type=$DATAPATH_TYPE" fail_mode=secure \
  other_config:disable-in-band=true

echo "ovn-chassis.sh: chassis $SYSTEM_ID (encap geneve $ENCAP_IP, SB $OVN_REMOTE, datapath $DATAPATH_TYPE) configured"
