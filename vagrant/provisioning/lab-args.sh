#!/usr/bin/env bash
# lab-args.sh: writes the file the walk-through sources in the login user's
# home: setup_master_args.sh on the master, setup_agent_args.sh on agents
# (OVERLAY_IP as in the original lab, plus the gateway NIC and the NB address).
#
# Environment: LAB_ROLE, LAB_NODE, OVERLAY_IP, MASTER_IP, GATEWAY_IP, LAB_USER,
# optional PUBLIC_IP2 and GATEWAY_NIC (this VM's gateway NIC and its address).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP=lab-args
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# home_of USER: the user's home directory (/home/USER when rendering only).
home_of() {
  if render_only; then
    echo "/home/$1"
  else
    getent passwd "$1" | cut -d: -f6
  fi
}

# args_file: the variables, one per line, exported.
args_file() {
  echo "# The ovn-mesos lab's settings on $LAB_NODE (vagrant/provisioning/lab-args.sh)."
  echo '# Use: source ~/setup_'"$LAB_ROLE"'_args.sh'
  env_line OVERLAY_IP "$OVERLAY_IP"
  env_line MASTER_IP "$MASTER_IP"
  env_line GATEWAY_IP "$GATEWAY_IP"
  env_line SYSTEM_ID "$LAB_NODE"
  env_line OVN_NB_DB "tcp:$MASTER_IP:6641"
  local exports="OVERLAY_IP MASTER_IP GATEWAY_IP SYSTEM_ID OVN_NB_DB"
  if [ -n "${PUBLIC_IP2:-}" ]; then
    env_line PUBLIC_IP2 "$PUBLIC_IP2"
    env_line PHYSICAL_INTERFACE "$GATEWAY_NIC"
    exports="$exports PUBLIC_IP2 PHYSICAL_INTERFACE"
  fi
  echo "export $exports"
}

main() {
  parse_mode "$@"
  require_env LAB_ROLE LAB_NODE OVERLAY_IP MASTER_IP GATEWAY_IP LAB_USER
  if [ -n "${PUBLIC_IP2:-}" ]; then
    require_env GATEWAY_NIC
  fi
  local home file
  home=$(home_of "$LAB_USER")
  [ -n "$home" ] || die "user $LAB_USER has no home directory"
  file="$home/setup_${LAB_ROLE}_args.sh"
  args_file | write_file "$file" 0644
  run_cmd chown "$LAB_USER:" "$(dest "$file")"
}

main "$@"
