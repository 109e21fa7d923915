#!/usr/bin/env bash
# binaries.sh: puts ovn-mesos, ovn-mesos-executor and mesos-local into
# /usr/local/bin, copied from prebuilt binaries or built from the checkout.
#
# Environment:
#   LAB_SRC          the ovn-mesos checkout (default /ovn-mesos)
#   OVN_MESOS_BIN    directory of prebuilt Linux x86_64 binaries
#                    (default $LAB_SRC/vagrant/bin, filled on the host with
#                    `cargo build --release` + cp, see vagrant/README.md)
#   OVN_MESOS_BUILD  auto (copy when all three are in OVN_MESOS_BIN, else build),
#                    copy, or build (rustup + cargo build --release in the VM)
# With RENDER_ONLY=1 it does nothing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP=binaries
# shellcheck source=lib.sh
. "$HERE/lib.sh"

BINARIES=(ovn-mesos ovn-mesos-executor mesos-local)
PACKAGES=(ovn-mesos ovn-mesos-executor mesos-local)
RUST_HOME=/opt/rust
TARGET_DIR=/var/cache/ovn-mesos/target

# have_prebuilt DIR: every binary is in DIR and executable.
have_prebuilt() {
  local bin
  for bin in "${BINARIES[@]}"; do
    [ -x "$1/$bin" ] || return 1
  done
}

# install_from DIR: installs the binaries from DIR.
install_from() {
  local bin
  for bin in "${BINARIES[@]}"; do
    install -m 0755 "$1/$bin" "/usr/local/bin/$bin"
    log "installed /usr/local/bin/$bin from $1"
  done
}

# build: a Rust toolchain from rustup (distribution compilers are older than
# the workspace's rust-version), then a release build outside the checkout.
build() {
  apt_install build-essential pkg-config curl ca-certificates
  export RUSTUP_HOME=$RUST_HOME CARGO_HOME=$RUST_HOME
  if [ ! -x "$RUST_HOME/bin/cargo" ]; then
    log "installing a Rust toolchain into $RUST_HOME"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
      sh -s -- -y --profile minimal --no-modify-path
  fi
  local -a args=()
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    args+=(-p "$pkg")
  done
  log "building ${BINARIES[*]} (a few minutes on 2 CPUs)"
  (cd "$LAB_SRC" && CARGO_TARGET_DIR=$TARGET_DIR "$RUST_HOME/bin/cargo" build --release --locked "${args[@]}")
  install_from "$TARGET_DIR/release"
}

main() {
  parse_mode "$@"
  render_only && return 0
  local src=${LAB_SRC:-/ovn-mesos}
  local bin_dir=${OVN_MESOS_BIN:-$src/vagrant/bin}
  local mode=${OVN_MESOS_BUILD:-auto}
  LAB_SRC=$src
  case "$mode" in
    auto) if have_prebuilt "$bin_dir"; then mode=copy; else mode=build; fi ;;
    copy | build) ;;
    *) die "OVN_MESOS_BUILD must be auto, copy or build, not '$mode'" ;;
  esac
  if [ "$mode" = copy ]; then
    have_prebuilt "$bin_dir" || die "OVN_MESOS_BUILD=copy but $bin_dir lacks one of ${BINARIES[*]}"
    install_from "$bin_dir"
  else
    [ -f "$LAB_SRC/Cargo.toml" ] || die "no checkout at $LAB_SRC to build from"
    build
  fi
}

main "$@"
