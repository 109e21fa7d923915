#!/usr/bin/env bash
# machines.sh: the vagrant lab (vagrant/) booted for real on this host: one
# systemd-nspawn machine per VM of the Vagrantfile, each a Debian 12 system
# with systemd as PID 1, provisioned by the same provision.sh with the same
# settings that `vagrant up` passes to it.
#
#   machines.sh up              host bridge, the three machines, booted and
#                               provisioned in the Vagrantfile's order
#   machines.sh status          each machine: running (with systemd's state) or not
#   machines.sh exec NAME CMD...
#                               runs CMD as root inside NAME (stdin passed through)
#   machines.sh halt NAME       shuts NAME down cleanly (`vagrant halt NAME`)
#   machines.sh boot NAME       boots a halted NAME again, without provisioning
#   machines.sh provision NAME  runs NAME's provisioning again (`vagrant provision`)
#   machines.sh down            stops and removes every machine, the bridge and the
#                               NAT rule; safe after an interrupted `up` and twice
#
# What stands in for Vagrant and the VM:
# * the "box" is a Debian 12 base made once with debootstrap and cached in
#   LAB_CACHE (rebuilt when missing or when its recipe changes); each machine
#   boots its own copy of it. Like debian/bookworm64 it has a `vagrant` user
#   with password-less sudo;
# * the host-only network is a Linux bridge with the host at the Vagrantfile's
#   gateway address (10.10.1.1); each private network NIC is a veth on it: the
#   first (`host0`) gets its address as Vagrant's auto_config would, the others
#   (`eth1`) are left without one. There is no management NIC: the machines
#   reach Debian's mirror through the host (NAT);
# * the synced folder is a copy of the checkout at /ovn-mesos (as Vagrant's
#   rsync: without .git/ and target/), with LAB_BIN's binaries in
#   /ovn-mesos/vagrant/bin;
# * the shell provisioner: the Vagrantfile's script is copied to
#   /tmp/vagrant-shell and run there as root with the Vagrantfile's env, plus
#   DATAPATH_TYPE=netdev (this host has no kernel openvswitch module), which
#   the Vagrantfile passes through like any other setting.
#
# Environment:
#   LAB_MACHINES_DIR  where the machines live (default /var/lib/ovn-mesos-machines)
#   LAB_CACHE         where the base is cached (default /var/cache/ovn-mesos-machines)
#   LAB_MIRROR        Debian mirror (default http://deb.debian.org/debian)
#   LAB_BIN           directory with ovn-mesos, ovn-mesos-executor, mesos-local
#                     (default the checkout's vagrant/bin)
#   LAB_BOOT_TIMEOUT  seconds to wait for systemd to finish booting (default 180)
# Needs root, debootstrap, systemd-nspawn (systemd-container), nft (nftables),
# ethtool, ruby: scripts/install-deps.sh installs them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAGRANTFILE=$ROOT/vagrant/Vagrantfile
MACHINES_DIR=${LAB_MACHINES_DIR:-/var/lib/ovn-mesos-machines}
CACHE=${LAB_CACHE:-/var/cache/ovn-mesos-machines}
MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
BIN=${LAB_BIN:-$ROOT/vagrant/bin}
BOOT_TIMEOUT=${LAB_BOOT_TIMEOUT:-180}
BINARIES=(ovn-mesos ovn-mesos-executor mesos-local)
BRIDGE=ovnm-lab
NFT_TABLE=ovnm_lab
# What the base holds besides minbase: what a Vagrant box has (systemd, sudo,
# networking tools), nothing of the lab's own: provisioning installs that.
BASE_PACKAGES=systemd,systemd-sysv,dbus,iproute2,ca-certificates,procps,sudo,curl,less
BASE_RECIPE="bookworm minbase $BASE_PACKAGES vagrant-user networkd v1"
PATH_IN=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() {
  printf 'machines: %s\n' "$*" >&2
}

