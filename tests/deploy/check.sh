#!/usr/bin/env bash
# Offline checks of the container files (there is no Docker engine on CI machines):
# docker-compose.yml validated by Debian's docker-compose, the Dockerfile by dockerfilelint.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=.cache/deploy
mkdir -p "$cache"

if ! command -v docker-compose >/dev/null; then
  echo "installing docker-compose (Debian) for offline validation"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq docker-compose >/dev/null
fi
docker-compose -f docker-compose.yml config -q
echo "docker-compose.yml: valid"

if [ ! -x "$cache/node_modules/.bin/dockerfilelint" ]; then
  npm install --silent --prefix "$cache" dockerfilelint@1.8.0 >/dev/null
fi
"$cache/node_modules/.bin/dockerfilelint" Dockerfile
echo "Dockerfile: no lint findings"
