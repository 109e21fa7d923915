#!/usr/bin/env bash
# Installs what ovn-mesos' tests and demo need on a Debian 12 machine: the OVN and
# Open vSwitch packages (userspace datapath, started by the tests themselves; no
# service is enabled), iproute2, ethtool, curl, dig (bind9-dnsutils: the service
# fabric's tests query OVN's DNS with it), nsenter (util-linux), pip for the system Python (the
# pymesos check installs pymesos into the target directory with it), apache2 and
# nginx (the shipped tasks run them with private configs inside containers; their
# packaged services are not started), shellcheck + ruby (the vagrant/ lab's
# scripts and Vagrantfile are checked with them), and debootstrap,
# systemd-container and nftables (scripts/machines.sh boots the vagrant lab
# as systemd-nspawn machines for the machine test), and zookeeper 3.8 with the
# JRE it depends on (default-jre-headless if java is still missing: the test
# harness runs ZooKeeper servers and ensembles itself, `java` with the packaged
# jars and private configs; the package ships no service, zookeeperd would and
# is not installed). Safe to run again: it installs only what is missing.
# Needs root (or sudo) when something is missing.
set -euo pipefail

need=()
command -v ovsdb-server >/dev/null || need+=(openvswitch-switch)
command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch)
command -v ovn-northd >/dev/null || need+=(ovn-central)
command -v ovn-controller >/dev/null || need+=(ovn-host)
command -v ip >/dev/null || need+=(iproute2)
command -v ethtool >/dev/null || need+=(ethtool)
command -v curl >/dev/null || need+=(curl)
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v nsenter >/dev/null || need+=(util-linux)
command -v ping >/dev/null || need+=(iputils-ping)
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
[ -x /usr/sbin/apache2 ] || need+=(apache2)
[ -x /usr/sbin/nginx ] || need+=(nginx)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v ruby >/dev/null || need+=(ruby)
# the vagrant lab booted as systemd machines (scripts/machines.sh)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v nft >/dev/null || need+=(nftables)
# ZooKeeper for the harness (tests/src/zookeeper.rs): jars + QuorumPeerMain
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
command -v java >/dev/null || need+=(default-jre-headless)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "install-deps: installing ${need[*]}"
  $sudo apt-get update -qq
  # Packaged services (apache2, nginx, ovsdb-server ...) must not start: the
  # tests start their own daemons. A policy-rc.d answering 101 tells
  # invoke-rc.d so; one that is already there is left as it is.
  policy=/usr/sbin/policy-rc.d
  placed=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    placed=yes
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || status=$?
  [ -z "$placed" ] || $sudo rm -f "$policy"
  [ "$status" = 0 ] || { echo "install-deps: apt-get install ${need[*]} failed ($status)" >&2; exit "$status"; }
fi

if ! command -v cargo >/dev/null; then
  echo "install-deps: cargo not found; install a Rust toolchain (rustup) first" >&2
  exit 1
fi
echo "install-deps: $(ovsdb-server --version | head -1), $(ovn-northd --version | head -1)"
