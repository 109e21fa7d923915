#!/usr/bin/env bash
# The seed walk-through on this machine, with the project's own commands: the
# three-host lab (network namespaces mesos-master, mesos-agent1, mesos-agent2,
# outside; real OVS/OVN with geneve tunnels; mesos-local master and agents),
# the network steps `ovn-mesos tenant-init` / `gateway-init` / `network-init`
# for tenants coke and pepsi (both on 192.168.1.0/24), `ovn-mesos run` with
# the shipped tasks (Apache and nginx behind one VIP per tenant), 20 curls
# through each VIP from `outside`, `ovn-mesos vip`, a killed nginx task being
# replaced, a frozen Apache (SIGSTOP) found by its health check, out of the
# VIP and replaced, and the timings: `ovn-mesos run` to the first answer
# through the VIP, a backend's TASK_RUNNING to its first answer through the
# VIP, and the frozen backend's way out and its replacement's way in.
#
#
# HA=1: the same lab in high availability, as the seed's three VMs would run
# it: ZooKeeper on 10.10.1.11:2181 (in mesos-master), a mesos-local master in
# each of the three hosts contending through it (zk://10.10.1.11:2181/mesos,
# 2 s sessions), the agents following the leader, and three `ovn-mesos run
# --zk zk://10.10.1.11:2181/ovn-mesos` instances, one per host, API on
# <host ip>:8089, electing one leader. After the VIPs answer it shows which
# instance leads (/health of all three), SIGKILLs the leading ovn-mesos while
# curling the VIPs every ~50 ms from `outside` and prints the takeover time
# (kill -> another instance's /health says leader with 200), the failed curls
# (expected 0) and that the new leader has the same tasks; starts the killed
# instance again (it stands by); then SIGKILLs the leading mesos master and
# prints the master failover time (kill -> a new master leads, both agents and
# the framework re-registered with it, the framework's /health 200) with
# curls all along; then the killed nginx task and its replacement as above.
# The frozen-backend part is skipped in HA mode. Teardown: all three
# instances stopped, then `ovn-mesos teardown --zk ...` (refused while any
# instance is in the election), then the lab (masters, agents, ZooKeeper).
#
#   scripts/demo.sh            run, then tear everything down
#   KEEP=1 scripts/demo.sh     leave it running and print how to poke at it
#   HA=1 scripts/demo.sh       the HA walk-through (also with KEEP=1)
#   scripts/demo.sh stop       stop what a KEEP=1 (or interrupted) run left (either mode)
#
# Needs root. Everything lives in $OVN_MESOS_DEMO_DIR (default
# /tmp/ovn-mesos-demo); an earlier run that was interrupted is cleaned up
# first (the framework by its pidfile, the lab by `ovn-mesos-lab down`).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${OVN_MESOS_DEMO_DIR:-/tmp/ovn-mesos-demo}
KEEP=${KEEP:-0}
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/debug
export OVN_MESOS_LAB_LOG=${OVN_MESOS_LAB_LOG:-warn}
LAB=$BIN_DIR/ovn-mesos-lab
PIDFILE=$D/ovn-mesos-run.pid
API=127.0.0.1:8089
COKE_VIP=10.10.1.12:32350
PEPSI_VIP=10.10.1.14:32350
HA=${HA:-0}
HA_MARK=$D/demo-ha   # written by an HA run: `stop` tears it down the HA way
ZK_MESOS=zk://10.10.1.11:2181/mesos
ZK_FW=zk://10.10.1.11:2181/ovn-mesos
HA_HOSTS=(mesos-master mesos-agent1 mesos-agent2)
HA_IPS=(10.10.1.11 10.10.1.13 10.10.1.15)
HA_SHORT=(master agent1 agent2)
HA_APIS=(10.10.1.11:8089 10.10.1.13:8089 10.10.1.15:8089)
PROBER=""

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$1/status" 2>/dev/null; }
# `HOST$ command`, run inside that host's namespace with its OVS/OVN environment.
on() { local host=$1; shift; printf '[%s]$ %s\n' "$host" "$*"; "$LAB" exec --dir "$D" "$host" -- "$@"; }
quiet_on() { local host=$1; shift; "$LAB" exec --dir "$D" "$host" -- "$@"; }
curl_vip() { ip netns exec outside curl -sS --connect-timeout 1 -m 2 "http://$1/" 2>/dev/null; }
api() { ip netns exec mesos-master curl -sSf -m 2 "http://$API$1" 2>/dev/null; }
if [ "$HA" = 1 ]; then
  # Any instance: a standby answers 307 to the leader (followed), a killed
  # one or one while no instance leads fails and the next is tried.
  api() {
    local a
    for a in "${HA_APIS[@]}"; do
      ip netns exec outside curl -sSfL -m 2 "http://$a$1" 2>/dev/null && return 0
    done
    return 1
  }
