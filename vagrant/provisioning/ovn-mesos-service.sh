#!/usr/bin/env bash
# ovn-mesos-service.sh: installs the framework as a service on the master
# (with LAB_HA=1 on every VM): /etc/default/ovn-mesos (every `ovn-mesos run`
# flag as its environment variable), /etc/systemd/system/ovn-mesos.service
# and the shipped task files in /etc/ovn-mesos/tasks. The service is enabled
# (it starts at boot) but started only with OVN_MESOS_AUTOSTART=1: the
# walk-through creates the tenants' networks first and then starts it.
#
# With LAB_HA=1 the instances elect their leader in the ZooKeeper on the
# master (zk://MASTER_IP:2181/ovn-mesos), follow the leading Mesos master
# there (zk://MASTER_IP:2181/mesos), and each serves its API on OVERLAY_IP at
# the port of OVN_MESOS_API, the address it advertises to the others.
#
# Environment: MASTER_IP, LAB_SRC (the checkout with tasks/), optional
# OVN_MESOS_API (default 127.0.0.1:8089), OVN_MESOS_AUTOSTART (0|1), LAB_HA
# (0|1) and, with LAB_HA=1, LAB_NODE and OVERLAY_IP.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP=ovn-mesos-service
# shellcheck source=lib.sh
. "$HERE/lib.sh"

BIN_DIR=/usr/local/bin
TASK_DIR=/etc/ovn-mesos/tasks
STATE_DIR=/var/lib/ovn-mesos
DEFAULTS=/etc/default/ovn-mesos

# api_port: the port of OVN_MESOS_API (HOST:PORT, default 127.0.0.1:8089).
api_port() {
  local api=${OVN_MESOS_API:-127.0.0.1:8089} port
  port=${api##*:}
  case "$port" in
    "" | *[!0-9]*) die "OVN_MESOS_API must be HOST:PORT, not '$api'" ;;
  esac
  echo "$port"
}

# render_defaults: /etc/default/ovn-mesos, read by the unit's EnvironmentFile=.
render_defaults() {
  local api
  if ha_mode; then
    # the others reach this instance's API (proxied writes, /health)
    api=$OVERLAY_IP:$(api_port)
  else
    api=${OVN_MESOS_API:-127.0.0.1:8089}
  fi
  {
    if ha_mode; then
      echo "# ovn-mesos run on $LAB_NODE, one of the lab's three instances that elect their"
      echo '# leader in ZooKeeper (vagrant/provisioning/ovn-mesos-service.sh).'
    else
      echo '# ovn-mesos run on the lab master (vagrant/provisioning/ovn-mesos-service.sh).'
    fi
    echo '# Every variable is the environment form of an "ovn-mesos run" flag.'
    if ha_mode; then
      env_line OVN_MESOS_MASTER "$(zk_url mesos)"
      env_line OVN_MESOS_ZK "$(zk_url ovn-mesos)"
    else
      env_line OVN_MESOS_MASTER "$MASTER_IP:5050"
    fi
    env_line OVN_MESOS_TASKS "$TASK_DIR"
    env_line OVN_NB_DB "tcp:$MASTER_IP:6641"
    env_line OVN_MESOS_STATE_DIR "$STATE_DIR"
    env_line OVN_MESOS_API "$api"
    if ha_mode; then
      env_line OVN_MESOS_ADVERTISE_API "$api"
    fi
    env_line OVN_MESOS_EXECUTOR "$BIN_DIR/ovn-mesos-executor"
    # the agents carry --attributes=ovn-chassis:<VM name> (mesos.sh)
    env_line OVN_MESOS_CHASSIS_ATTRIBUTE ovn-chassis
    # VirtualBox/libvirt underlay MTU 1500 - 58 bytes of geneve, rounded down
    env_line OVN_MESOS_MTU 1400
    env_line OVN_MESOS_NAME ovn-mesos
    env_line OVN_MESOS_ROLE '*'
    env_line OVN_MESOS_LOG info
  } | write_file "$DEFAULTS" 0644
}

# render_unit: /etc/systemd/system/ovn-mesos.service.
render_unit() {
  local after="network-online.target ovn-central.service mesos-master.service"
  # LAB_HA=1: ZooKeeper runs on the master (elsewhere the order is void)
  ha_mode && after="network-online.target ovn-central.service zookeeper.service mesos-master.service"
  write_file /etc/systemd/system/ovn-mesos.service 0644 <<UNIT
[Unit]
Description=ovn-mesos framework (Mesos scheduler with OVN networking)
Documentation=file://${LAB_SRC:-/ovn-mesos}/vagrant/README.md
Wants=network-online.target
After=$after

[Service]
EnvironmentFile=$DEFAULTS
ExecStart=$BIN_DIR/ovn-mesos run
StateDirectory=ovn-mesos
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
}

# copy_tasks: the shipped task files (apache and nginx for coke and pepsi).
copy_tasks() {
  local src=${LAB_SRC:-/ovn-mesos}/tasks file name found=0
  for file in "$src"/*.json; do
    [ -e "$file" ] || continue
    name=$(basename "$file")
    write_file "$TASK_DIR/$name" 0644 <"$src/$name"
    found=1
  done
  [ "$found" = 1 ] || die "no task files in $src"
}

main() {
  parse_mode "$@"
  require_env MASTER_IP
  if ha_mode; then
    require_env LAB_NODE OVERLAY_IP
  fi
  render_defaults
  render_unit
  copy_tasks
  render_only && return 0
  systemctl daemon-reload
  # enabled, so that it comes back with the machine; started by the
  # walk-through once the tenants' networks exist (or now, when asked)
  systemctl enable ovn-mesos.service
  if [ "${OVN_MESOS_AUTOSTART:-0}" = 1 ]; then
    enable_now ovn-mesos.service
  fi
}

main "$@"
