#!/usr/bin/env bash
# packages.sh: installs Open vSwitch and OVN from the distribution (Debian 12
# or Ubuntu 22.04/24.04: no third-party repository), ovn-central on the master,
# and what the shipped tasks and the executor need on agents; with LAB_HA=1
# also ZooKeeper and a headless JRE on the master (zookeeper.sh runs it).
#
# Environment: LAB_ROLE (master|agent), LAB_HA (0|1). With RENDER_ONLY=1 it
# does nothing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP=packages
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# packages_for ROLE: the distribution packages a VM of ROLE needs.
packages_for() {
  local role=$1
  # every VM is an OVN chassis (the master hosts coke's gateway router)
  echo openvswitch-switch ovn-host iproute2 ethtool curl ca-certificates rsync
  case "$role" in
    master)
      echo ovn-central
      # the package ships the jars and no service: zookeeper.sh writes one
      if ha_mode; then
        echo zookeeper default-jre-headless
      fi
      ;;
    # the shipped tasks run apache2 and nginx (python3 is their fallback)
    agent) echo apache2 nginx-light python3 ;;
  esac
}

main() {
  parse_mode "$@"
  require_env LAB_ROLE
  if render_only; then
    return 0
  fi
  local -a packages
  read -r -a packages <<<"$(packages_for "$LAB_ROLE" | tr '\n' ' ')"
  log "installing ${packages[*]}"
  apt-get update -q
  apt_install "${packages[@]}"
  if [ "$LAB_ROLE" = agent ]; then
    # the tasks start their own apache2/nginx inside containers; the
    # packaged services are stopped, and the one that lost the race for
    # port 80 at install is not left failed (the system would be degraded)
    systemctl disable --now apache2.service nginx.service || true
    systemctl reset-failed apache2.service nginx.service 2>/dev/null || true
  fi
}

main "$@"
