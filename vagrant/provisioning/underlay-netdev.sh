#!/usr/bin/env bash
# underlay-netdev.sh: with the userspace datapath (DATAPATH_TYPE=netdev),
# geneve tunnels leave through an OVS bridge, not through the kernel's NIC:
# this puts the overlay NIC into a netdev bridge `br-phy` and moves the
# overlay address (and a default route through it) onto br-phy's own port.
#
#   underlay-netdev.sh --install [--render-only]
#       provisioning (ovn-host.sh): records the overlay NIC, its address and
#       the default gateway in /etc/default/ovn-mesos-underlay, installs this
#       script as /usr/local/libexec/ovn-mesos-lab/underlay-netdev and the
#       unit ovn-mesos-underlay.service (which runs it at every boot, after
#       Open vSwitch and before OVN and Mesos), and applies it once
#   underlay-netdev.sh --apply
#       what the unit runs: applies /etc/default/ovn-mesos-underlay
#
# What the kernel datapath of a VM does not need, and this does:
# * br-phy (fail_mode=standalone) takes the NIC as a port, with
#   other_config:hwaddr = the NIC's MAC (else decapsulation never matches);
# * the NIC stays up with no address; rp_filter=1 and arp_ignore=8 keep the
#   kernel, which still sees every frame, from answering for it;
# * ovs-vswitchd's tunnel route to the overlay's subnet goes through br-phy.
# Environment (--install): OVERLAY_IP. Idempotent: a second run changes nothing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP=underlay-netdev
LIB=${UNDERLAY_LIB:-$HERE/lib.sh}
if [ -f "$LIB" ]; then
  # shellcheck source=lib.sh
  . "$LIB"
else
  # installed copy: lib.sh's log/die are all it needs
  log() { printf '%s: %s\n' "$STEP" "$*" >&2; }
  die() {
    log "error: $*"
    exit 1
  }
fi

SETTINGS=/etc/default/ovn-mesos-underlay
INSTALLED=/usr/local/libexec/ovn-mesos-lab/underlay-netdev
UNIT=/etc/systemd/system/ovn-mesos-underlay.service
BRIDGE=br-phy

# nic_of IP: the interface that holds IP now (the NIC, or br-phy once moved).
nic_of() {
  ip -o -4 addr show | awk -v ip="$1" 'index($4, ip "/") == 1 { print $2; exit }'
}

# record: /etc/default/ovn-mesos-underlay from the running system.
record() {
  local dev cidr gw
  dev=$(nic_of "$OVERLAY_IP")
  [ -n "$dev" ] || die "no interface holds the overlay address $OVERLAY_IP"
  if [ "$dev" = "$BRIDGE" ]; then
    # already moved by an earlier run: keep what that run recorded
    [ -r "$SETTINGS" ] || die "$OVERLAY_IP is on $BRIDGE but $SETTINGS is missing"
    return 0
  fi
  cidr=$(ip -o -4 addr show dev "$dev" | awk -v ip="$OVERLAY_IP" 'index($4, ip "/") == 1 { print $4; exit }')
  gw=$(ip -4 route show default dev "$dev" | awk '{ print $3; exit }')
  {
    echo '# The overlay NIC on the userspace datapath (vagrant/provisioning/underlay-netdev.sh).'
    env_line UNDERLAY_NIC "$dev"
    env_line UNDERLAY_ADDRESS "$cidr"
    env_line UNDERLAY_GATEWAY "$gw"
  } | write_file "$SETTINGS" 0644
}

# render_unit: the boot-time unit.
render_unit() {
  write_file "$UNIT" 0644 <<UNIT
[Unit]
Description=overlay NIC of the ovn-mesos lab on the userspace datapath (br-phy)
Requires=openvswitch-switch.service
After=openvswitch-switch.service systemd-networkd.service networking.service
Before=ovn-central.service ovn-host.service ovn-controller.service mesos-master.service mesos-agent.service ovn-mesos.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$INSTALLED --apply

[Install]
WantedBy=multi-user.target
UNIT
}

# apply: the settings applied; waits for the network manager first.
apply() {
  [ -r "$SETTINGS" ] || die "$SETTINGS is missing (run with --install first)"
  # shellcheck source=/dev/null
  . "$SETTINGS"
  local nic=$UNDERLAY_NIC addr=$UNDERLAY_ADDRESS gw=${UNDERLAY_GATEWAY:-} ip=${UNDERLAY_ADDRESS%/*}
  [ -e "/sys/class/net/$nic" ] || die "the overlay NIC $nic does not exist"
  # At boot the network manager gives the NIC its address: move it only once
  # that is done, or it would be given back after the move.
  local deadline=$((SECONDS + 30))
  until [ -n "$(nic_of "$ip")" ] || [ "$SECONDS" -ge "$deadline" ]; do
    sleep 0.2
  done
  local mac
  mac=$(cat "/sys/class/net/$nic/address")
  ovs-vsctl --timeout=30 \
    -- --may-exist add-br "$BRIDGE" \
    -- set Bridge "$BRIDGE" datapath_type=netdev fail_mode=standalone "other_config:hwaddr=\"$mac\"" \
    -- --may-exist add-port "$BRIDGE" "$nic"
  sysctl -qw "net.ipv4.conf.$nic.rp_filter=1" "net.ipv4.conf.$nic.arp_ignore=8"
  ip link set "$nic" up
  ip -4 addr flush dev "$nic"
  ip addr replace "$addr" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  if [ -n "$gw" ]; then
    ip route replace default via "$gw" dev "$BRIDGE"
  fi
  # ovs-vswitchd learns its tunnel routes from the kernel's; wait for it,
  # and add the route itself if it never shows up
  local net want
  net=$(ip -o -4 route show dev "$BRIDGE" proto kernel | awk '{ print $1; exit }')
  want="$net dev $BRIDGE"
  deadline=$((SECONDS + 10))
  until ovs-appctl ovs/route/show | grep -qF "$want"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      ovs-appctl ovs/route/add "$net" "$BRIDGE" >/dev/null
      break
    fi
    sleep 0.2
  done
  log "$addr on $BRIDGE (NIC $nic, MAC $mac)${gw:+, default via $gw}"
}

main() {
  case "${1:-}" in
    --apply)
      [ $# = 1 ] || die "--apply takes no other argument"
      apply
      ;;
    --install)
      shift
      parse_mode "$@"
      require_env OVERLAY_IP
      render_unit
      if render_only; then
        return 0
      fi
      record
      mkdir -p "$(dirname "$INSTALLED")"
      install -m 0755 "${BASH_SOURCE[0]}" "$INSTALLED"
      systemctl daemon-reload
      systemctl enable ovn-mesos-underlay.service
      apply
      ;;
    *) die "usage: $0 --install [--render-only] | --apply" ;;
  esac
}

main "$@"