fi

wait_no_executors() {   # until no ovn-mesos-executor of this lab runs (deadline 30 s)
  local deadline=$((SECONDS + 30)) p
  while [ "$SECONDS" -lt "$deadline" ]; do
    p=$(pgrep -x ovn-mesos-execu 2>/dev/null | while read -r pid; do
      [ "$(readlink "/proc/$pid/ns/net")" = "$(ip netns exec mesos-agent1 readlink /proc/self/ns/net)" ] \
        || [ "$(readlink "/proc/$pid/ns/net")" = "$(ip netns exec mesos-agent2 readlink /proc/self/ns/net)" ] \
        && echo "$pid"; done || true)
    [ -n "$p" ] || return 0
    sleep 0.1
  done
  echo "executors still running: $p" >&2
}

stop_framework() {   # SIGTERM (it leaves the tasks to Mesos), then SIGKILL
  [ -f "$PIDFILE" ] || return 0
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -n "$pid" ] && alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'ovn-mesos run'; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    echo "ovn-mesos run (pid $pid) stopped"
  fi
  rm -f "$PIDFILE"
}

# HA: the pidfile of the instance in HOST.
instance_pidfile() { echo "$D/ovn-mesos-run-$1.pid"; }

stop_instances() {   # HA: every instance, all SIGTERMed at once (no standby takes over)
  local host pid pids=()
  for host in "${HA_HOSTS[@]}"; do
    pid=$(cat "$(instance_pidfile "$host")" 2>/dev/null || true)
    if [ -n "$pid" ] && alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'ovn-mesos run'; then
      kill "$pid" 2>/dev/null || true
      pids+=("$host:$pid")
    fi
  done
  for host in "${pids[@]}"; do
    pid=${host#*:}
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    echo "ovn-mesos run in ${host%%:*} (pid $pid) stopped"
  done
  for host in "${HA_HOSTS[@]}"; do rm -f "$(instance_pidfile "$host")"; done
}

teardown_ha() {   # HA: every instance, then the framework's tasks and NB rows (ZooKeeper holds its id)
  stop_instances
  if [ -x "$BIN_DIR/ovn-mesos" ] && [ -e /var/run/netns/mesos-master ] \
      && "$LAB" pid --dir "$D" mesos-master/zookeeper >/dev/null 2>&1; then
    echo "[mesos-master]$ ovn-mesos teardown --master $ZK_MESOS --zk $ZK_FW"
    # Refused while an instance is in the election: a SIGKILLed one stays
    # there until its 2 s session expires.
    local deadline=$((SECONDS + 15)) out
    until out=$(ip netns exec mesos-master "$BIN_DIR/ovn-mesos" --log warn teardown --master "$ZK_MESOS" \
        --zk "$ZK_FW" --zk-session-timeout 2secs --nb tcp:10.10.1.11:6641 2>&1); do
      if ! grep -q 'in the election' <<<"$out" || [ "$SECONDS" -ge "$deadline" ]; then break; fi
      sleep 0.5
    done
    [ -z "$out" ] || echo "$out"
    wait_no_executors
  fi
}

teardown() {   # framework, then its tasks (through Mesos), then the lab
  if [ -f "$HA_MARK" ]; then
    teardown_ha
  else
    stop_framework
    if [ -f "$D/ovn-mesos-state/framework.json" ] && [ -x "$BIN_DIR/ovn-mesos" ] \
        && [ -e /var/run/netns/mesos-master ]; then
      # Mesos kills the tasks; each executor removes its container's namespace,
      # veth and OVS port. Then the framework's ports and load balancers go.
      echo "[mesos-master]$ ovn-mesos teardown --master 10.10.1.11:5050 --state-dir $D/ovn-mesos-state"
      ip netns exec mesos-master "$BIN_DIR/ovn-mesos" --log warn teardown --master 10.10.1.11:5050 \
        --nb tcp:10.10.1.11:6641 --state-dir "$D/ovn-mesos-state" || true
      wait_no_executors
    fi
  fi
  if [ -x "$LAB" ]; then "$LAB" down --dir "$D"; fi
  if [ -d "$D" ]; then rmdir "$D" 2>/dev/null || true; fi
}

# HA helpers.
# start_instance I: `ovn-mesos run` in host I of HA_HOSTS, in the background.
start_instance() {
  local host=${HA_HOSTS[$1]} api=${HA_APIS[$1]}
  ip netns exec "$host" "$BIN_DIR/ovn-mesos" run --master "$ZK_MESOS" --zk "$ZK_FW" --zk-session-timeout 2secs \
    --api "$api" --advertise-api "$api" --tasks "$ROOT/tasks" --nb tcp:10.10.1.11:6641 \
    --executor "$BIN_DIR/ovn-mesos-executor" </dev/null >>"$D/logs/ovn-mesos-run-$host.log" 2>&1 &
  echo $! >"$(instance_pidfile "$host")"
  disown $!   # no "Killed" job report when the demo SIGKILLs it
}
# health API: "<http code> <body>" of the instance's /health ("000" if it does not answer).
health() {
  local out
  out=$(ip netns exec outside curl -s -m 1 -w '\n%{http_code}' "http://$1/health" 2>/dev/null) || true
  [ -n "$out" ] || out=$'\n000'
  echo "${out##*$'\n'} ${out%$'\n'*}"
}
# leading_instance: the index of the instance whose /health says leader with 200.
leading_instance() {
  local i
  for i in "${!HA_APIS[@]}"; do
    case "$(health "${HA_APIS[$i]}")" in '200 '*'"role":"leader"'*) echo "$i"; return 0 ;; esac
  done
  return 1
}
show_health() {
  local i
  for i in "${!HA_APIS[@]}"; do
    printf '[outside]$ curl http://%s/health  ->  %s\n' "${HA_APIS[$i]}" "$(health "${HA_APIS[$i]}")"
  done
}
# task_ids API [STATE]: the sorted ids of the tasks (in STATE, if given) of
# API's /v1/tasks ("" for any instance's).
task_ids() {
  local json
  if [ -n "$1" ]; then
    json=$(ip netns exec outside curl -sSf -m 2 "http://$1/v1/tasks" 2>/dev/null) || return 1
  else
    json=$(api /v1/tasks) || return 1
  fi
  python3 -c '
import json, sys
print(" ".join(sorted(t["id"] for t in json.load(sys.stdin)["tasks"] if sys.argv[1] in ("", t["state"]))))' "${2:-}" <<<"$json"
}
running_ids() { task_ids "${1:-}" TASK_RUNNING; }
# leading_master: the index of the mesos master whose /state says it leads.
leading_master() {
  local i
  for i in "${!HA_IPS[@]}"; do
    if ip netns exec outside curl -s -m 1 "http://${HA_IPS[$i]}:5050/state" 2>/dev/null \
        | grep -q "\"leader\":\"master@${HA_IPS[$i]}:5050\""; then
      echo "$i"; return 0
    fi
  done
  return 1
}
# probe LOG: curls the two VIPs in turn from outside, one every 50 ms, until killed:
# "<ms> <vip> <answer or FAILED>" per curl.
probe() {
  local vip answer n=0
  while :; do
    if [ $((n % 2)) = 0 ]; then vip=$COKE_VIP; else vip=$PEPSI_VIP; fi
    n=$((n + 1))
    answer=$(curl_vip "$vip") || answer=FAILED
    echo "$(now_ms) $vip $answer" >>"$1"
    sleep 0.05
  done
}
start_probe() { : >"$1"; probe "$1" & PROBER=$!; }
stop_probe() {   # LOG T0: stops the prober, prints what it saw (times from T0, ms); sets probe_failed and probe_total
  kill "$PROBER" 2>/dev/null || true
  wait "$PROBER" 2>/dev/null || true
  PROBER=""
  probe_total=$(wc -l <"$1")
  probe_failed=$(grep -c ' FAILED$' "$1" || true)
  echo "curls through $COKE_VIP and $PEPSI_VIP from outside: $probe_total, $probe_failed failed (expected 0);" \
    "answers: $(awk '{print $3}' "$1" | sort | uniq -c | awk '{printf "%s: %s  ", $2, $1}')"
  if [ "$probe_failed" != 0 ]; then
    grep ' FAILED$' "$1" | awk -v t0="$2" '{printf "  %+d ms after the kill: curl %s failed\n", $1 - t0, $2}' | head -n 10
    ha_failed=1
  fi
}

