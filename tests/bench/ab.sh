#!/usr/bin/env bash
# Before/after Go benchmarks of one package in one run: builds the package's test binary at REV
# and in the working tree (the working tree's *bench*_test.go files are copied to REV, so both
# sides run the same benchmark code), then runs them alternately ROUNDS times, so that both see
# the same machine load. Prints the raw lines and the median of each column per side.
#   tests/bench/ab.sh REV ROUNDS PKG BENCH [go test flags...]
#   e.g. tests/bench/ab.sh HEAD~1 5 ./plugins/kafkafranz/ RecordToMessage -test.benchtime=1s
set -euo pipefail
rev=${1:?REV}
rounds=${2:?ROUNDS}
pkg=${3:?PKG}
bench=${4:?BENCH}
shift 4
source "$(dirname "$0")/ab_build.sh"
for r in $(seq "$rounds"); do
	for side in before after; do
		(cd "$root/$pkg" && "$tmp/$side.test" -test.run '^$' -test.bench "$bench" -test.benchmem "$@") |
			grep '^Benchmark' | sed "s/^/$side /" | tee -a "$tmp/out"
	done
done
echo "medians over $rounds rounds (side, benchmark, then each reported unit):"
awk '{
	k = $1 " " $2; n[k]++
	for (i = 4; i < NF; i += 2) { u[k, i] = $(i + 1); v[k, i, n[k]] = $i; if (i > w[k]) w[k] = i }
} END {
	for (k in n) {
		line = k
		for (i = 4; i <= w[k]; i += 2) {
			m = n[k]; for (j = 1; j <= m; j++) a[j] = v[k, i, j]
			for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (a[y] + 0 < a[x] + 0) { t = a[x]; a[x] = a[y]; a[y] = t }
			line = line "  " a[int((m + 1) / 2)] " " u[k, i]
		}
		print line
	}
}' "$tmp/out" | sort -k2,2 -k1,1r
