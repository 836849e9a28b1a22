#!/usr/bin/env bash
# S3 tier of the Delta writer: runs the S3 tests of plugins/deltalake/delta
# (racing writers, injected 503, lost PUT response)
# against a real S3 API server, versitygw (posix backend), on 127.0.0.1.
#
# Uses $VERSITYGW, else <repo>/.cache/bin/versitygw (installed by
# tests/interop/setup.sh), else installs it with
#   go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
# (~1.5 min cold). The server listens on a free loopback port, stores into a
# temp dir and is stopped by PID on exit. The tests themselves take ~5 s.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${VERSITYGW:-$repo/.cache/bin/versitygw}"
if [[ ! -x "$bin" ]]; then
  mkdir -p "$repo/.cache/bin"
  GOBIN="$repo/.cache/bin" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
  bin="$repo/.cache/bin/versitygw"
fi

root="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
access=s3tierkey
secret=s3tiersecret123
bucket=lake
mkdir -p "$root/data/$bucket" "$root/meta"

"$bin" --port "127.0.0.1:$port" --access "$access" --secret "$secret" \
  posix --sidecar "$root/meta" "$root/data" >"$root/versitygw.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$root"; }
trap cleanup EXIT

for _ in $(seq 1 100); do # wait for the listener, not for time
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$root/versitygw.log"; exit 1; fi
  sleep 0.1
done

cd "$repo"
DELTA_S3_ENDPOINT="http://127.0.0.1:$port" DELTA_S3_BUCKET="$bucket" \
DELTA_S3_ACCESS_KEY="$access" DELTA_S3_SECRET_KEY="$secret" \
  go test -count=1 -run 'S3' -v ./plugins/deltalake/delta "$@"