die() {
  printf 'machines: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 64
}

need_root() {
  [ "$(id -u)" = 0 ] || die "needs root (systemd-nspawn, bridges, NAT)"
  local tool
  for tool in debootstrap systemd-nspawn nft ruby nsenter ip ethtool; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh installs it)"
  done
}

# ---- the plan: read from the Vagrantfile -----------------------------------

PLAN=""

# load_plan: the Vagrantfile's machines, as scripts/vagrantfile-plan.rb prints them.
load_plan() {
  [ -n "$PLAN" ] && return 0
  PLAN=$(DATAPATH_TYPE=netdev ruby "$ROOT/scripts/vagrantfile-plan.rb" "$VAGRANTFILE") ||
    die "could not read $VAGRANTFILE"
  [ -n "$(names)" ] || die "$VAGRANTFILE defines no machine"
}

# names: the machines, in the Vagrantfile's order.
names() {
  awk '$1 == "machine" { print $2 }' <<<"$PLAN"
}

# section NAME: the plan's lines of machine NAME.
section() {
  awk -v n="$1" '$1 == "machine" { on = ($2 == n); next } on' <<<"$PLAN"
}

# known NAME: NAME is one of the Vagrantfile's machines.
known() {
  names | grep -qxF "$1" || die "no machine '$1' in $VAGRANTFILE (machines: $(names | tr '\n' ' '))"
}

# prefix_len NETMASK: 255.255.255.0 -> 24.
prefix_len() {
  local IFS=. n=0 octet
  for octet in $1; do
    case "$octet" in
      255) n=$((n + 8)) ;; 254) n=$((n + 7)) ;; 252) n=$((n + 6)) ;; 248) n=$((n + 5)) ;;
      240) n=$((n + 4)) ;; 224) n=$((n + 3)) ;; 192) n=$((n + 2)) ;; 128) n=$((n + 1)) ;; 0) ;;
      *) die "netmask $1 is not a prefix" ;;
    esac
  done
  echo "$n"
}

# gateway_ip: the host's address on the lab network (the Vagrantfile's GATEWAY_IP).
gateway_ip() {
  awk '$1 == "env" && index($2, "GATEWAY_IP=") == 1 { sub("GATEWAY_IP=", "", $2); print $2; exit }' <<<"$PLAN"
}

# ---- the base ---------------------------------------------------------------

# base: the cached Debian base, made when missing or of another recipe.
base() {
  local base=$CACHE/bookworm-base
  if [ -f "$base/.ovn-mesos-base" ] && [ "$(cat "$base/.ovn-mesos-base")" = "$BASE_RECIPE" ]; then
    echo "$base"
    return 0
  fi
  mkdir -p "$CACHE"
  local tmp=$CACHE/bookworm-base.tmp.$$
  # what an interrupted debootstrap left
  rm -rf "$CACHE"/bookworm-base.tmp.*
  log "making the Debian 12 base with debootstrap (about a minute)"
  if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
    tail -5 "$CACHE/debootstrap.log" >&2
    rm -rf "$tmp"
    die "debootstrap failed (log: $CACHE/debootstrap.log)"
  fi
  # what a Vagrant box brings: the vagrant user with password-less sudo, and
  # a network manager that configures the NICs Vagrant describes
  chroot "$tmp" useradd --create-home --shell /bin/bash vagrant
  printf 'vagrant ALL=(ALL) NOPASSWD: ALL\n' >"$tmp/etc/sudoers.d/vagrant"
  chmod 0440 "$tmp/etc/sudoers.d/vagrant"
  chroot "$tmp" systemctl enable systemd-networkd.service >/dev/null 2>&1
  # each machine gets its own identity at first boot
  : >"$tmp/etc/machine-id"
  rm -f "$tmp/etc/hostname" "$tmp/var/cache/apt/archives/"*.deb
  echo "$BASE_RECIPE" >"$tmp/.ovn-mesos-base"
  rm -rf "$base"
  mv "$tmp" "$base"
  echo "$base"
}

