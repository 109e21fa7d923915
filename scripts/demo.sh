#!/usr/bin/env bash
# The seed walk-through's network half with the project's own commands, against
# real OVN daemons started in a private state dir: tenant-init, gateway-init and
# network-init for the tenants coke and pepsi (same 192.168.1.0/24), a second run
# showing that nothing changes, the errors for bad input, and the teardown with
# the *-delete commands. Everything it starts is stopped by pid on exit, also
# after an interrupted earlier run (its pidfiles are found and cleaned first).
#
#   scripts/demo.sh            run, then tear down
#   KEEP=1 scripts/demo.sh     leave the daemons running and print how to stop them
#   scripts/demo.sh stop-only  stop what a KEEP=1 run left
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${OVN_MESOS_DEMO_DIR:-/tmp/ovn-mesos-demo}
KEEP=${KEEP:-0}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }

stop_all() {   # stop every daemon whose pidfile is under $STATE, newest first
  [ -d "$STATE" ] || return 0
  local f pid
  for f in "$STATE"/ovn/northd.pid "$STATE"/ovs/ovsdb-server.pid "$STATE"/ovn/sb.pid "$STATE"/ovn/nb.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$STATE"
}

if [ "${1:-}" = stop-only ]; then stop_all; echo "stopped, $STATE removed"; exit 0; fi

step "cleaning up after any earlier run in $STATE"
stop_all

step "building ovn-mesos"
(cd "$ROOT" && cargo build -q -p ovn-mesos)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/ovn-mesos

step "starting OVN central (NB, SB, ovn-northd) and a local Open_vSwitch DB"
mkdir -p "$STATE/ovn" "$STATE/ovs"
export OVS_RUNDIR=$STATE/ovs OVS_DBDIR=$STATE/ovs OVS_LOGDIR=$STATE/ovs
export OVN_RUNDIR=$STATE/ovn OVN_DBDIR=$STATE/ovn OVN_LOGDIR=$STATE/ovn
flags() { echo "-vconsole:off -vfile:info --pidfile=$1.pid --unixctl=$1.ctl --log-file=$1.log --detach --no-chdir"; }
ovsdb-tool create "$STATE/ovn/nb.db" /usr/share/ovn/ovn-nb.ovsschema
ovsdb-tool create "$STATE/ovn/sb.db" /usr/share/ovn/ovn-sb.ovsschema
# shellcheck disable=SC2046
ovsdb-server "$STATE/ovn/nb.db" $(flags "$STATE/ovn/nb") --remote=punix:"$STATE/ovn/nb.sock"
# shellcheck disable=SC2046
ovsdb-server "$STATE/ovn/sb.db" $(flags "$STATE/ovn/sb") --remote=punix:"$STATE/ovn/sb.sock"
export OVN_NB_DB=unix:$STATE/ovn/nb.sock OVN_SB_DB=unix:$STATE/ovn/sb.sock
ovn-nbctl --no-wait init
ovn-sbctl init
# shellcheck disable=SC2046
ovn-northd $(flags "$STATE/ovn/northd") --ovnnb-db="$OVN_NB_DB" --ovnsb-db="$OVN_SB_DB"
ovsdb-tool create "$STATE/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
# shellcheck disable=SC2046
ovsdb-server "$STATE/ovs/conf.db" $(flags "$STATE/ovs/ovsdb-server") --remote=punix:"$STATE/ovs/db.sock"
ovs-vsctl --no-wait init -- set Open_vSwitch . external_ids:system-id=mesos-master \
  external_ids:ovn-bridge-datapath-type=netdev
export OVN_MESOS_OVS_DB=unix:$STATE/ovs/db.sock
[ "$KEEP" = 1 ] || trap stop_all EXIT
echo "NB: $OVN_NB_DB   local OVS DB: $OVN_MESOS_OVS_DB (system-id mesos-master)"

setup() {
  run "$BIN" tenant-init --tenant-name coke
  run "$BIN" gateway-init --cluster-ip-subnet=192.168.0.0/16 --localnet=physnet \
    --physical-ip=10.10.1.12/24 --default-gw=10.10.1.1 --tenant-name=coke
  run "$BIN" network-init --network-name=coke1 --subnet=192.168.1.0/24 --tenant-name=coke
  run "$BIN" tenant-init --tenant-name pepsi
  run "$BIN" gateway-init --cluster-ip-subnet=192.168.0.0/16 --localnet=physnet \
    --physical-ip=10.10.1.14/24 --default-gw=10.10.1.1 --tenant-name=pepsi --system-id=mesos-agent1
  run "$BIN" network-init --network-name=pepsi1 --subnet=192.168.1.0/24 --tenant-name=pepsi
}

step "the seed's ovn-mesos-init steps for tenants coke and pepsi"
setup
run ovn-nbctl --wait=sb sync

step "what OVN now holds (ovn-nbctl show)"
ovn-nbctl show
step "routes and NAT of coke's gateway router"
run ovn-nbctl lr-route-list GR_coke_mesos-master
run ovn-nbctl lr-nat-list GR_coke_mesos-master
run ovs-vsctl get Open_vSwitch . external_ids:ovn-bridge-mappings

step "running every step again changes nothing (one SNAT row per gateway, as before)"
before=$(ovsdb-client dump "$OVN_NB_DB" OVN_Northbound | grep -v '^_version' | md5sum)
setup
after=$(ovsdb-client dump "$OVN_NB_DB" OVN_Northbound | grep -v '^_version' | md5sum)
[ "$before" = "$after" ] && echo "NB database identical after the second run"

step "bad input gets a one-line error and changes nothing"
for args in \
  "network-init --network-name=coke2 --subnet=10.99.0.0/24 --tenant-name=coke" \
  "network-init --network-name=coke3 --subnet=192.168.1.128/25 --tenant-name=coke" \
  "network-init --network-name=x1 --subnet=192.168.5.0/24 --tenant-name=fanta" \
  "network-init --network-name=coke4 --subnet=192.168.1.0/33 --tenant-name=coke"; do
  # shellcheck disable=SC2086
  printf '$ ovn-mesos %s\n' "$args"; "$BIN" $args && exit 1 || echo "(exit $?)"
done

if [ "$KEEP" = 1 ]; then
  step "left running"
  cat <<EOF
export OVN_NB_DB=$OVN_NB_DB OVN_MESOS_OVS_DB=$OVN_MESOS_OVS_DB
$BIN vip <service>          # VIPs (the scheduler creates them)
ovn-nbctl show
stop:  OVN_MESOS_DEMO_DIR=$STATE $ROOT/scripts/demo.sh stop-only   (or run the demo again)
EOF
  exit 0
fi

step "teardown with the inverse commands"
run "$BIN" network-delete --network-name=pepsi1 --tenant-name=pepsi
run "$BIN" gateway-delete --tenant-name=pepsi --system-id=mesos-agent1
run "$BIN" tenant-delete --tenant-name=pepsi
run "$BIN" tenant-delete --tenant-name=coke --cascade
echo "NB after teardown:"; ovn-nbctl show; echo "(empty)"
