#!/bin/sh
# Crash tier: builds cmd/rides-connect, runs it against an in-process kfake broker, kills it with
# SIGKILL at random points and checks the windows written. Needs only the Go toolchain; 30-120 s.
set -eu
cd "$(dirname "$0")/../.."
CRASH_TEST=1 exec go test -count=1 -v -timeout 10m ./tests/crash/ "$@"
