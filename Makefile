# Eventify Commerce: the two commands are `make up` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(CURDIR)
STACK := infra/scripts/stack.sh
PYTHON := /usr/bin/python3

# The stack `make test` runs against: short saga deadline and quick retries so failure
# paths finish within a test's patience. `make up` uses the SPEC defaults.
TEST_ENV := EVENTIFY_SAGA_TIMEOUT_MS=6000 EVENTIFY_MAX_ATTEMPTS=3 EVENTIFY_RETRY_BACKOFF_MS=50
# Admission control (docs/overload.md) refuses orders while the 50th oldest unfinished one is
# older than this: just under the 6 s deadline, so a slow shared machine does not refuse the
# other tests' orders, while tests/system/test_overload.py still gets there by stopping the
# orchestrator.
TEST_ENV += EVENTIFY_ADMISSION_MAX_DELAY_MS=5000

# The stack's shape (docs/reliability.md): 1 or 3 Kafka nodes, 1..9 instances of each service.
KAFKA_NODES ?= 1
REPLICAS ?= 1
SHAPE := EVENTIFY_KAFKA_NODES=$(KAFKA_NODES) EVENTIFY_REPLICAS=$(REPLICAS)

.PHONY: help deps build build-asan web up down status logs test unit-test system-test \
        security-test memory-test browser-test api-fuzz fuzz fuzz-short chaos chaos-short bench lint format clean \
        topology alerts-test k8s-generate k8s-validate images compose-test compose-validate

help:
	@echo "make up      install what is missing, build, start everything, print the URLs"
	@echo "make down    stop everything (data is kept in .run/)"
	@echo "make test    the same set-up, then unit (ASan+UBSan), system, security, memory (valgrind), browser tests, fuzz-short and api-fuzz"
	@echo "make memory-test  every service once more under valgrind beside the running stack"
	@echo "make fuzz    run each libFuzzer target for FUZZ_SECONDS (default 60)"
	@echo "make alerts-test  promtool: check and unit-test the alert rules, check the generated config"
	@echo "make topology  rewrite infra/topology.json from the table in libs/src/topology.c"
	@echo "make chaos   the chaos suite on its own 3-node, 2-replica stack (CHAOS_SECONDS, CHAOS_RATE, CHAOS_SEED)"
	@echo "make up KAFKA_NODES=3 REPLICAS=2   a 3-node Kafka cluster and 2 instances of every service"
	@echo "make images        the container images (podman; base image made by debootstrap), sizes printed"
	@echo "make compose-test  images, compose.yaml up with podman-compose, the system tests against it, down -v"
	@echo "make status | logs | bench | lint | format | clean"

deps:
	@infra/scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null && cmake --build --preset release

build-asan: deps
	@cmake --preset asan >/dev/null && cmake --build --preset asan

web: deps
	@if [ -f web/package.json ]; then infra/scripts/build-web.sh; fi

up: build web
	@$(SHAPE) $(STACK) up

down:
	@$(STACK) down

status:
	@$(STACK) status

logs:
	@$(STACK) logs $(SERVICE)

unit-test: build-asan
	@ctest --preset asan

# libFuzzer targets (clang, ASan+UBSan) on the committed corpora; see docs/fuzzing.md.
FUZZ_SECONDS ?= 60
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

fuzz-short: deps
	@FUZZ_SECONDS=10 fuzz/run.sh

# The chaos suite (docs/reliability.md) on its own stack: .run/chaos, port offset +50,
# KAFKA_NODES=3 REPLICAS=2. `make chaos` offers CHAOS_RATE orders/s for CHAOS_SECONDS while
# faults are injected; CHAOS_SEED replays a run's fault sequence. chaos-short is the run of
# `make test`.
CHAOS_SECONDS ?= 120
CHAOS_RATE ?= 50
chaos: build web
	@CHAOS_SECONDS=$(CHAOS_SECONDS) CHAOS_RATE=$(CHAOS_RATE) CHAOS_SEED=$(CHAOS_SEED) tests/chaos/run.sh

chaos-short: build web
	@CHAOS_SECONDS=75 CHAOS_RATE=20 CHAOS_SEED=$(CHAOS_SEED) CHAOS_QUIET_SECONDS=240 tests/chaos/run.sh

