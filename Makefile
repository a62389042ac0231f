# llc-train: the two commands a fresh Debian 12 machine needs.
#   make run   installs what is missing, builds, and runs the training demo
#   make test  installs what is missing and runs the whole test suite
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: run test setup setup-base build demo chat-demo

# setup: everything, with the test oracles (torch + transformers in .venv, ~3.5 GB once);
# setup-base: without them (the demo does not need them).
setup:
	./scripts/setup.sh

setup-base:
	LLC_SETUP_ORACLES=0 ./scripts/setup.sh

build: setup-base
	$(CARGO) build --release

run: build
	./scripts/demo.sh

test: setup
	./scripts/test.sh

# the reward model, rejection sampling and PPO on the demo policy, against a known preference
chat-demo: build
	./scripts/chat-demo.sh
