#!/usr/bin/env bash
# ovn-host.sh: makes this VM an OVN chassis: writes /etc/default/ovn-chassis
# (system-id = the VM name, geneve endpoint = OVERLAY_IP, SB on the master),
# applies it with the chassis setup shared with the e2e harness
# (ovn-chassis.sh) and starts ovn-controller.
#
#   ovn-host.sh [--render-only]   write the file (and, unless rendering, apply it)
#   ovn-host.sh --chassis-only    only apply the written file with ovn-chassis.sh
#                                 (VSCTL from the environment is passed through)
#
# Environment: LAB_NODE, OVERLAY_IP, MASTER_IP, DATAPATH_TYPE (default system:
# the VMs have the kernel datapath; netdev, the userspace datapath, also puts
# the overlay NIC into br-phy with underlay-netdev.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP=ovn-host
# shellcheck source=lib.sh
. "$HERE/lib.sh"

CHASSIS_ENV=/etc/default/ovn-chassis
SB_PORT=6642

# render_chassis_env: the settings ovn-chassis.sh takes, one per line.
render_chassis_env() {
  {
    echo '# OVN chassis of this lab VM (vagrant/provisioning/ovn-host.sh), applied by ovn-chassis.sh.'
    env_line SYSTEM_ID "$LAB_NODE"
    env_line ENCAP_IP "$OVERLAY_IP"
    env_line OVN_REMOTE "tcp:$MASTER_IP:$SB_PORT"
    env_line DATAPATH_TYPE "${DATAPATH_TYPE:-system}"
  } | write_file "$CHASSIS_ENV" 0644
}

# apply_chassis: runs the shared chassis setup with the written settings.
apply_chassis() {
  local file
  file=$(dest "$CHASSIS_ENV")
  [ -r "$file" ] || die "$file is missing: render it first"
  [ -r "$HERE/ovn-chassis.sh" ] || die "$HERE/ovn-chassis.sh is missing"
  (
    set -a
    # shellcheck source=/dev/null
    . "$file"
    set +a
    exec bash "$HERE/ovn-chassis.sh"
  )
  log "chassis settings of $file applied"
}

main() {
  if [ "${1:-}" = --chassis-only ]; then
    [ $# = 1 ] || die "--chassis-only takes no other argument"
    apply_chassis
    return 0
  fi
  parse_mode "$@"
  require_env LAB_NODE OVERLAY_IP MASTER_IP
  case "${DATAPATH_TYPE:-system}" in
    system | netdev) ;;
    *) die "DATAPATH_TYPE must be system or netdev, not '$DATAPATH_TYPE'" ;;
  esac
  render_chassis_env
  if [ "${DATAPATH_TYPE:-system}" = netdev ]; then
    render_only && "$HERE/underlay-netdev.sh" --install --render-only
  fi
  render_only && return 0
  enable_now openvswitch-switch.service
  apply_chassis
  if [ "${DATAPATH_TYPE:-system}" = netdev ]; then
    # geneve on the userspace datapath leaves through br-phy
    "$HERE/underlay-netdev.sh" --install
  fi
  enable_now ovn-host.service
  systemctl restart ovn-controller.service
}

main "$@"
