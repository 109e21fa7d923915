#!/usr/bin/env bash
# mesos.sh: runs this VM's Mesos daemon (mesos-master on the master,
# mesos-agent on agents): real Mesos from a configurable package source, or
# mesos-local (this project's faithful local Mesos) when no Mesos package is
# configured or reachable. Writes /etc/systemd/system/mesos-{master,agent}.service.
#
# Environment:
#   LAB_ROLE, LAB_NODE, OVERLAY_IP, MASTER_IP
#   MESOS_IMPL         auto (real Mesos when a source installs it, else
#                      mesos-local), mesos (fail without it), mesos-local
#   MESOS_DEB          URL or path of a Mesos .deb for this distribution
#   MESOS_APT_SOURCE   a sources.list line of a repository with Mesos, e.g.
#                      "deb [signed-by=/etc/apt/keyrings/mesos.asc] https://repo.example/debian bookworm main"
#   MESOS_APT_KEY_URL  its signing key, saved as /etc/apt/keyrings/mesos.asc
#   MESOS_PACKAGE      the package name in that repository (default mesos)
#   MESOS_BIN_DIR      where mesos-master/mesos-agent are (default: found on
#                      PATH; /usr/sbin when rendering only)
# With RENDER_ONLY=1, MESOS_IMPL=auto means mesos-local (nothing is installed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP=mesos
# shellcheck source=lib.sh
. "$HERE/lib.sh"

MASTER_PORT=5050
AGENT_PORT=5051
MESOS_LOCAL=/usr/local/bin/mesos-local
UNIT_DIR=/etc/systemd/system

# install_real_mesos: installs Mesos from MESOS_DEB or MESOS_APT_SOURCE;
# fails (without side effects on the lab) when neither is set or reachable.
install_real_mesos() {
  if [ -n "${MESOS_DEB:-}" ]; then
    local deb=/var/cache/ovn-mesos/mesos.deb
    mkdir -p "$(dirname "$deb")"
    case "$MESOS_DEB" in
      http://* | https://*) curl -fsSL --retry 3 -o "$deb" "$MESOS_DEB" || return 1 ;;
      *) cp "$MESOS_DEB" "$deb" || return 1 ;;
    esac
    apt-get update -q && apt_install "$deb"
  elif [ -n "${MESOS_APT_SOURCE:-}" ]; then
    if [ -n "${MESOS_APT_KEY_URL:-}" ]; then
      mkdir -p /etc/apt/keyrings
      curl -fsSL --retry 3 -o /etc/apt/keyrings/mesos.asc "$MESOS_APT_KEY_URL" || return 1
    fi
    printf '%s\n' "$MESOS_APT_SOURCE" >/etc/apt/sources.list.d/mesos.list
    if ! { apt-get update -q && apt_install "${MESOS_PACKAGE:-mesos}"; }; then
      rm -f /etc/apt/sources.list.d/mesos.list
      apt-get update -q || true
      return 1
    fi
  else
    log "no Mesos package source configured (MESOS_DEB, MESOS_APT_SOURCE)"
    return 1
  fi
}

# real_bin_dir: the directory holding mesos-master and mesos-agent.
real_bin_dir() {
  if [ -n "${MESOS_BIN_DIR:-}" ]; then
    echo "$MESOS_BIN_DIR"
  elif render_only; then
    echo /usr/sbin
  else
    local path
    path=$(PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v mesos-master) || return 1
    dirname "$path"
  fi
}

# choose_impl: prints mesos or mesos-local, installing real Mesos if asked.
choose_impl() {
  case "${MESOS_IMPL:-auto}" in
    mesos-local) echo mesos-local ;;
    mesos)
      render_only || real_bin_dir >/dev/null 2>&1 || install_real_mesos >&2 ||
        die "MESOS_IMPL=mesos but no Mesos package could be installed"
      echo mesos
      ;;
    auto)
      if render_only; then
        echo mesos-local
      elif real_bin_dir >/dev/null 2>&1 || install_real_mesos >&2; then
        echo mesos
      else
        log "falling back to mesos-local (no Mesos package reachable)"
        echo mesos-local
      fi
      ;;
    *) die "MESOS_IMPL must be auto, mesos or mesos-local, not '$MESOS_IMPL'" ;;
  esac
}

