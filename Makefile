# rides-connect — the two commands a fresh machine needs:
#   make demo   run the seed job end to end on an embedded broker, print the closed windows
#   make test   run every test tier (installs what it needs itself)
SHELL := /bin/bash
GO ?= go
BIN := bin/rides-connect
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.buildDate=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

.PHONY: all build demo test test-go test-config test-e2e test-kafka test-interop test-spark \
        test-observability test-deploy test-s3 test-crash test-sparkparity test-bronze test-blackbox test-fuzz test-faults test-faults-full bench bench-spark lint clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/rides-connect

## demo: both jobs on an embedded Kafka-protocol broker; Delta tables in ./data/silver/rides_agg and ./data/bronze/rides
demo: build
	$(GO) run ./cmd/rides-demo -bin $(BIN)

## test: every tier, fastest first
test: test-go test-config test-crash test-deploy test-observability test-kafka test-faults test-bronze test-blackbox test-spark test-s3 test-sparkparity
	@echo "make test: all tiers passed"

## test-go: unit, integration (kfake, gofakes3) and end-to-end Go tests
test-go:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

## test-config: lint every config and run the config unit tests with the product binary
test-config: build
	$(BIN) lint config/*.yaml
	$(BIN) test ./config/...

## test-crash: the job SIGKILLed at random points and restarted; same windows as a run without crashes
test-crash:
	bash tests/crash/run.sh

## test-fuzz: the fuzzed dead-letter test of test-go at 10x volume (100 000 malformed records); FUZZ_SEED=<n> replays a run
test-fuzz:
	FUZZ_BAD=$${FUZZ_BAD:-100000} $(GO) test -count=1 -timeout 60m -v -run TestFuzzedBadRecordsAreDeadLetteredOnce ./tests/e2e/

## test-faults: the fault harness at CI size (docs/faults.md): config/rides.yaml on a real broker, Delta local and on S3,
## 200 000 rides, 4 SIGKILLs per job, 1 broker restart, a 15 s S3 outage, S3 5xx/lost responses/hangs, checkpoint dir unwritable;
## then config/rides.yaml and config/rides-single.yaml (the single-process job, docs/scale-out.md) on rides up to 20 min
## out of order, beyond the 10 min watermark delay (a third of them late, most by a few records of their own partition);
## then config/rides-scaleout.yaml (stage 1's state, bundles and dead letters in Kafka transactions) the same way;
## the input topic has 6 partitions, 9 in the second run and 7 in the fourth
test-faults:
	bash tests/faults/run.sh
	FAULT_DISORDER=20m FAULT_PARTITIONS=9 bash tests/faults/run.sh
	FAULT_DISORDER=20m FAULT_CONFIG=config/rides-single.yaml bash tests/faults/run.sh
	FAULT_DISORDER=20m FAULT_CONFIG=config/rides-scaleout.yaml FAULT_CKPT_OUTAGE=0s FAULT_PARTITIONS=7 bash tests/faults/run.sh

## test-faults-full: the same at full size: 1 000 000 rides, 20 SIGKILLs per job, 2 broker restarts, a 60 s S3 outage
test-faults-full:
	FAULT_RIDES=1000000 FAULT_KILLS=20 FAULT_BROKER_RESTARTS=2 FAULT_S3_OUTAGE=60s FAULT_TIMEOUT=90m bash tests/faults/run.sh

## test-kafka: a real Apache Kafka 4 broker (KRaft, SASL_SSL SCRAM-SHA-512, JKS truststore); config/rides.yaml SIGKILLed and resuming within 10 s (docs/recovery.md)
test-kafka:
	bash tests/realkafka/run.sh

## test-bronze: config/bronze.yaml on a real Kafka broker, SIGKILLed and restarted as two replicas; exactly once, read by delta-rs and DuckDB, pruned by day
test-bronze:
	bash tests/bronze/run.sh

## test-blackbox: the binary on data generated apart from the Go harness (librdkafka producer, SIGKILLs, delta-rs reader, a Python reference); a new seed each run
test-blackbox:
	bash tests/blackbox/run.sh

## test-interop: our Delta tables read by delta-rs, DuckDB (local and over S3 via versitygw); make test runs test-spark, which adds Spark
test-interop:
	bash tests/interop/run.sh

## test-s3: the Delta commit protocol against a real S3 API server (versitygw): racing writers, 503s, lost responses
test-s3:
	bash tests/s3/run.sh

## test-spark: the same tables read by PySpark + delta-spark (slow)
test-spark:
	bash tests/interop/run.sh --spark

## test-observability: promtool checks and alert-rule unit tests
test-observability:
	bash tests/observability/check.sh

## test-deploy: the image built in Go and run under runc, kustomize output decoded into k8s.io/api types and installed on a real control plane with KEDA, docker-compose.yml as local processes, plus the offline lint
test-deploy:
	bash tests/deploy/check.sh

## test-sparkparity: the seed job on Spark 4 and config/rides.yaml on the same Kafka topics: same windows (docs/spark-parity.md)
test-sparkparity: build
	bash tests/sparkparity/run.sh

## bench-spark: bare franz-go consumer, rides-connect and Spark 4 local[2] draining 2 M rides (BENCH_N), median of 3 alternating runs; issue 11's table (docs/benchmarks.md)
bench-spark: build
	bash tests/sparkparity/bench.sh

.PHONY: bench-rss bench-latency

## bench-rss: peak RSS of rides-connect (config/rides.yaml) draining 10 M rides from a real broker, heap top (docs/benchmarks.md)
bench-rss:
	bash tests/perf/run.sh rss

## bench-latency: closed window → Delta latency at 50 000 rides/s live for 60 s on a real broker (docs/benchmarks.md)
bench-latency:
	bash tests/perf/run.sh latency

## bench: Go benchmarks of every plugin (see docs/benchmarks.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

clean:
	rm -rf bin data