# ---- the host's side --------------------------------------------------------

# host_network: the bridge with the host's address, forwarding and NAT.
host_network() {
  local gw
  gw=$(gateway_ip)
  [ -n "$gw" ] || die "the Vagrantfile passes no GATEWAY_IP"
  mkdir -p "$MACHINES_DIR"
  if [ ! -f "$MACHINES_DIR/ip_forward" ]; then
    cat /proc/sys/net/ipv4/ip_forward >"$MACHINES_DIR/ip_forward"
  fi
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace "$gw/24" dev "$BRIDGE"
  # A VM's virtual NIC hands its guest frames with complete checksums; a
  # veth passes on the host's partial ones, which the machines' userspace
  # conntrack (the gateway routers' load balancers) drops as invalid.
  ethtool -K "$BRIDGE" tx off >/dev/null
  ip link set "$BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1
  nft delete table ip "$NFT_TABLE" 2>/dev/null || true
  nft -f - <<NFT
table ip $NFT_TABLE {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${gw%.*}.0/24 oifname != "$BRIDGE" masquerade
  }
}
NFT
  log "host bridge $BRIDGE at $gw/24, NAT to the outside"
}

# ---- one machine -------------------------------------------------------------

dir_of() {
  echo "$MACHINES_DIR/machines/$1"
}

