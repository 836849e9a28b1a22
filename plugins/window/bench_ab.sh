#!/usr/bin/env bash
# Before/after benchmarks of tumbling_window in one run: builds the test
# binaries of plugins/window at REV (default HEAD~1) and of the working tree,
# then runs them alternately ROUNDS times (default 3) so that both see the same
# machine load. Prints the raw lines and the median ns/op per benchmark.
#   plugins/window/bench_ab.sh [REV] [ROUNDS]
# Takes ~1-3 min (the Pipeline benchmark drains 100 000 rides per op).
set -euo pipefail
rev=${1:-HEAD~1}
rounds=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/before" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add -q --detach "$tmp/before" "$rev"
# Same benchmark code on both sides; the old side has one plan, its own.
cp "$here/bench_test.go" "$tmp/before/plugins/window/bench_test.go"
cat >"$tmp/before/plugins/window/bench_plan_test.go" <<'GO'
package window

var benchPlans = []string{"before"}

func setBenchPlan(*processor, string) error { return nil }
GO
(cd "$tmp/before/plugins/window" && go test -c -o "$tmp/before.test" .)
(cd "$here" && go test -c -o "$tmp/after.test" .)
for r in $(seq "$rounds"); do
	for side in before after; do
		# ProcessorBatch: one op = one event, so a time budget; Pipeline: one op = one drain.
		(cd "$here" && "$tmp/$side.test" -test.run '^$' -test.bench 'ProcessorBatch' -test.benchtime 2s -test.benchmem &&
			"$tmp/$side.test" -test.run '^$' -test.bench 'Pipeline' -test.benchtime 3x -test.benchmem) |
			grep '^Benchmark' | sed "s/^/$side /" | tee -a "$tmp/out"
	done
done
echo "median ns/op over $rounds rounds:"
awk '{k=$1" "$2; v[k]=v[k]" "$4} END {for (k in v) print k, v[k]}' "$tmp/out" | sort -k2 |
	while read -r side name vals; do
		printf '%-7s %-55s %s\n' "$side" "$name" "$(tr ' ' '\n' <<<"$vals" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
	done
