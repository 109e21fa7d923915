# ovn-mesos: `make demo` and `make test` are the two commands a newcomer runs.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all deps build test machines lint unit bench demo clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(CARGO) build --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Every test: unit tests and integration tests against real OVN/OVS daemons.
# The binaries are built first: tests start ovn-mesos, ovn-mesos-executor and
# mesos-local as processes, and building one on demand mid-run slows
# timing-bound tests. Each is built the way the tests build it, one package at
# a time: a workspace-wide build unifies dependency features differently, so
# the tests would still compile their own copies.
TEST_BINS := ovn-mesos mesos-local ovn-mesos-executor

#
# The machine test (tests/tests/vagrant_machines.rs: the vagrant lab booted
# as three systemd machines and provisioned by its own scripts) runs after
# the others, alone: it holds the host's 10.10.1.0/24 and both cores for a
# few minutes. `make machines` runs only it.
MACHINE_TEST := vagrant_machines
NEXTEST_PROFILE := $(if $(CI),--profile ci,)

test: deps lint
	@for bin in $(TEST_BINS); do \
	  echo "$(CARGO) build -p $$bin --bin $$bin"; \
	  $(CARGO) build -p $$bin --bin $$bin || exit 1; \
	done
	@if command -v cargo-nextest >/dev/null; then \
	  status=0; \
	  $(CARGO) nextest run --workspace --no-fail-fast $(NEXTEST_PROFILE) \
	    -E 'not binary($(MACHINE_TEST))' || status=$$?; \
	  $(CARGO) nextest run -p ovn-mesos-tests --test $(MACHINE_TEST) --no-fail-fast \
	    $(NEXTEST_PROFILE) || status=$$?; \
	  exit $$status; \
	else \
	  $(CARGO) test --workspace --no-fail-fast; \
	fi

machines: deps
	@for bin in $(TEST_BINS); do $(CARGO) build -p $$bin --bin $$bin || exit 1; done
	$(CARGO) nextest run -p ovn-mesos-tests --test $(MACHINE_TEST) --no-fail-fast --no-capture

# The unit tests inside the crates (their lib and bin targets): in process,
# with no OVN/OVS daemon, no Mesos, no root and no network namespace, so a
# change can be checked in a minute before `make test`.
unit:
	@if command -v cargo-nextest >/dev/null; then \
	  $(CARGO) nextest run --workspace --lib --bins; \
	else \
	  $(CARGO) test --workspace --lib --bins; \
	fi

bench: deps
	$(CARGO) bench --workspace

demo: deps
	@scripts/demo.sh

clean:
	$(CARGO) clean