if [ "${1:-}" = stop ]; then teardown; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "demo.sh: needs root (network namespaces, OVS)" >&2; exit 1; fi

step "installing what is missing (Debian packages) and building the binaries"
"$ROOT/scripts/install-deps.sh"
(cd "$ROOT" && cargo build --workspace --bins)
export PATH=$BIN_DIR:$PATH
export OVN_MESOS_BIN=$BIN_DIR/ovn-mesos MESOS_LOCAL_BIN=$BIN_DIR/mesos-local \
  OVN_MESOS_EXECUTOR_BIN=$BIN_DIR/ovn-mesos-executor

step "cleaning up after any earlier run in $D"
teardown

finish() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$PROBER" ]; then kill "$PROBER" 2>/dev/null || true; fi
  if [ "$KEEP" = 1 ] && [ "$status" = 0 ]; then return; fi
  if [ "$status" != 0 ] && [ -f "$D/logs/ovn-mesos-run.log" ]; then
    echo "--- last lines of the framework's log"; tail -n 20 "$D/logs/ovn-mesos-run.log"
  fi
  if [ "$status" != 0 ] && [ "$HA" = 1 ]; then
    for h in "${HA_HOSTS[@]}"; do
      [ -f "$D/logs/ovn-mesos-run-$h.log" ] || continue
      echo "--- last lines of the log of the instance in $h"; tail -n 10 "$D/logs/ovn-mesos-run-$h.log"
    done
  fi
  step "teardown"
  teardown
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$HA" != 1 ]; then
  step "the lab: underlay, 3 hosts with OVS/OVN and geneve, OVN central, mesos-local (ovn-mesos-lab up)"
  "$LAB" up --dir "$D" | sed -n '1p'
