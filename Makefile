# Quizwire: the two commands of the README, and the build steps behind them.
#   make run   installs what is missing, builds, starts the whole stack on loopback
#   make test  installs what is missing, builds with sanitizers, runs every test
#              (unit, integration, the fault tests of make test-faults, the
#              start and stop of the stack in a terminal, then the cluster
#              tests of make test-cluster: root)
#   make cluster       three machines as network namespaces behind HAProxy (root)
#   make test-cluster  a machine killed, cut off and rolled under 300 students
BUILD      ?= build/release
TEST_BUILD ?= build/test
JOBS       ?= $(shell nproc)

.PHONY: all deps deps-test deps-cluster build build-test web node-deps run test test-unit test-integration \
        cluster test-cluster \
        test-stack bench test-faults config-doc format clean

all: build

deps:
	@scripts/deps.sh

deps-test:
	@scripts/deps.sh --test

deps-cluster:
	@scripts/deps.sh --cluster

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

build-test: deps-test
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DQW_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS) -- --no-print-directory

# The web pages: built into web/dist, which every gateway serves.
web:
	@scripts/build-web.sh

node-deps: tests/node_modules/.qw-installed

# reinstall the test packages whenever the lock file changes
tests/node_modules/.qw-installed: tests/package-lock.json
	@cd tests && npm ci --no-audit --no-fund --silent
	@touch $@

run: build web
	@scripts/stack.sh --dir var --bin $(BUILD)

config-doc: build
	@$(BUILD)/shared/qw-config-doc > docs/CONFIG.md
	@$(BUILD)/shared/qw-nats-roles --doc > $(BUILD)/roles.md
	@sed -i -e '/^<!-- roles:begin/,/^<!-- roles:end/{//!d}' \
	  -e '/^<!-- roles:begin/r $(BUILD)/roles.md' docs/ARCHITECTURE.md

test: build-test web node-deps
	@cd $(TEST_BUILD) && ctest --output-on-failure
	@tests/run.sh $(TEST_BUILD)
	@tests/faults/run.sh $(TEST_BUILD)
	@tests/stack/run.sh $(TEST_BUILD)
	@tests/cluster/run.sh $(TEST_BUILD)

# The cluster of docs/RELIABILITY.md on this host (root: network namespaces).
cluster: deps-cluster build web
	@scripts/cluster.sh --dir var/cluster --bin $(BUILD)

# A whole machine killed, cut off for 10 s, and all three restarted in turn,
# under 300 students through HAProxy (tests/cluster/run.sh; root). Also the
# last step of make test: see docs/RELIABILITY.md, "The cluster".
test-cluster: build-test web node-deps
	@tests/cluster/run.sh $(TEST_BUILD)

# Crash safety: kill each part under load on a stack of its own (about 70 s).
test-faults: build-test web node-deps
	@tests/faults/run.sh $(TEST_BUILD)

# Start and stop of scripts/stack.sh in a pseudo-terminal (about 3 minutes).
test-stack: build-test web
	@tests/stack/run.sh $(TEST_BUILD)

bench: build web node-deps
	@stress/bench.sh $(BUILD)

format:
	@git ls-files "*.c" "*.h" | xargs clang-format -i

clean:
	rm -rf build
