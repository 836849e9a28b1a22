#!/usr/bin/env bash
# abcpu.sh — ab.sh's before/after in one run, timed by CPU instead of the wall clock: on a shared
# machine whose load average is several times its cores, a benchmark's wall time mostly measures
# the wait for a core. Builds the package's test binary at REV and in the working tree (the working
# tree's *bench*_test.go files copied to REV), runs BENCH alternately ROUNDS times with exactly N
# ops on one P (-test.cpu 1), and divides each run's user+sys CPU time (GC workers included) by N.
# The per-run cost of starting the binary and of the benchmark's own setup is included: pick N
# large enough that it is small per op. Prints each run and the median and minimum per side.
#   tests/bench/abcpu.sh REV ROUNDS PKG BENCH N
#   e.g. tests/bench/abcpu.sh HEAD~1 7 ./plugins/window/engine/ 'EngineRides/per_partition_interleaved' 2048000
set -euo pipefail
rev=${1:?REV}
rounds=${2:?ROUNDS}
pkg=${3:?PKG}
bench=${4:?BENCH}
n=${5:?N}
source "$(dirname "$0")/ab_build.sh"
cpu_ns_per_op() { # binary → user+sys ns per op of one run
	local t0 t1 me=$BASHPID # this shell, which waits for the binary: its children's times add up here
	t0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$me/stat)
	(cd "$root/$pkg" && "$1" -test.run '^$' -test.bench "$bench" -test.benchtime "${n}x" -test.cpu 1 >/dev/null)
	t1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$me/stat)
	awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "%.0f\n", d / hz * 1e9 / n }'
}
for r in $(seq "$rounds"); do
	for side in before after; do
		echo "$side $(cpu_ns_per_op "$tmp/$side.test")" | tee -a "$tmp/out"
	done
done
echo "CPU ns per op over $rounds rounds (side, median, min):"
for side in before after; do
	awk -v s="$side" '$1 == s { print $2 }' "$tmp/out" | sort -n |
		awk -v s="$side" '{ a[NR] = $1 } END { printf "%s  median %d  min %d\n", s, a[int((NR + 1) / 2)], a[1] }'
done