else
  step "the lab in HA: underlay, 3 hosts with OVS/OVN and geneve, OVN central, ZooKeeper, a mesos-local master in every host (ovn-mesos-lab up --ha)"
  "$LAB" up --ha --dir "$D" | sed -n '1p'
  touch "$HA_MARK"
  # ZooKeeper's answer to `srvr`, from inside mesos-master.
  srvr=$(ip netns exec mesos-master bash -c 'exec 3<>/dev/tcp/10.10.1.11/2181 && printf srvr >&3 && cat <&3')
  printf '[mesos-master]$ echo srvr | nc 10.10.1.11 2181  ->  ZooKeeper %s, %s\n' \
    "$(sed -n 's/^Zookeeper version: \([0-9.]*\).*/\1/p' <<<"$srvr")" "$(grep '^Mode:' <<<"$srvr")"
  m=$(leading_master) || { echo "no mesos master leads" >&2; exit 1; }
  echo "mesos masters on ${HA_IPS[*]/%/:5050}: ${HA_HOSTS[$m]} (${HA_IPS[$m]}:5050) leads; the agents follow $ZK_MESOS"
fi

step "the seed's network steps (tenants coke and pepsi, each with 192.168.1.0/24)"
for t in coke:mesos-master:10.10.1.12 pepsi:mesos-agent1:10.10.1.14; do
  IFS=: read -r tenant gw_host gw_ip <<<"$t"
  on mesos-master ovn-mesos tenant-init --tenant-name="$tenant"
  on "$gw_host" ovn-mesos gateway-init --cluster-ip-subnet=192.168.0.0/16 --localnet=physnet \
    --physical-interface=eth1 --physical-ip="$gw_ip/24" --default-gw=10.10.1.1 --tenant-name="$tenant"
  on mesos-master ovn-mesos network-init --network-name="${tenant}1" --subnet=192.168.1.0/24 --tenant-name="$tenant"
done | grep -v '^\(created\|updated\) ' || true
quiet_on mesos-master ovn-nbctl --wait=hv sync

if [ "$HA" != 1 ]; then
  step "the framework: ovn-mesos run (in mesos-master, log in $D/logs/ovn-mesos-run.log)"
  echo "[mesos-master]$ ovn-mesos run --master 10.10.1.11:5050 --tasks $ROOT/tasks --nb tcp:10.10.1.11:6641 --state-dir $D/ovn-mesos-state --api $API &"
  mkdir -p "$D/logs"
  t_run=$(now_ms)
  ip netns exec mesos-master "$BIN_DIR/ovn-mesos" run --master 10.10.1.11:5050 --tasks "$ROOT/tasks" \
    --nb tcp:10.10.1.11:6641 --state-dir "$D/ovn-mesos-state" --api "$API" \
    --executor "$BIN_DIR/ovn-mesos-executor" </dev/null >"$D/logs/ovn-mesos-run.log" 2>&1 &
  echo $! >"$PIDFILE"
  fw_pid=$!