# exec_start IMPL ROLE: the daemon's command line, one flag per line.
exec_start() {
  local impl=$1 role=$2 bin
  case "$impl/$role" in
    mesos/master)
      bin=$(real_bin_dir) || die "mesos-master not found"
      printf '%s\n' "$bin/mesos-master" "--ip=$OVERLAY_IP" "--advertise_ip=$OVERLAY_IP" \
        "--port=$MASTER_PORT" "--hostname=$LAB_NODE" "--cluster=ovn-mesos-lab" \
        "--work_dir=/var/lib/mesos/master"
      ;;
    mesos/agent)
      bin=$(real_bin_dir) || die "mesos-agent not found"
      # the executor needs the host's network namespace and OVS, and root:
      # no network isolator, posix filesystem, no user switch
      printf '%s\n' "$bin/mesos-agent" "--master=$MASTER_IP:$MASTER_PORT" "--ip=$OVERLAY_IP" \
        "--advertise_ip=$OVERLAY_IP" "--port=$AGENT_PORT" "--hostname=$LAB_NODE" \
        "--attributes=ovn-chassis:$LAB_NODE" "--work_dir=/var/lib/mesos/agent" \
        "--containerizers=mesos" "--isolation=filesystem/posix,posix/cpu,posix/mem" \
        "--no-switch_user"
      ;;
    mesos-local/master)
      printf '%s\n' "$MESOS_LOCAL master" "--ip=$OVERLAY_IP" "--port=$MASTER_PORT" \
        "--hostname=$LAB_NODE" "--work-dir=/var/lib/mesos-local/master"
      ;;
    mesos-local/agent)
      printf '%s\n' "$MESOS_LOCAL agent" "--master=$MASTER_IP:$MASTER_PORT" "--ip=$OVERLAY_IP" \
        "--port=$AGENT_PORT" "--hostname=$LAB_NODE" "--attributes=ovn-chassis:$LAB_NODE" \
        "--work-dir=/var/lib/mesos-local/agent"
      ;;
  esac
}

# render_unit IMPL ROLE: /etc/systemd/system/mesos-ROLE.service.
render_unit() {
  local impl=$1 role=$2 state_dir kill_mode after line first=1
  case "$impl" in
    # real agents' executors outlive an agent restart (checkpointing)
    mesos) state_dir=mesos/$role kill_mode=process ;;
    mesos-local) state_dir=mesos-local/$role kill_mode=control-group ;;
  esac
  after="network-online.target openvswitch-switch.service ovn-host.service"
  [ "$role" = master ] && after="$after ovn-central.service"
  {
    echo '[Unit]'
    echo "Description=Mesos $role of the ovn-mesos lab ($impl)"
    echo 'Wants=network-online.target'
    echo "After=$after"
    echo
    echo '[Service]'
    while IFS= read -r line; do
      if [ "$first" = 1 ]; then
        printf 'ExecStart=%s' "$line"
        first=0
      else
        printf ' \\\n    %s' "$line"
      fi
    done < <(exec_start "$impl" "$role")
    echo
    echo "StateDirectory=$state_dir"
    echo "KillMode=$kill_mode"
    echo 'Restart=on-failure'
    echo 'RestartSec=3'
    echo 'LimitNOFILE=65536'
    echo
    echo '[Install]'
    echo 'WantedBy=multi-user.target'
  } | write_file "$UNIT_DIR/mesos-$role.service" 0644
}

main() {
  parse_mode "$@"
  require_env LAB_ROLE LAB_NODE OVERLAY_IP MASTER_IP
  local impl
  impl=$(choose_impl)
  log "Mesos $LAB_ROLE: $impl"
  if [ "$impl" = mesos-local ] && ! render_only; then
    [ -x "$MESOS_LOCAL" ] || die "$MESOS_LOCAL is missing (binaries.sh installs it)"
  fi
  render_unit "$impl" "$LAB_ROLE"
  enable_now "mesos-$LAB_ROLE.service"
  run_cmd systemctl restart "mesos-$LAB_ROLE.service"
}

main "$@"
