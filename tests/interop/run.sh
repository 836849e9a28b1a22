#!/usr/bin/env bash
# The Delta interop tier: our delta_lake output writes tables (local directory
# and versitygw S3 on 127.0.0.1), independent readers check them.
#   run.sh            setup + delta-rs and DuckDB checks (test_*.py except Spark)
#   run.sh --spark    also installs PySpark + delta-spark and runs test_spark.py
# Extra arguments after -- go to pytest (e.g. run.sh -- -k checkpoint -x).
# Exits non-zero on any failure, including "no tests collected" (pytest exit 5).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

spark=0
pytest_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --spark) spark=1 ;;
    --) shift; pytest_args=("$@"); break ;;
    *) echo "usage: $0 [--spark] [-- pytest args]" >&2; exit 2 ;;
  esac
  shift
done

t0=$SECONDS
if [[ $spark == 1 ]]; then
  bash "$here/setup.sh" --spark
  marker=()
else
  bash "$here/setup.sh"
  marker=(-m "not spark")
fi
echo "interop: setup took $((SECONDS - t0)) s"

t1=$SECONDS
set +e
(cd "$here" && "$repo/.cache/venv/bin/python" -m pytest "${marker[@]}" "${pytest_args[@]}")
rc=$?
set -e
echo "interop: pytest took $((SECONDS - t1)) s (exit $rc)"
if [[ $rc == 5 ]]; then
  echo "interop: pytest collected no tests: counted as a failure" >&2
fi
exit $rc