else
  step "the framework: 3 x ovn-mesos run, one per host, electing a leader in ZooKeeper (logs in $D/logs/ovn-mesos-run-HOST.log)"
  mkdir -p "$D/logs"
  t_run=$(now_ms)
  for i in "${!HA_HOSTS[@]}"; do
    echo "[${HA_HOSTS[$i]}]$ ovn-mesos run --master $ZK_MESOS --zk $ZK_FW --zk-session-timeout 2secs --api ${HA_APIS[$i]} --advertise-api ${HA_APIS[$i]} --tasks $ROOT/tasks --nb tcp:10.10.1.11:6641 &"
    start_instance "$i"
  done
  fw_pid=$(cat "$(instance_pidfile mesos-master)")
fi

# Poll (deadline 90 s) the API for nginxcoke's TASK_RUNNING and the VIP for its
# first answer and its first nginx answer.
t_first="" t_running="" t_nginx=""
deadline=$((SECONDS + 90))
while [ -z "$t_nginx" ]; do
  alive "$fw_pid" || { echo "ovn-mesos run exited" >&2; exit 1; }
  if [ "$HA" = 1 ]; then
    for h in "${HA_HOSTS[@]}"; do
      alive "$(cat "$(instance_pidfile "$h")")" || { echo "ovn-mesos run in $h exited" >&2; exit 1; }
    done
  fi
  [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for nginx through $COKE_VIP" >&2; exit 1; }
  if [ -z "$t_running" ] && api /v1/tasks | grep -q '"definition":"nginxcoke"[^}]*"state":"TASK_RUNNING"'; then
    t_running=$(now_ms)
  fi
  if answer=$(curl_vip "$COKE_VIP"); then
    [ -n "$t_first" ] || t_first=$(now_ms)
    [ "$answer" != nginx ] || [ -z "$t_running" ] || t_nginx=$(now_ms)
  fi
  [ -n "$t_nginx" ] || sleep 0.02
done
run_to_first=$((t_first - t_run))
running_to_answer=$((t_nginx - t_running))
echo "first answer through $COKE_VIP $run_to_first ms after ovn-mesos run started"
echo "nginx answered through $COKE_VIP $running_to_answer ms after its TASK_RUNNING"

for vip in "$COKE_VIP" "$PEPSI_VIP"; do
  step "20 x curl $vip from outside"
  # Until pepsi's VIP has both backends too (deadline 60 s).
  deadline=$((SECONDS + 60))
  until api "/v1/services/$([ "$vip" = "$COKE_VIP" ] && echo coke/coke-web || echo pepsi/pepsi-web)" \
      | grep -q '"backends":\["[^"]*","[^"]*"\]'; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for 2 backends on $vip" >&2; exit 1; }
    sleep 0.05
  done
  declare -A seen=()
  for _ in $(seq 20); do
    answer=$(curl_vip "$vip") || answer="(failed)"
    printf '[outside]$ curl %s  ->  %s\n' "$vip" "$answer"
    seen[$answer]=$((${seen[$answer]:-0} + 1))
  done
  line=""; for k in "${!seen[@]}"; do line+="$k: ${seen[$k]}  "; done
  echo "answers: $line"
  if [ -z "${seen[apache]:-}" ] || [ -z "${seen[nginx]:-}" ] || [ -n "${seen['(failed)']:-}" ]; then
    echo "expected both apache and nginx and no failure through $vip" >&2; exit 1
  fi
  unset seen
done

step "the VIPs and their backends, from the NB (ovn-mesos vip)"
on mesos-master ovn-mesos vip coke-web
on mesos-master ovn-mesos vip pepsi-web

if [ "$HA" = 1 ]; then
  ha_failed=0
  step "who leads: the /health of the three ovn-mesos instances"
  show_health
  leader=$(leading_instance) || { echo "no instance leads" >&2; exit 1; }
  leader_pid=$(cat "$(instance_pidfile "${HA_HOSTS[$leader]}")")
  before=$(running_ids "${HA_APIS[$leader]}")
  echo "leader: ${HA_HOSTS[$leader]} (${HA_APIS[$leader]}, pid $leader_pid); running tasks: $before"

  step "framework failover: SIGKILL of the leading ovn-mesos (${HA_HOSTS[$leader]}) while curling both VIPs"
  start_probe "$D/probe-framework.log"
  sleep 1   # a second of curls before the kill
  echo "[${HA_HOSTS[$leader]}]$ kill -9 $leader_pid"
  kill -9 "$leader_pid"
  t_fkill=$(now_ms)
  deadline=$((SECONDS + 30))
  until new=$(leading_instance) && [ "$new" != "$leader" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for another instance to lead" >&2; exit 1; }
    sleep 0.02
  done
  t_takeover=$(now_ms)
  takeover=$((t_takeover - t_fkill))
  echo "$takeover ms after the kill: ${HA_HOSTS[$new]} (${HA_APIS[$new]}) says leader with 200 (ZooKeeper session timeout: 2 s)"
  deadline=$((SECONDS + 30))
  until after=$(running_ids "${HA_APIS[$new]}") && [ "$after" = "$before" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "the new leader's running tasks differ: ${after:-?} (before: $before)" >&2; exit 1; }
    sleep 0.1
  done
  echo "same tasks on the new leader: $after"
  sleep 1   # a second of curls after the takeover
  stop_probe "$D/probe-framework.log" "$t_fkill"
  framework_failed=$probe_failed framework_curls=$probe_total
  show_health

  step "the killed instance started again: it stands by"
  echo "[${HA_HOSTS[$leader]}]$ ovn-mesos run --master $ZK_MESOS --zk $ZK_FW ... --api ${HA_APIS[$leader]} &"
  start_instance "$leader"
  deadline=$((SECONDS + 30))
  until case "$(health "${HA_APIS[$leader]}")" in '200 '*'"role":"standby"'*) true ;; *) false ;; esac; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for ${HA_HOSTS[$leader]} to stand by" >&2; exit 1; }
    sleep 0.05
  done
  show_health

  m=$(leading_master) || { echo "no mesos master leads" >&2; exit 1; }
  m_pid=$("$LAB" pid --dir "$D" "mesos-master-${HA_SHORT[$m]}")
  framework_id=$(health "${HA_APIS[$new]}" | python3 -c 'import json, sys; print(json.loads(sys.stdin.read().split(" ", 1)[1])["framework_id"])')
  step "master failover: SIGKILL of the leading mesos master (${HA_HOSTS[$m]}, ${HA_IPS[$m]}:5050) while curling both VIPs"
  start_probe "$D/probe-master.log"
  sleep 1
  echo "[${HA_HOSTS[$m]}]$ kill -9 $m_pid   # mesos-local master"
  kill -9 "$m_pid"
  t_mkill=$(now_ms)
  # Until another master leads with both agents and the framework active,
  # and the leading instance's /health is 200 (subscribed) again.
  deadline=$((SECONDS + 60))
  while :; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for the master failover" >&2; exit 1; }
    if m2=$(leading_master) && [ "$m2" != "$m" ] \
        && ip netns exec outside curl -sSf -m 1 "http://${HA_IPS[$m2]}:5050/state" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
