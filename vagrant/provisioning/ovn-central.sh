#!/usr/bin/env bash
# ovn-central.sh: runs OVN central (NB and SB ovsdb-server, ovn-northd) on the
# master, listening on its unix sockets and on tcp MASTER_IP:6641 / :6642 so
# that every chassis and ovn-mesos on any VM reach them.
#
# Environment: MASTER_IP. Writes /etc/default/ovn-central (read by the
# distribution's ovn-ovsdb-server-nb/-sb services through OVN_CTL_OPTS).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP=ovn-central
# shellcheck source=lib.sh
. "$HERE/lib.sh"

NB_PORT=6641
SB_PORT=6642

# render_defaults: /etc/default/ovn-central with the tcp remotes.
render_defaults() {
  {
    echo '# OVN central of the ovn-mesos lab (vagrant/provisioning/ovn-central.sh).'
    echo "# NB on tcp:$MASTER_IP:$NB_PORT, SB on tcp:$MASTER_IP:$SB_PORT, plus the unix sockets."
    env_line OVN_CTL_OPTS "--db-nb-addr=$MASTER_IP --db-nb-port=$NB_PORT --db-nb-create-insecure-remote=yes --db-sb-addr=$MASTER_IP --db-sb-port=$SB_PORT --db-sb-create-insecure-remote=yes"
  } | write_file /etc/default/ovn-central 0644
}

# wait_answers CTL DB: polls (up to 60 s) until CTL answers on DB. The
# restart returns before ovsdb-server listens, and a refused connection
# ends ovn-nbctl at once whatever its --timeout.
wait_answers() {
  local ctl=$1 db=$2 deadline=$((SECONDS + 60)) out
  until out=$("$ctl" --db="$db" --timeout=5 --no-leader-only show 2>&1 >/dev/null); do
    [ "$SECONDS" -lt "$deadline" ] || die "$db does not answer after 60 s: $out"
    sleep 0.5
  done
}

# start_central: (re)starts ovn-central and waits until NB and SB answer over tcp.
start_central() {
  enable_now ovn-central.service
  systemctl restart ovn-central.service
  wait_answers ovn-nbctl "tcp:$MASTER_IP:$NB_PORT"
  wait_answers ovn-sbctl "tcp:$MASTER_IP:$SB_PORT"
  log "NB tcp:$MASTER_IP:$NB_PORT and SB tcp:$MASTER_IP:$SB_PORT answer"
}

main() {
  parse_mode "$@"
  require_env MASTER_IP
  render_defaults
  render_only || start_central
}

main "$@"
