#!/usr/bin/env bash
# Installs what the Delta interop tier needs, idempotently, on a fresh machine:
#   - a Python venv at <repo>/.cache/venv with the independent Delta readers
#     (deltalake = delta-rs, duckdb + its delta/httpfs extension wheels, pyarrow,
#     pytest, boto3) pinned in requirements.txt;
#   - versitygw (S3 API server, posix backend) at <repo>/.cache/bin/versitygw.
# With --spark it also installs PySpark + delta-spark (requirements-spark.txt)
# and resolves the Delta jars from Maven Central into <repo>/.cache/ivy2, so the
# first Spark session of the test run does not download anything.
# Every step is skipped when its result is already there; timings are printed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.cache/venv"
bin="$repo/.cache/bin"
VERSITYGW_VERSION="v1.8.0"

spark=0
for arg in "$@"; do
  case "$arg" in
    --spark) spark=1 ;;
    *) echo "usage: $0 [--spark]" >&2; exit 2 ;;
  esac
done

step() { # step NAME CMD... : run and print how long it took
  local name="$1"; shift
  local t0=$SECONDS
  "$@"
  echo "setup: $name done in $((SECONDS - t0)) s"
}

# pip reinstalls nothing when the pins are satisfied, but it still asks the
# index; a stamp holding the requirements' hash skips even that.
pip_install() { # pip_install REQFILE STAMP
  local req="$1" stamp="$2" sum
  sum="$(sha256sum "$req" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
    echo "setup: $(basename "$req") already installed"
    return
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$sum" >"$stamp"
}

make_venv() {
  if [[ -x "$venv/bin/python" ]]; then
    echo "setup: venv already at $venv"
  else
    python3 -m venv "$venv"
  fi
}

install_versitygw() {
  # `go install` builds report "Version: git", so a stamp records the pin.
  local stamp="$bin/versitygw.version"
  if [[ -x "$bin/versitygw" && -f "$stamp" && "$(cat "$stamp")" == "$VERSITYGW_VERSION" ]]; then
    echo "setup: versitygw $VERSITYGW_VERSION already at $bin/versitygw"
    return
  fi
  mkdir -p "$bin"
  (cd "$repo" && GOBIN="$bin" GOFLAGS=-buildvcs=false go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION")
  echo "$VERSITYGW_VERSION" >"$stamp"
}

# delta-spark's configure_spark_with_delta_pip adds spark.jars.packages; Ivy
# fetches them from Maven Central at session start. Doing it once here makes
# the failure (if any) a setup failure with Ivy's own message.
resolve_spark_jars() {
  local stamp="$repo/.cache/ivy2/.interop-delta-jars" sum
  sum="$(sha256sum "$here/requirements-spark.txt" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
    echo "setup: delta jars already resolved in $repo/.cache/ivy2"
    return
  fi
  SPARK_IVY_DIR="$repo/.cache/ivy2" "$venv/bin/python" "$here/spark_session.py" --warm
  echo "$sum" >"$stamp"
}

step "venv" make_venv
step "python readers" pip_install "$here/requirements.txt" "$venv/.interop-requirements"
step "versitygw" install_versitygw
if [[ $spark == 1 ]]; then
  if ! command -v java >/dev/null; then
    echo "setup: --spark needs a Java 17+ runtime (java not on PATH)" >&2
    exit 1
  fi
  step "pyspark + delta-spark" pip_install "$here/requirements-spark.txt" "$venv/.interop-spark-requirements"
  step "delta jars (Ivy, Maven Central)" resolve_spark_jars
fi
