#!/usr/bin/env bash
# mesos.sh: runs this VM's Mesos daemons (mesos-master on the master,
# mesos-agent on agents; with LAB_HA=1 also a mesos-master on each agent):
# real Mesos from a configurable package source, or mesos-local (this
# project's faithful local Mesos) when no Mesos package is configured or
# reachable. Writes /etc/systemd/system/mesos-{master,agent}.service.
#
# Environment:
#   LAB_ROLE, LAB_NODE, OVERLAY_IP, MASTER_IP
#   LAB_HA             1: the masters elect their leader in the ZooKeeper on
#                      MASTER_IP (zk://MASTER_IP:2181/mesos, a quorum of 2 of
#                      the 3 masters for real Mesos' replicated log) and the
#                      agents follow it there
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
# LAB_HA=1: the 3 masters' replicated log needs a majority
MESOS_QUORUM=2
# LAB_HA=1: the ZooKeeper session timeout of masters and agents (Mesos' default)
ZK_SESSION_TIMEOUT=10secs
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
  local impl=$1 role=$2 bin master=$MASTER_IP:$MASTER_PORT
  ha_mode && master=$(zk_url mesos)
  case "$impl/$role" in
    mesos/master)
      bin=$(real_bin_dir) || die "mesos-master not found"
      printf '%s\n' "$bin/mesos-master" "--ip=$OVERLAY_IP" "--advertise_ip=$OVERLAY_IP" \
        "--port=$MASTER_PORT" "--hostname=$LAB_NODE" "--cluster=ovn-mesos-lab" \
        "--work_dir=/var/lib/mesos/master"
      if ha_mode; then
        # the registry is a replicated log in each master's work dir: a
        # quorum of 2 of the 3 masters must hold it
        printf '%s\n' "--zk=$(zk_url mesos)" "--quorum=$MESOS_QUORUM" \
          "--zk_session_timeout=$ZK_SESSION_TIMEOUT" "--registry=replicated_log" \
          "--log_dir=/var/log/mesos/master"
      fi
      ;;
    mesos/agent)
      bin=$(real_bin_dir) || die "mesos-agent not found"
      # the executor needs the host's network namespace and OVS, and root:
      # no network isolator, posix filesystem, no user switch
      printf '%s\n' "$bin/mesos-agent" "--master=$master" "--ip=$OVERLAY_IP" \
        "--advertise_ip=$OVERLAY_IP" "--port=$AGENT_PORT" "--hostname=$LAB_NODE" \
        "--attributes=ovn-chassis:$LAB_NODE" "--work_dir=/var/lib/mesos/agent" \
        "--containerizers=mesos" "--isolation=filesystem/posix,posix/cpu,posix/mem" \
        "--no-switch_user"
      ;;
    mesos-local/master)
      printf '%s\n' "$MESOS_LOCAL master" "--ip=$OVERLAY_IP" "--port=$MASTER_PORT" \
        "--hostname=$LAB_NODE" "--work-dir=/var/lib/mesos-local/master"
      if ha_mode; then
        printf '%s\n' "--zk=$(zk_url mesos)" "--zk-session-timeout=$ZK_SESSION_TIMEOUT"
      fi
      ;;
    mesos-local/agent)
      printf '%s\n' "$MESOS_LOCAL agent" "--master=$master" "--ip=$OVERLAY_IP" \
        "--port=$AGENT_PORT" "--hostname=$LAB_NODE" "--attributes=ovn-chassis:$LAB_NODE" \
        "--work-dir=/var/lib/mesos-local/agent"
      if ha_mode; then
        printf '%s\n' "--zk-session-timeout=$ZK_SESSION_TIMEOUT"
      fi
      ;;
  esac
}

# render_unit IMPL ROLE: /etc/systemd/system/mesos-ROLE.service.
render_unit() {
  local impl=$1 role=$2 state_dir kill_mode after command
  command=$(exec_start "$impl" "$role")
  case "$impl" in
    # real agents' executors outlive an agent restart (checkpointing)
    mesos) state_dir=mesos/$role kill_mode=process ;;
    mesos-local) state_dir=mesos-local/$role kill_mode=control-group ;;
  esac
  after="network-online.target openvswitch-switch.service ovn-host.service"
  if [ "$LAB_ROLE" = master ]; then
    after="$after ovn-central.service"
    ha_mode && after="$after zookeeper.service"
  fi
  {
    echo '[Unit]'
    echo "Description=Mesos $role of the ovn-mesos lab ($impl)"
    echo 'Wants=network-online.target'
    echo "After=$after"
    echo
    echo '[Service]'
    printf '%s\n' "$command" | exec_start_lines
    echo "StateDirectory=$state_dir"
    if ha_mode && [ "$impl/$role" = mesos/master ]; then
      echo "LogsDirectory=mesos/master"
    fi
    echo "KillMode=$kill_mode"
    echo 'Restart=on-failure'
    echo 'RestartSec=3'
    echo 'LimitNOFILE=65536'
    echo
    echo '[Install]'
    echo 'WantedBy=multi-user.target'
  } | write_file "$UNIT_DIR/mesos-$role.service" 0644
}

# roles: the Mesos daemons of this VM, masters first.
roles() {
  if [ "$LAB_ROLE" = agent ] && ha_mode; then
    echo master
  fi
  echo "$LAB_ROLE"
}

main() {
  parse_mode "$@"
  require_env LAB_ROLE LAB_NODE OVERLAY_IP MASTER_IP
  local impl
  impl=$(choose_impl)
  log "Mesos $(roles | tr '\n' ' ')($impl)$(ha_mode && echo ", through ZooKeeper $(zk_url mesos)")"
  if [ "$impl" = mesos-local ] && ! render_only; then
    [ -x "$MESOS_LOCAL" ] || die "$MESOS_LOCAL is missing (binaries.sh installs it)"
  fi
  local role
  for role in $(roles); do
    render_unit "$impl" "$role"
    enable_now "mesos-$role.service"
    run_cmd systemctl restart "mesos-$role.service"
  done
}

main "$@"
