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
#   scripts/demo.sh            run, then tear everything down
#   KEEP=1 scripts/demo.sh     leave it running and print how to poke at it
#   scripts/demo.sh stop       stop what a KEEP=1 (or interrupted) run left
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

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$1/status" 2>/dev/null; }
# `HOST$ command`, run inside that host's namespace with its OVS/OVN environment.
on() { local host=$1; shift; printf '[%s]$ %s\n' "$host" "$*"; "$LAB" exec --dir "$D" "$host" -- "$@"; }
quiet_on() { local host=$1; shift; "$LAB" exec --dir "$D" "$host" -- "$@"; }
curl_vip() { ip netns exec outside curl -sS --connect-timeout 1 -m 2 "http://$1/" 2>/dev/null; }
api() { ip netns exec mesos-master curl -sSf -m 2 "http://$API$1" 2>/dev/null; }

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

teardown() {   # framework, then its tasks (through Mesos), then the lab
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
  if [ -x "$LAB" ]; then "$LAB" down --dir "$D"; fi
  if [ -d "$D" ]; then rmdir "$D" 2>/dev/null || true; fi
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
  if [ "$KEEP" = 1 ] && [ "$status" = 0 ]; then return; fi
  if [ "$status" != 0 ] && [ -f "$D/logs/ovn-mesos-run.log" ]; then
    echo "--- last lines of the framework's log"; tail -n 20 "$D/logs/ovn-mesos-run.log"
  fi
  step "teardown"
  teardown
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "the lab: underlay, 3 hosts with OVS/OVN and geneve, OVN central, mesos-local (ovn-mesos-lab up)"
"$LAB" up --dir "$D" | sed -n '1p'

step "the seed's network steps (tenants coke and pepsi, each with 192.168.1.0/24)"
for t in coke:mesos-master:10.10.1.12 pepsi:mesos-agent1:10.10.1.14; do
  IFS=: read -r tenant gw_host gw_ip <<<"$t"
  on mesos-master ovn-mesos tenant-init --tenant-name="$tenant"
  on "$gw_host" ovn-mesos gateway-init --cluster-ip-subnet=192.168.0.0/16 --localnet=physnet \
    --physical-interface=eth1 --physical-ip="$gw_ip/24" --default-gw=10.10.1.1 --tenant-name="$tenant"
  on mesos-master ovn-mesos network-init --network-name="${tenant}1" --subnet=192.168.1.0/24 --tenant-name="$tenant"
done | grep -v '^\(created\|updated\) ' || true
quiet_on mesos-master ovn-nbctl --wait=hv sync

step "the framework: ovn-mesos run (in mesos-master, log in $D/logs/ovn-mesos-run.log)"
echo "[mesos-master]$ ovn-mesos run --master 10.10.1.11:5050 --tasks $ROOT/tasks --nb tcp:10.10.1.11:6641 --state-dir $D/ovn-mesos-state --api $API &"
mkdir -p "$D/logs"
t_run=$(now_ms)
ip netns exec mesos-master "$BIN_DIR/ovn-mesos" run --master 10.10.1.11:5050 --tasks "$ROOT/tasks" \
  --nb tcp:10.10.1.11:6641 --state-dir "$D/ovn-mesos-state" --api "$API" \
  --executor "$BIN_DIR/ovn-mesos-executor" </dev/null >"$D/logs/ovn-mesos-run.log" 2>&1 &
echo $! >"$PIDFILE"
fw_pid=$!

# Poll (deadline 90 s) the API for nginxcoke's TASK_RUNNING and the VIP for its
# first answer and its first nginx answer.
t_first="" t_running="" t_nginx=""
deadline=$((SECONDS + 90))
while [ -z "$t_nginx" ]; do
  alive "$fw_pid" || { echo "ovn-mesos run exited" >&2; exit 1; }
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

step "timings"
printf '%-58s %6s ms\n' "ovn-mesos run -> first answer through $COKE_VIP" "$run_to_first"
printf '%-58s %6s ms\n' "nginx TASK_RUNNING -> answering through the VIP (launch)" "$running_to_answer"
printf '%-58s %6s ms\n' "replacement TASK_RUNNING -> answering through the VIP" "$((t_nginx2 - t_running2))"
printf '%-58s %6s ms\n' "apache frozen -> out of the VIP ($failed curls failed)" "$((t_out - t_freeze))"
printf '%-58s %6s ms\n' "apache frozen -> its replacement answering" "$((t_apache2 - t_freeze))"

if [ "$KEEP" = 1 ]; then
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
