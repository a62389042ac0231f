# llc-train: the two commands a fresh Debian 12 machine needs.
#   make run   installs what is missing, builds, and runs the training demo
#   make test  installs what is missing and runs the whole test suite
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: run test setup build demo

setup:
	./scripts/setup.sh

build: setup
	$(CARGO) build --release

run: build
	./scripts/demo.sh

test: setup
	./scripts/test.sh
