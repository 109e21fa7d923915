# shellcheck shell=bash
# lib.sh: helpers shared by the lab's provisioning steps (sourced, never run).
#
# Every step writes its files under ${DESTDIR:-}/... and honours RENDER_ONLY=1
# (or --render-only, see parse_mode): then it only writes configuration files
# and units, installs no package and starts no service. The tests render each
# VM this way into a temporary DESTDIR and check the result.

# log MESSAGE...: one line on stderr, prefixed with the step's name.
log() {
  printf '%s: %s\n' "${STEP:-provision}" "$*" >&2
}

# die MESSAGE...: log and exit 1.
die() {
  log "error: $*"
  exit 1
}

# parse_mode ARGS...: sets RENDER_ONLY=1 for --render-only; refuses anything else.
parse_mode() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      --render-only) RENDER_ONLY=1 ;;
      *) die "unknown argument '$arg' (usage: $0 [--render-only])" ;;
    esac
  done
  RENDER_ONLY=${RENDER_ONLY:-0}
  export RENDER_ONLY
}

# render_only: true when only files are to be written.
render_only() {
  [ "${RENDER_ONLY:-0}" = 1 ]
}

# require_env NAME...: every named variable must be set and non-empty.
require_env() {
  local name
  for name in "$@"; do
    [ -n "${!name:-}" ] || die "$name is not set"
  done
}

# dest PATH: PATH inside DESTDIR.
dest() {
  printf '%s%s' "${DESTDIR:-}" "$1"
}

# write_file PATH MODE: writes stdin to PATH (inside DESTDIR) with MODE,
# creating its directory; replaces the file atomically.
write_file() {
  local path mode tmp
  path=$(dest "$1")
  mode=$2
  mkdir -p "$(dirname "$path")"
  tmp=$(mktemp "$path.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  log "wrote $1"
}

# env_line NAME VALUE: a NAME=VALUE line that both systemd's EnvironmentFile=
# and a POSIX shell read back as VALUE (single-quoted; VALUE has no quote).
env_line() {
  case "$2" in
    *"'"* | *$'\n'*) die "value of $1 cannot hold a quote or newline: $2" ;;
  esac
  printf "%s='%s'\n" "$1" "$2"
}

# run_cmd COMMAND...: runs COMMAND unless rendering only.
run_cmd() {
  if render_only; then
    return 0
  fi
  log "run: $*"
  "$@"
}

# apt_install PACKAGE...: installs Debian/Ubuntu packages non-interactively.
apt_install() {
  render_only && return 0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# ha_mode: true in the high-availability lab (LAB_HA=1): ZooKeeper on the
# master, a Mesos master and an ovn-mesos instance on every VM.
ha_mode() {
  [ "${LAB_HA:-0}" = 1 ]
}

# The lab's ZooKeeper (LAB_HA=1): one standalone server on the master.
ZK_PORT=2181

# zk_url PATH: the zk:// URL of PATH (mesos, ovn-mesos) in the lab's ZooKeeper.
zk_url() {
  printf 'zk://%s:%s/%s' "$MASTER_IP" "$ZK_PORT" "$1"
}

# exec_start_lines: an ExecStart= setting from stdin, the command and then
# one argument per line, continued with backslashes.
exec_start_lines() {
  local line first=1
  while IFS= read -r line; do
    if [ "$first" = 1 ]; then
      printf 'ExecStart=%s' "$line"
      first=0
    else
      printf ' \\\n    %s' "$line"
    fi
  done
  echo
}

# enable_now UNIT...: reloads systemd and enables and starts UNIT.
enable_now() {
  render_only && return 0
  systemctl daemon-reload
  systemctl enable --now "$@"
}