agents = [a for a in s["slaves"] if a.get("active")]
fw = [f for f in s["frameworks"] if f["id"] == sys.argv[1] and f.get("active")]
sys.exit(0 if len(agents) == 2 and fw else 1)' "$framework_id" \
        && leading_instance >/dev/null; then
      break
    fi
    sleep 0.05
  done
  t_mfailover=$(now_ms)
  mfailover=$((t_mfailover - t_mkill))
  echo "$mfailover ms after the kill: ${HA_HOSTS[$m2]} (${HA_IPS[$m2]}:5050) leads, both agents re-registered, framework $framework_id subscribed to it, /health 200"
  all_ids=$(task_ids "") || { echo "no instance answers /v1/tasks" >&2; exit 1; }
  [ "$all_ids" = "$before" ] || { echo "the tasks differ after the master failover: $all_ids (before: $before)" >&2; exit 1; }
  echo "same tasks (none relaunched): $all_ids"
  # mesos-local has no registry: the new master learns the tasks when the
  # agents re-register, so a reconciliation that beats them answers
  # TASK_UNKNOWN until the framework reconciles again.
  deadline=$((SECONDS + 60))
  until after=$(running_ids) && [ "$after" = "$before" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "the framework's running tasks differ: ${after:-?} (before: $before)" >&2; exit 1; }
    sleep 0.1
  done
  mrunning=$(($(now_ms) - t_mkill))
  echo "$mrunning ms after the kill: the framework sees its $(wc -w <<<"$after") tasks TASK_RUNNING"
  stop_probe "$D/probe-master.log" "$t_mkill"
  master_failed=$probe_failed master_curls=$probe_total