system-test:
	@$(PYTHON) -m pytest -p no:cacheprovider tests/system

security-test:
	@$(PYTHON) -m pytest -p no:cacheprovider tests/security

# A second instance of every service under valgrind beside the running stack: its share of
# real events, its API, SIGTERM; no memory error and nothing definitely or indirectly lost.
memory-test:
	@$(TEST_ENV) $(PYTHON) -m pytest -p no:cacheprovider tests/memory

# schemathesis against every running service's OpenAPI document (tests/security/api_fuzz.py):
# fails on any 5xx or any answer the document does not describe.
api-fuzz:
	@$(PYTHON) tests/security/api_fuzz.py

browser-test:
	@if [ -d tests/browser ] && [ -f web/package.json ]; then infra/scripts/browser-tests.sh; fi

# Container images and the Compose stack (docs/deploy.md). compose-test runs the system tests
# (but the local_stack ones) against compose.yaml on ports offset by EVENTIFY_PORT_OFFSET+70.
images: deps
	@infra/scripts/images.sh build && infra/scripts/images.sh sizes

compose-test: build deps
	@tests/compose/run.sh

compose-validate: deps
	@$${EVENTIFY_RUN_DIR:-$(ROOT)/.run}/venv/bin/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml deploy/compose/compose.test.yaml

test: build web unit-test fuzz-short
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory alerts-test
	@$(MAKE) --no-print-directory k8s-validate
	@$(TEST_ENV) $(STACK) up
	@$(MAKE) --no-print-directory system-test
	@$(MAKE) --no-print-directory security-test
	@$(MAKE) --no-print-directory memory-test
	@$(MAKE) --no-print-directory browser-test
	@$(MAKE) --no-print-directory api-fuzz
	@$(MAKE) --no-print-directory bench-short
	@$(MAKE) --no-print-directory chaos-short
	@$(MAKE) --no-print-directory compose-validate

# The alert rules (infra/prometheus/alerts.yml): syntax, their unit tests (alerts.test.yml),
# and the Prometheus configuration the stack generates from the topology.
alerts-test: deps
	@promtool check rules infra/prometheus/alerts.yml
	@promtool test rules infra/prometheus/alerts.test.yml
	@mkdir -p build && $(SHAPE) $(STACK) prometheus-config >build/prometheus.yml
	@promtool check config build/prometheus.yml

bench: build
	@$(SHAPE) bench/run.sh

# The saga bench on its own three-node Kafka cluster (.run/k3, one instance of each service),
# so that the cluster's cost per order stands beside the default stack's; `make down` first.
bench-cluster: build
	@bench/cluster.sh

# A few seconds of the saga bench at one low rate against the running stack: the cost table,
# counts, JSON result and pictures are produced and sane (no performance figure is asserted).
bench-short:
	@$(PYTHON) -m pytest -p no:cacheprovider bench/test_bench_short.py

# Overload (docs/overload.md): OVERLOAD_RATE orders/s with the consumers stopped for a while,
# admission control off and then on; counts refused, accepted, confirmed, cancelled by deadline.
.PHONY: bench-overload
bench-overload: build
	@$(STACK) up >/dev/null && $(PYTHON) bench/overload.py

lint: deps
	@cmake --preset debug >/dev/null
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror
	@git ls-files 'libs/*.c' 'services/*.c' 'tools/*.c' | grep -v /tests/ | \
		xargs clang-tidy -p build/debug --quiet -warnings-as-errors='*' 2>/dev/null
	@cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem -I libs/include libs/src services tools

# The topology table (libs/src/topology.c) as JSON for the scripts and Python tests; a unit
# test fails while the committed file differs from the table (docs/topology.md).
topology: build
	@build/release/bin/eventifyctl topology >infra/topology.json.new && mv infra/topology.json.new infra/topology.json
	@echo "infra/topology.json rewritten"

# Kubernetes manifests (docs/kubernetes.md): the parts derived from infra/topology.json are
# regenerated by k8s-generate; k8s-validate renders every overlay and validates it offline.
k8s-generate: deps
	@$(ROOT)/.run/venv/bin/python deploy/k8s/generate.py

k8s-validate: deps
	@deploy/k8s/validate.sh

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	@rm -rf build
