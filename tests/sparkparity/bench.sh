#!/usr/bin/env bash
# bench.sh — issue 11's table: a bare franz-go consumer (reads only), rides-connect
# (config/rides.yaml) and Spark 4 (the seed job, local[2]) each drain the same prefilled
# 6-partition topic of a real Kafka broker (on the same machine), alone, 3 alternating
# repetitions; wall time, CPU seconds and peak RSS per engine (medians), after a correctness gate
# on every table. Not part of `make test` (`make bench-spark`). Prints JSON, the table, the ratios.
#
#   bench.sh                      N = 2 000 000 rides, Spark with spark.sql.shuffle.partitions=2
#   BENCH_N=500000 bench.sh       fewer rides
#   BENCH_REPS=1 bench.sh         one run per engine instead of 3
#   BENCH_WARMUP=0 bench.sh       no unmeasured warm-up round of the Go engines first (default 1)
#   BENCH_SPARK_200=1 bench.sh    also Spark with the default 200 shuffle partitions
#   BENCH_WORK=/dir bench.sh      keep tables and logs there (default: a temp dir, removed)
#   BENCH_BASELINE=bin:config bench.sh  also that binary + config, alternating (an A/B in one run)
#   BENCH_NO_SPARK=1 bench.sh     skip Spark (with BENCH_BASELINE: an A/B of our builds only)
#   BENCH_BY_USER=1 bench.sh      group by (city, userId) in both engines (many keys: ~1.8 M result rows)
#   BENCH_PRECREATE_INTERNAL=0    let the job create its internal topics in each timed run (default 1: created
#                                 before the timer with its header's lines, as a deployment has them from its
#                                 first start; each run here is a new consumer group, so new topics)
# Installs what run.sh installs (same setup), and GNU time (Debian) when missing.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

sp_work_dir "${BENCH_WORK:-}" sparkparity-bench

if [[ ! -x /usr/bin/time ]]; then
  echo "bench.sh: installing GNU time (Debian) for CPU and RSS measurements" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && apt-get install -y -qq time >/dev/null
fi
t0=$(now_ms)
sp_setup
sp_binary
export BARECONSUMER_BIN="$repo/bin/bareconsumer"
(cd "$repo" && go build -o "$BARECONSUMER_BIN" ./tests/sparkparity/bareconsumer)
# The broker gets more heap than the test default: 2 M records are ~300 MB of log.
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"
sp_broker_start
echo "bench: setup + broker in $(($(now_ms) - t0)) ms; nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo); load $(cut -d' ' -f1-3 /proc/loadavg)"
args=(--work "$work" -n "${BENCH_N:-2000000}" --reps "${BENCH_REPS:-3}" --warmup "${BENCH_WARMUP:-1}")
if [[ -n "${BENCH_SPARK_200:-}" ]]; then args+=(--spark-200); fi
if [[ -n "${BENCH_BASELINE:-}" ]]; then args+=(--baseline "$BENCH_BASELINE"); fi
if [[ -n "${BENCH_NO_SPARK:-}" ]]; then args+=(--no-spark); fi
if [[ -n "${BENCH_BY_USER:-}" ]]; then args+=(--group-by-user); fi
if [[ "${BENCH_PRECREATE_INTERNAL:-1}" != 0 ]]; then args+=(--precreate-internal); fi
"$venv/bin/python" "$here/bench.py" "${args[@]}"
echo "bench: total $(($(now_ms) - t0)) ms"