fi

# task_pids DEFINITION: the processes of the running task of DEFINITION (its
# container's network namespace), after a line saying where it runs.
task_pids() {
  local port host ids netns executor pids
  read -r port host < <(api /v1/tasks | python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin)["tasks"] if t["definition"] == sys.argv[1] and t["state"] == "TASK_RUNNING"][0]
print(t["port"], t["hostname"])' "$1")
  ids=$(quiet_on "$host" ovs-vsctl --bare --columns=external_ids find Interface "external_ids:iface-id=$port" | tr ' ' '\n')
  netns=$(sed -n 's/^"\{0,1\}ovn-mesos\/netns"\{0,1\}=//p' <<<"$ids")
  executor=$(sed -n 's/^"\{0,1\}ovn-mesos\/executor-pid"\{0,1\}=//p' <<<"$ids" | tr -d '"')
  # The agent runs under `ip netns exec`, so the container's /var/run/netns
  # entry is a mount in the agent's mount namespace: look there.
  pids=$(nsenter --mount="/proc/$executor/ns/mnt" ip netns pids "$netns" | tr '\n' ' ')
  echo "task port $port on $host, container netns $netns (executor pid $executor), processes: $pids" >&2
  [ -n "$pids" ] || { echo "no process found in $netns" >&2; exit 1; }
  echo "$pids"
}

step "self-healing: killing coke's nginx task (every process in its container)"
pids=$(task_pids nginxcoke)
# shellcheck disable=SC2086
kill -9 $pids
t_kill=$(now_ms)
streak=0; deadline=$((SECONDS + 30))
while [ "$streak" -lt 5 ]; do   # 5 answers in a row from apache (deadline 30 s)
  [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for apache only" >&2; exit 1; }
  case "$(curl_vip "$COKE_VIP" || echo failed)" in   # a failure (the dead backend) is skipped
    apache) streak=$((streak + 1)) ;;
    nginx) streak=0 ;;
  esac
