.DEFAULT_GOAL := help
SHELL := /bin/bash
# This file, for help and help-check, also when run as make -f <path>.
SELF := $(lastword $(MAKEFILE_LIST))
# `make test` regenerates code and then tests it: its steps must not overlap.
.NOTPARALLEL:

GO         ?= go
BIN        := bin
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X main.version=$(VERSION)
PG_ADMIN_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
# The servers of run-postgres, createdb and migrate: WFR_DATABASE_URL and
# WFR_REDIS_URL when set, else local ones. `make run` passes the environment
# through as it is: unset, it serves embedded.
PG_URL     := $(or $(WFR_DATABASE_URL),postgres://postgres@127.0.0.1:5432/workflow_runtime?sslmode=disable)
REDIS_URL  := $(or $(WFR_REDIS_URL),redis://127.0.0.1:6379/0)
COVER_MIN  := 85

# Every target with a `## description`: a name, a colon, anything, then the
# description. help prints them (in colour only on a terminal, so that a pipe
# gets plain text, and not when NO_COLOR is set); help-check, run by lint,
# fails when a .PHONY target is missing from help's output.
HELP_TARGET := ^[a-zA-Z0-9_.-]+:.*\#\# 

.PHONY: help
help: ## Show this help
	@if [ -t 1 ] && [ -z "$${NO_COLOR:-}" ]; then on='\033[36m'; off='\033[0m'; else on=; off=; fi; \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} /$(HELP_TARGET)/ {printf "  %s%-26s%s %s\n", on, $$1, off, $$2}' $(SELF)

.PHONY: help-check
help-check: ## Fail when make help leaves out a .PHONY target or prints escape codes into a pipe
	@out=$$($(MAKE) --no-print-directory -f $(SELF) help); \
	if printf '%s' "$$out" | grep -q $$'\033'; then echo "make help: escape codes in a pipe"; exit 1; fi; \
	missing=$$(sed -n 's/^\.PHONY: *//p' $(SELF) | tr ' ' '\n' | sed '/^$$/d' | \
	  while read -r t; do printf '%s\n' "$$out" | grep -qE "^  $$t +" || echo "$$t"; done); \
	if [ -n "$$missing" ]; then echo "make help leaves out:" $$missing "(give each a ## description)"; exit 1; fi

.PHONY: build
build: ## Build bin/workflow-runtime and bin/wfr, its command-line client
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/workflow-runtime ./cmd/wfr

ROOTFS ?= $(BIN)/rootfs

.PHONY: image-rootfs
image-rootfs: ## Build the container image's file tree in ROOTFS (bin/rootfs) without Docker; the Dockerfile runs this target
	rm -rf $(ROOTFS)
	mkdir -p $(ROOTFS)/usr/local/bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(ROOTFS)/usr/local/bin/ ./cmd/workflow-runtime ./cmd/engine-sim

.PHONY: run
run: build ## Build and serve on :9090 (gRPC) and :8080 (HTTP); unset WFR_DATABASE_URL, WFR_REDIS_URL, WFR_ENGINE_ADDR: SQLite in ./data, no Redis, engine-sim in process
	$(BIN)/workflow-runtime serve

.PHONY: run-postgres
run-postgres: build createdb ## Build and serve against PostgreSQL and Redis (WFR_DATABASE_URL, WFR_REDIS_URL; default: local ones)
	WFR_DATABASE_URL='$(PG_URL)' WFR_REDIS_URL='$(REDIS_URL)' $(BIN)/workflow-runtime serve

.PHONY: createdb
createdb: ## Create the PostgreSQL database of run-postgres and migrate if it does not exist
	@db=$$(echo "$(PG_URL)" | sed -E 's#.*/([^/?]+)(\?.*)?$$#\1#'); \
	psql "$(PG_ADMIN_URL)" -tAc "SELECT 1 FROM pg_database WHERE datname = '$$db'" | grep -q 1 || \
	psql "$(PG_ADMIN_URL)" -qc "CREATE DATABASE \"$$db\""

.PHONY: migrate
migrate: build createdb ## Apply PostgreSQL migrations (make migrate ARGS=down|status); SQLite migrates itself
	WFR_DATABASE_URL='$(PG_URL)' $(BIN)/workflow-runtime migrate $(or $(ARGS),up)

.PHONY: proto
proto: ## Regenerate Go, gateway and OpenAPI code from proto/ (buf and its plugins are Go tools pinned in go.mod)
	$(GO) tool buf generate --template proto/buf.gen.yaml
	$(GO) tool buf generate --template proto/buf.gen.gateway.yaml

.PHONY: proto-check
proto-check: ## Fail when committed generated code differs from what 'make proto' makes
	@$(MAKE) --no-print-directory proto >/dev/null
	@stale=$$(git status --porcelain -- proto openapi); \
	if [ -n "$$stale" ]; then echo "$$stale"; echo "generated code is stale: run 'make proto' and commit the result"; exit 1; fi
	@echo "generated code is fresh"

.PHONY: lint
lint: help-check ## gofmt, go vet and golangci-lint (.golangci.yaml; pinned in go.mod)
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@# One vet of every package with the multiprocess tag: it only adds files
	@# (no file is built without it), so this covers the untagged build too.
	$(GO) vet -tags multiprocess ./...
	$(GO) tool golangci-lint run ./...

# Test files are written to tmpfs where there is one: the SQLite and log-file
# tests write and sync files, which on a busy disk took most of their time.
TEST_TMPDIR ?= $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm)
# The race detector's runtime sleeps a second before a process exits (its
# atexit_sleep_ms, for races in goroutines still running): a second for each
# of some 45 test binaries and every replica and engine-sim process that the
# multi-process tests start and stop. A race is still reported while the
# process runs, which is when the tests look for them.
TEST_ENV    := GORACE=atexit_sleep_ms=0 $(if $(TEST_TMPDIR),TMPDIR=$(TEST_TMPDIR))
# The multi-process tests: every test in a file of cmd/workflow-runtime built
# only with the multiprocess tag, found by the tag so that none is left out.
MULTIPROCESS_FILES := $(shell grep -l '^//go:build multiprocess$$' cmd/workflow-runtime/*_test.go)
MULTIPROCESS_TESTS := $(shell sed -n 's/^func \(Test[A-Za-z0-9_]*\)(t \*testing\.T).*/\1/p' $(MULTIPROCESS_FILES) | paste -sd'|')

.PHONY: test-runtime
# Without -race: the coverage run of make test runs every one of these tests
# with it, and the race detector more than doubles their time.
test-runtime: ## Unit and table tests (no services, no race detector; under 30 s); make test runs them with -race within test-integration-runtime
	$(TEST_ENV) $(GO) test -short -count=1 ./...

# Tests marked t.Parallel() that may run at once in one package: most of them
# wait (on servers, timeouts, other processes) rather than compute, so more
# than the 2 that GOMAXPROCS would allow on a 2-core machine (8 starved
# health checks of their 2 s deadline).
TEST_PARALLEL ?= 4

# The race detector, but for the embedded SQLite engine: modernc.org/sqlite/lib
# is SQLite's C translated to Go, and instrumenting every memory access of it
# made each test on SQLite several times slower (the SQLite store's tests: 42
# CPU-seconds with, 13 without). A race of ours around it is still found, in
# database/sql, the driver, its libc and our own code, which stay instrumented.
# (Leaving modernc.org/libc out as well made the race detector report races
# inside encoding/json that are not there: its synchronisation must be seen.)
RACE := -race -gcflags='modernc.org/sqlite/lib=-race=false'

# The packages whose statements count toward the coverage gate: all but the
# generated code (proto/) and the binaries' wiring (cmd/). Only these are
# instrumented: under the race detector each coverage counter is an atomic
# add, which the generated messages' accessors and cmd's code, left out of
# the gate anyway, paid on every call.
COVERPKG = $(shell $(GO) list ./... | grep -v -e '/proto/' -e '/cmd/' | paste -sd, -)

.PHONY: test-integration-runtime
test-integration-runtime: ## Every test with -race and coverage, against real PostgreSQL and Redis, then the multi-process tests (build tag multiprocess)
	@# The multi-process tests run after the package tests, not beside them:
	@# beside them, the two loads together on 2 cores stretched timing-bound
	@# tests past their bounds (see docs/architecture.md, test suite).
	$(TEST_ENV) $(GO) test $(RACE) -count=1 -parallel $(TEST_PARALLEL) -timeout 15m -coverpkg=$(COVERPKG) -coverprofile=cover.out ./...
	$(MAKE) --no-print-directory test-multiprocess

# The multi-process tests mostly wait (for windows of cron slots, processes
# to start and die), so 8 of them run at once: 100 s with 4 at a time, 65 s
# with 8, before the sharding test joined them (96 to 121 s since). All 13
# at once took no less: the host's 2 cores are then the limit. Their
# replicas hold 4 PostgreSQL connections each (see eoEnv): all 13 at once
# took 80 of PostgreSQL's 100.
MULTIPROCESS_PARALLEL ?= 8

.PHONY: test-multiprocess
# Each test's --- PASS line stays in the output: it is the test's time.
test-multiprocess: ## The multi-process tests: exactly-once, shutdown, restarts, quick start, orphaned runs, memory under flood
	set -o pipefail; $(TEST_ENV) $(GO) test -tags multiprocess $(RACE) -count=1 -parallel $(MULTIPROCESS_PARALLEL) -run '^($(MULTIPROCESS_TESTS))$$' -v -timeout 15m ./cmd/workflow-runtime/ \
	  | grep -v -e '^=== ' -e '^PASS'

.PHONY: cover
cover: test-integration-runtime ## Coverage gate: at least 85 % of statements outside generated code
	@total=$$($(GO) tool cover -func=cover.out | awk '/^total:/ {sub("%","",$$3); print $$3}'); \
	echo "coverage: $$total % (gate $(COVER_MIN) %)"; \
	awk -v t="$$total" -v m="$(COVER_MIN)" 'BEGIN { exit (t+0 >= m+0) ? 0 : 1 }' || { echo "coverage below $(COVER_MIN) %"; exit 1; }

.PHONY: test-k8s
test-k8s: ## Validate k8s/ strictly against the Kubernetes API types (a module of its own: k8s/validate)
	cd k8s/validate && $(GO) vet ./... && $(GO) test -count=1 ./...

.PHONY: test
# test-runtime is not a step of its own: its tests are a subset of
# test-integration-runtime's, which runs them with -race too.
test: proto-check lint cover test-k8s ## Everything CI runs

BENCH_SECONDS ?= 70

.PHONY: bench-scheduler
bench-scheduler: ## Scheduler at 100k every-minute cron triggers vs go-quartz's default queue at 5k (BENCH_SECONDS=70)
	WFR_BENCH_SCHEDULER=$(BENCH_SECONDS) $(GO) test -count=1 -v -run '^TestBenchScheduler$$' -timeout 30m ./service/scheduling/ \
	  | grep -v -e '^=== ' -e '^--- ' -e '^PASS' -e '^ok '

BENCH_SHARD_SECONDS ?= 60
BENCH_SHARD_TRIGGERS ?= 400000

.PHONY: bench-shard
bench-shard: ## 4 replica processes, BENCH_SHARD_TRIGGERS=400000 mixed cron triggers, every replica firing all against sharded: load, RSS, Redis commands and PostgreSQL transactions per slot, fire lag, misfires, hand-off (BENCH_SHARD_SECONDS=60)
	set -o pipefail; WFR_BENCH_SHARD=$(BENCH_SHARD_SECONDS) WFR_BENCH_SHARD_TRIGGERS=$(BENCH_SHARD_TRIGGERS) $(GO) test -count=1 -v -run '^TestBenchShard$$' -timeout 60m ./service/scheduling/ \
	  | grep -v -e '^=== ' -e '^--- ' -e '^PASS' -e '^ok '

.PHONY: bench-queue
bench-queue: ## Job queue operations: ours (heap + index) against go-quartz's default
	$(GO) test -count=3 -run '^$$' -bench Queue -benchmem ./service/scheduling/

BENCH_STEP_SECONDS ?= 10

.PHONY: bench-dispatch
bench-dispatch: ## Manual trigger to engine dispatch latency at 100, 500, 1000/s and up, against local PostgreSQL and Redis (BENCH_STEP_SECONDS=10)
	set -o pipefail; WFR_BENCH_DISPATCH=$(BENCH_STEP_SECONDS) $(GO) test -count=1 -v -run '^TestBenchDispatch$$' -timeout 30m ./cmd/workflow-runtime/ \
	  | grep -v -e '^=== ' -e '^--- ' -e '^PASS' -e '^ok '

BENCH_TRIGGER_SECONDS ?= 20

.PHONY: bench-trigger
bench-trigger: ## Webhook TriggerWorkflow throughput at 64 callers against raw single-row durable INSERTs, then at 128 callers until refused for 10 s; backlog, engine calls, CPU per 1,000 triggers (BENCH_TRIGGER_SECONDS=20)
	set -o pipefail; WFR_BENCH_TRIGGER=$(BENCH_TRIGGER_SECONDS) $(GO) test -count=1 -v -run '^TestBenchTrigger$$' -timeout 20m ./cmd/workflow-runtime/ \
	  | grep -v -e '^=== ' -e '^--- ' -e '^PASS' -e '^ok '

.PHONY: bench-load
bench-load: ## GetLoadDistribution's plan for 1,000 mixed cron deployments: peak fires per second with and without jitter, on local PostgreSQL and Redis
	set -o pipefail; WFR_BENCH_LOAD=1 $(GO) test -count=1 -v -run '^TestBenchLoad$$' -timeout 10m ./cmd/workflow-runtime/ \
	  | grep -v -e '^=== ' -e '^--- ' -e '^PASS' -e '^ok '

HISTORY_ROWS ?= 1000000

.PHONY: bench-history
bench-history: ## Filtered GetExecutionHistory pages on HISTORY_ROWS=1000000 executions in local PostgreSQL: p50/p95/p99, plans, goal p99 <= 20 ms
	set -o pipefail; WFR_BENCH_HISTORY=$(HISTORY_ROWS) $(GO) test -count=1 -v -run '^TestBenchHistory$$' -timeout 20m ./pkg/store/postgres/ \
	  | grep -v -e '^=== ' -e '^--- ' -e '^PASS' -e '^ok '

RETENTION_ROWS ?= 5000000
BENCH_TRIGGER_RATE ?= 200

.PHONY: bench-retention
bench-retention: ## Retention of RETENTION_ROWS=5000000 executions, 80 % expired, in local PostgreSQL under open-loop webhook triggers at BENCH_TRIGGER_RATE=200/s: trigger p50/p99 for BENCH_TRIGGER_SECONDS=20 without, in 5 s windows alternately with and without retention (up to 120 s: the immediate cost, free of drift), during the rest of the pass and after; removal time; history p99; goals p99 ratio (with/without, alternating windows) <= 1.20, history <= 20 ms; WFR_BENCH_RETENTION_CONTROL=1: a control run whose passes delete nothing; WFR_BENCH_RETENTION_STOP_WITH_LOAD=1: the pass ends with the load (trigger figures and rate, no removal time); a complete run took 57 min at the default WFR_RETENTION_DUTY on an idle 2-core host and prints the pass's progress every 5 min
	set -o pipefail; WFR_BENCH_RETENTION=$(RETENTION_ROWS) WFR_BENCH_RETENTION_SECONDS=$(BENCH_TRIGGER_SECONDS) WFR_BENCH_RETENTION_RATE=$(BENCH_TRIGGER_RATE) $(GO) test -count=1 -v -run '^TestBenchRetention$$' -timeout 180m ./cmd/workflow-runtime/ \
	  | grep --line-buffered -v -e '^=== ' -e '^--- ' -e '^PASS' -e '^ok '

.PHONY: bench-tracing
bench-tracing: ## What tracing adds: a span off and recording, otelgrpc's server handler off, and a store call traced off and traced recording (local PostgreSQL)
	$(GO) test -count=1 -run '^$$' -bench '^Benchmark(Span|ServerHandler)$$' -benchmem ./pkg/tracing/
	$(GO) test -count=1 -run '^$$' -bench '^BenchmarkStoreCall$$' -benchmem -benchtime=2000x ./pkg/store/sqlstore/

.PHONY: bench-sqlite
bench-sqlite: ## Embedded mode's hot writes on SQLite (synchronous=FULL, a WAL sync per commit): executions created and started per second, 4 callers per core
	$(GO) test -count=1 -run '^$$' -bench '^BenchmarkWrites$$' -benchtime 2s ./pkg/store/sqlite/

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BIN) cover.out