# nspawn_pid NAME: the pid of NAME's systemd-nspawn, if it runs.
nspawn_pid() {
  local file pid
  file=$(dir_of "$1")/nspawn.pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# leader NAME: the pid (on the host) of NAME's PID 1.
leader() {
  local pid child
  pid=$(nspawn_pid "$1") || return 1
  child=$(ps -o pid= --ppid "$pid" | head -1 | tr -d ' ')
  [ -n "$child" ] || return 1
  echo "$child"
}

# in_machine NAME CMD...: CMD as root in NAME's namespaces with a clean environment.
in_machine() {
  local name=$1 pid
  shift
  pid=$(leader "$name") || die "machine $name is not running"
  nsenter --target "$pid" --mount --uts --ipc --net --pid --root --wd -- \
    /usr/bin/env -i PATH="$PATH_IN" HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
}

# create NAME: NAME's root: a copy of the base, its identity, its NICs'
# configuration (as Vagrant's auto_config would write it) and the synced folder.
create() {
  local name=$1 base dir root
  base=$(base)
  dir=$(dir_of "$name")
  root=$dir/root
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -a --reflink=auto "$base" "$root.tmp"
  mv "$root.tmp" "$root"
  echo "$name" >"$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$name" >"$root/etc/hosts"
  # the name servers a VM's DHCP lease would bring: the host's
  rm -f "$root/etc/resolv.conf"
  grep '^nameserver' /etc/resolv.conf >"$root/etc/resolv.conf"
  local line ip mask mode n=0 gw
  gw=$(gateway_ip)
  while read -r line ip mask mode; do
    [ "$line" = network ] || continue
    if [ "$n" = 0 ]; then
      [ "$mode" = auto ] || die "machine $name: its first private network must be configured"
      cat >"$root/etc/systemd/network/10-host0.network" <<NET
# the Vagrantfile's first private network of $name (scripts/machines.sh)
[Match]
Name=host0

[Network]
Address=$ip/$(prefix_len "$mask")
Gateway=$gw
LinkLocalAddressing=no
IPv6AcceptRA=no
NET
    elif [ "$mode" = auto ]; then
      die "machine $name: only its first private network can have a guest address here"
    fi
    n=$((n + 1))
  done < <(section "$name")
  # the synced folder, as Vagrant's rsync makes it
  mkdir -p "$root/ovn-mesos"
  tar -C "$ROOT" --exclude=./.git --exclude=./target --exclude=./vagrant/.vagrant \
    --exclude=./vagrant/bin -cf - . | tar -C "$root/ovn-mesos" -xf -
  if [ -d "$BIN" ]; then
    mkdir -p "$root/ovn-mesos/vagrant/bin"
    local bin
    for bin in "${BINARIES[@]}"; do
      [ -x "$BIN/$bin" ] || die "$BIN/$bin is missing (build the binaries first, see vagrant/README.md)"
      cp "$BIN/$bin" "$root/ovn-mesos/vagrant/bin/$bin"
    done
  fi
  log "$name: root at $root"
}

# extra_nics NAME: one name per private network after the first (eth1, eth2 ...).
extra_nics() {
  section "$1" | awk '$1 == "network" { n++; if (n > 1) print "eth" (n - 1) }'
}

# host_end NAME NIC: the host's end of NAME's NIC (at most 15 characters).
host_end() {
  local short=${1#mesos-}
  printf 'lab-%s-%s' "${short:0:6}" "$2" | cut -c1-15
}

# boot NAME: starts NAME's systemd-nspawn and waits until systemd has booted.
boot() {
  local name=$1 dir root pid
  dir=$(dir_of "$name")
  root=$dir/root
  [ -d "$root" ] || die "machine $name does not exist (machines.sh up makes it)"
  if pid=$(nspawn_pid "$name"); then
    log "$name already runs (systemd-nspawn pid $pid)"
    return 0
  fi
  local -a args=(
    --directory="$root" --boot --machine="$name" --register=no --keep-unit
    --network-bridge="$BRIDGE" --bind=/dev/net/tun --resolv-conf=off
    --timezone=off --console=passive
  )
  local nic
  for nic in $(extra_nics "$name"); do
    args+=(--network-veth-extra="$(host_end "$name" "$nic"):$nic")
  done
  setsid systemd-nspawn "${args[@]}" >>"$dir/console.log" 2>&1 </dev/null &
  echo $! >"$dir/nspawn.pid"
  log "$name: systemd-nspawn pid $!"
  local deadline=$((SECONDS + BOOT_TIMEOUT)) state=""
  until leader "$name" >/dev/null; do
    nspawn_pid "$name" >/dev/null || die "$name: systemd-nspawn exited: $(tail -3 "$dir/console.log")"
    [ "$SECONDS" -lt "$deadline" ] || die "$name: no PID 1 after ${BOOT_TIMEOUT}s"
    sleep 0.2
  done
  for nic in $(extra_nics "$name"); do
    local end
    end=$(host_end "$name" "$nic")
    until ip link show "$end" >/dev/null 2>&1; do
      [ "$SECONDS" -lt "$deadline" ] || die "$name: its $nic never appeared on the host as $end"
      sleep 0.2
    done
    ip link set "$end" master "$BRIDGE" up
  done
  until state=$(in_machine "$name" systemctl is-system-running 2>/dev/null) ||
    [ "$state" = degraded ] || [ "$state" = running ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "$name: systemd still '$state' after ${BOOT_TIMEOUT}s"
    sleep 0.5
  done
  if [ "$state" = degraded ]; then
    log "$name: booted degraded: $(in_machine "$name" systemctl --failed --no-legend --plain | awk '{ print $1 }' | tr '\n' ' ')"
  else
    log "$name: booted, systemd $state"
  fi
}

# provision NAME: what `vagrant provision NAME` does with a shell provisioner:
# the script uploaded to /tmp/vagrant-shell and run as root with its env.
provision() {
  local name=$1 script="" line
  local -a env=()
  while read -r line; do
    case "$line" in
      "provision "*) script=${line#provision } ;;
      "env "*) env+=("${line#env }") ;;
    esac
  done < <(section "$name")
  [ -n "$script" ] || die "machine $name has no shell provisioner"
  # uploaded as Vagrant does (the machine's /tmp is its own tmpfs)
  in_machine "$name" /bin/sh -c 'cat >/tmp/vagrant-shell && chmod 0755 /tmp/vagrant-shell' <"$script"
  log "$name: provisioning ($(basename "$script") with ${env[*]})"
  if ! in_machine "$name" /usr/bin/env "${env[@]}" /tmp/vagrant-shell \
    > >(tee -a "$(dir_of "$name")/provision.log" >&2) 2>&1; then
    die "$name: provisioning failed (log: $(dir_of "$name")/provision.log)"
  fi
  log "$name: provisioned"
}

# halt NAME: a clean shutdown, as `vagrant halt`; killed after 90 s.
halt() {
  local name=$1 pid
  pid=$(nspawn_pid "$name") || {
    log "$name is not running"
    return 0
  }
  in_machine "$name" systemctl poweroff || kill -TERM "$pid"
  local deadline=$((SECONDS + 90))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$name: still up after 90 s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  wait_gone "$pid"
  log "$name: halted"
}

# wait_gone PID: waits (up to 10 s) for a killed PID to disappear.
wait_gone() {
  local deadline=$((SECONDS + 10))
  while kill -0 "$1" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.1
  done
}

# ---- commands -------------------------------------------------------------------

cmd_up() {
  need_root
  load_plan
  host_network
  local name
  for name in $(names); do
    [ -d "$(dir_of "$name")/root" ] || create "$name"
    boot "$name"
    provision "$name"
  done
  log "up: $(names | tr '\n' ' ')"
}

cmd_status() {
  load_plan
  local name pid state
  for name in $(names); do
    if pid=$(nspawn_pid "$name"); then
      state=$(in_machine "$name" systemctl is-system-running 2>/dev/null) || true
      printf '%-14s running (systemd-nspawn pid %s, systemd %s)\n' "$name" "$pid" "${state:-unknown}"
    elif [ -d "$(dir_of "$name")/root" ]; then
      printf '%-14s halted\n' "$name"
    else
      printf '%-14s not created\n' "$name"
    fi
  done
}

cmd_down() {
  need_root
  load_plan
  local name pid
  for name in $(names); do
    if pid=$(nspawn_pid "$name"); then
      # SIGTERM asks systemd-nspawn to shut the machine down; a machine that
      # does not finish within 30 s is killed with everything in it
      kill -TERM "$pid" 2>/dev/null || true
      local deadline=$((SECONDS + 30))
      while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.2
      done
      if kill -0 "$pid" 2>/dev/null; then
        local inner
        inner=$(leader "$name") && kill -KILL "$inner" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid"
      fi
      log "$name: stopped"
    fi
  done
  rm -rf "$MACHINES_DIR/machines"
  ip link del "$BRIDGE" 2>/dev/null || true
  nft delete table ip "$NFT_TABLE" 2>/dev/null || true
  if [ -f "$MACHINES_DIR/ip_forward" ]; then
    sysctl -qw "net.ipv4.ip_forward=$(cat "$MACHINES_DIR/ip_forward")"
    rm -f "$MACHINES_DIR/ip_forward"
  fi
  rmdir "$MACHINES_DIR" 2>/dev/null || true
  log "down: machines, bridge $BRIDGE and NAT removed"
}

main() {
  [ $# -ge 1 ] || usage
  local cmd=$1
  shift
  case "$cmd" in
    up) [ $# = 0 ] || usage; cmd_up ;;
    status) [ $# = 0 ] || usage; cmd_status ;;
    down) [ $# = 0 ] || usage; cmd_down ;;
    exec)
      [ $# -ge 2 ] || usage
      load_plan
      known "$1"
      in_machine "$@"
      ;;
    halt | boot | provision)
      [ $# = 1 ] || usage
      need_root
      load_plan
      known "$1"
      "$cmd" "$1"
      ;;
    -h | --help | help) usage ;;
    *) die "unknown command '$cmd' (up, status, exec, halt, boot, provision, down)" ;;
  esac
}

main "$@"