done
echo "$(($(now_ms) - t_kill)) ms after the kill: 5 answers in a row from apache only"
t_running2="" t_nginx2=""; deadline=$((SECONDS + 60))
while [ -z "$t_nginx2" ]; do
  [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for the replacement" >&2; exit 1; }
  # The killed task is no backend any more: 4 running tasks again means the replacement runs.
  if [ -z "$t_running2" ] && [ "$(api /v1/tasks | grep -o '"state":"TASK_RUNNING"' | wc -l)" -ge 4 ]; then
    t_running2=$(now_ms)
  fi
  if [ -n "$t_running2" ] && [ "$(curl_vip "$COKE_VIP" || true)" = nginx ]; then t_nginx2=$(now_ms); fi
  [ -n "$t_nginx2" ] || sleep 0.02
done
echo "replacement TASK_RUNNING $((t_running2 - t_kill)) ms after the kill; nginx answering through the VIP $((t_nginx2 - t_running2)) ms after its TASK_RUNNING"
on mesos-master ovn-mesos vip coke-web

if [ "$HA" != 1 ]; then
  step "health: freezing coke's apache (SIGSTOP: its kernel still accepts connections, it never answers)"
  echo "the shipped tasks' HTTP health check: GET / every 1 s, 2 s timeout, 3 failures kill"
  pids=$(task_pids apachecoke)
  # shellcheck disable=SC2086
  kill -STOP $pids
  t_freeze=$(now_ms)
  failed=0 streak=0 t_out="" deadline=$((SECONDS + 30))
  while [ "$streak" -lt 20 ]; do   # 20 answers in a row: the frozen backend is out
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for the frozen apache to leave the VIP" >&2; exit 1; }
    if answer=$(curl_vip "$COKE_VIP"); then
      [ -n "$t_out" ] || [ "$streak" -gt 0 ] || t_out=$(now_ms)
      streak=$((streak + 1))
    else
      failed=$((failed + 1)) streak=0 t_out=""
    fi
  done
  echo "$failed curls failed in the first $((t_out - t_freeze)) ms after the freeze; then 20 in a row answered ($answer)"
  t_apache2=""; deadline=$((SECONDS + 60))
  while [ -z "$t_apache2" ]; do   # killed after 3 failed checks, replaced, back once healthy
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for apache's replacement" >&2; exit 1; }
    if [ "$(curl_vip "$COKE_VIP" || echo failed)" = apache ]; then t_apache2=$(now_ms); fi
    [ -n "$t_apache2" ] || sleep 0.05
  done
  echo "apache's replacement answering through the VIP $((t_apache2 - t_freeze)) ms after the freeze"
  api /v1/services/coke/coke-web | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("coke-web: %d healthy of %d tasks; backends %s" % (s["healthy"], len(s["tasks"]), ", ".join(s["backends"])))'
fi

step "timings"
if [ "$HA" != 1 ]; then
  printf '%-58s %6s ms\n' "ovn-mesos run -> first answer through $COKE_VIP" "$run_to_first"
  printf '%-58s %6s ms\n' "nginx TASK_RUNNING -> answering through the VIP (launch)" "$running_to_answer"
  printf '%-58s %6s ms\n' "replacement TASK_RUNNING -> answering through the VIP" "$((t_nginx2 - t_running2))"
  printf '%-58s %6s ms\n' "apache frozen -> out of the VIP ($failed curls failed)" "$((t_out - t_freeze))"
  printf '%-58s %6s ms\n' "apache frozen -> its replacement answering" "$((t_apache2 - t_freeze))"
else
  printf '%-72s %6s ms\n' "3 x ovn-mesos run -> first answer through $COKE_VIP" "$run_to_first"
  printf '%-72s %6s ms\n' "nginx TASK_RUNNING -> answering through the VIP (launch)" "$running_to_answer"
  printf '%-72s %6s ms\n' "leading ovn-mesos SIGKILLed -> another leads, /health 200 ($framework_failed of $framework_curls curls failed)" "$takeover"
  printf '%-72s %6s ms\n' "leading mesos master SIGKILLed -> new master, agents and framework on it ($master_failed of $master_curls curls failed)" "$mfailover"
  printf '%-72s %6s ms\n' "leading mesos master SIGKILLed -> the framework sees its tasks RUNNING" "$mrunning"
  printf '%-72s %6s ms\n' "replacement TASK_RUNNING -> answering through the VIP (new leaders)" "$((t_nginx2 - t_running2))"
fi

if [ "$KEEP" = 1 ] && [ "$HA" = 1 ]; then
  step "left running (HA)"
  cat <<EOF
poke at it (each host is a network namespace):
  ip netns exec outside curl $COKE_VIP                 # coke's VIP (pepsi: $PEPSI_VIP)
  ip netns exec outside curl -s http://${HA_APIS[0]}/health   # each instance (also ${HA_APIS[1]}, ${HA_APIS[2]})
  ip netns exec outside curl -sL http://${HA_APIS[0]}/v1/tasks  # a standby redirects to the leader
  ip netns exec outside curl -sL http://${HA_IPS[0]}:5050/state  # the leading mesos master (through a redirect)
  $LAB exec --dir $D mesos-master -- $BIN_DIR/ovn-mesos vip coke-web
  $LAB status --dir $D                                   # ZooKeeper, the masters, the agents
  instance logs: $D/logs/ovn-mesos-run-HOST.log (pids in $D/ovn-mesos-run-HOST.pid)
stop:
  $ROOT/scripts/demo.sh stop
EOF
elif [ "$KEEP" = 1 ]; then
  step "left running"
  cat <<EOF
poke at it (each host is a network namespace):
  ip netns exec outside curl $COKE_VIP                 # coke's VIP (pepsi: $PEPSI_VIP)
  ip netns exec mesos-master curl -s http://$API/v1/services   # the framework's API (also /v1/tasks, /health, /metrics)
  $LAB exec --dir $D mesos-master -- ovn-nbctl lb-list
  ip netns exec mesos-master ovn-nbctl --db=tcp:10.10.1.11:6641 show
  $LAB exec --dir $D mesos-master -- $BIN_DIR/ovn-mesos vip coke-web
  $LAB status --dir $D
  framework log: $D/logs/ovn-mesos-run.log (pid $(cat "$PIDFILE"))
stop:
  $ROOT/scripts/demo.sh stop        (or: kill \$(cat $PIDFILE); $LAB down --dir $D)
EOF
fi
if [ "$HA" = 1 ] && [ "$ha_failed" != 0 ]; then
  echo "curls failed during a failover (expected none)" >&2; exit 1
fi
