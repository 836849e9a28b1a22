#!/usr/bin/env bash
# make test-deploy: the deployment files proven by running them (no Docker engine here).
#  1. offline lint: docker-compose.yml by Debian's docker-compose, the Dockerfile by dockerfilelint;
#  2. go test in the nested module tests/deploy (its heavy dependencies stay out of the main go.mod):
#     - the Dockerfile's image built in Go (go-containerregistry, OCI layout) and compared with it,
#     - that image run under runc through the demo, SIGTERM and a restart,
#     - deploy/kubernetes (the silver job's StatefulSet) and its overlay deploy/kubernetes-scaleout
#       rendered by kustomize, decoded strictly into k8s.io/api types, checked; the KEDA
#       ScaledObject validated against KEDA's CRD schemas,
#     - docker-compose.yml started as local processes (Kafka, versitygw, init steps, simulator,
#       two replicas of the rides job as with --scale rides=2, Prometheus),
#     - deploy/kubernetes installed with kubectl on a real control plane (etcd, kube-apiserver,
#       kube-controller-manager, KEDA's operator and metrics adapter) and autoscaled by KEDA on the
#       lag of a real broker.
# Installs what it needs: Debian runc, prometheus, docker-compose; versitygw (go install, the
# version docker-compose.yml runs, shared with tests/s3/run.sh); Kafka jars via tests/realkafka/broker.sh;
# the control plane's binaries built from Go modules (tests/deploy/controlplane/build.sh, ~10 min cold).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
cache=.cache/deploy
mkdir -p "$cache"

missing=()
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v runc >/dev/null || missing+=(runc)
command -v prometheus >/dev/null || missing+=(prometheus)
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
if ((${#missing[@]})); then
  echo "installing ${missing[*]} (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

docker-compose -f docker-compose.yml config -q
echo "docker-compose.yml: valid"

if [ ! -x "$cache/node_modules/.bin/dockerfilelint" ]; then
  npm install --silent --prefix "$cache" dockerfilelint@1.8.0 >/dev/null
fi
"$cache/node_modules/.bin/dockerfilelint" Dockerfile
echo "Dockerfile: no lint findings"

# versitygw at the version of docker-compose.yml's s3 image (the test checks they agree).
vgw_version=$(sed -n 's|.*image: versity/versitygw:\(v[0-9.]*\).*|\1|p' docker-compose.yml)
vgw="$repo/.cache/bin/versitygw"
if [[ ! -x "$vgw" ]] || ! go version -m "$vgw" | grep -q "mod.*$vgw_version"; then
  echo "installing versitygw $vgw_version (go install)"
  mkdir -p .cache/bin
  GOBIN="$repo/.cache/bin" go install "github.com/versity/versitygw/cmd/versitygw@$vgw_version"
fi

# KEDA's CRDs and Kafka scaler source, which deploy/kubernetes/keda-scaledobject.yaml is
# checked against (a module download; build.sh builds the same release for the control plane).
keda_version=$(sed -n 's/^const kedaVersion = "\(v[0-9.]*\)"/\1/p' tests/deploy/scaleout_test.go)
keda_dir=$(go mod download -json "github.com/kedacore/keda/v2@$keda_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')

# The Prometheus Operator's CRDs, for servicemonitor.yaml and prometheusrule.yaml on the control plane.
promop_version=$(sed -n 's/^const prometheusOperatorVersion = "\(v[0-9.]*\)"/\1/p' tests/deploy/cluster_test.go)
promop_dir=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$promop_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')

controlplane="$repo/.cache/controlplane"
bash tests/deploy/controlplane/build.sh "$controlplane"

cd tests/deploy
# -mod=mod: the nested module follows the main module (replace ../..) without a tidy after each of its changes.
DEPLOY_REQUIRE=1 VERSITYGW="$vgw" PROMETHEUS="$(command -v prometheus)" KEDA_MODULE_DIR="$keda_dir" CONTROL_PLANE_BIN="$controlplane" \
  PROMETHEUS_OPERATOR_DIR="$promop_dir" \
  go test -mod=mod -count=1 -timeout 15m -v . "$@"
