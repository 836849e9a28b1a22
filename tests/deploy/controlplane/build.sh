#!/usr/bin/env bash
# Builds the control plane that TestKubernetesOnAControlPlane runs our manifests on, from the Go
# modules of this folder (each pins its versions in go.mod/go.sum; `tool` lines name what is built):
#   kubernetes/: etcd, kube-apiserver, kube-controller-manager, kubectl (Kubernetes v1.37.2; the
#                staging modules replaced by their published k8s.io/* v0.37.2 versions);
#   keda/:       KEDA's operator and metrics adapter (v2.21.0, kedaVersion in scaleout_test.go).
# Usage: build.sh OUT_DIR. Cached: skipped when OUT_DIR was built from the same go.sum files and Go.
# Cold on 2 cores: 575 s (module downloads and compile, ~9 GB of Go caches); then nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out"
stamp=$(cat "$here/kubernetes/go.sum" "$here/keda/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)-$(go env GOVERSION)
if [[ -f "$out/.stamp" && $(cat "$out/.stamp") == "$stamp" ]]; then
  echo "control plane binaries: cached in $out"
  exit 0
fi
t0=$(date +%s)
kube_version=$(sed -n 's/^\tk8s.io\/kubernetes v\(1\.[0-9]*\.[0-9]*\).*/\1/p' "$here/kubernetes/go.mod")
keda_version=$(sed -n 's/^\tgithub.com\/kedacore\/keda\/v2 \(v[0-9.]*\).*/\1/p' "$here/keda/go.mod")
minor=$(echo "$kube_version" | cut -d. -f2)
# Without these the binaries report v0.0.0-master, which KEDA and kubectl read.
kv=k8s.io/component-base/version
kflags="-X $kv.gitVersion=v$kube_version -X $kv.gitMajor=1 -X $kv.gitMinor=$minor -X $kv.gitTreeState=clean"
cd "$here/kubernetes"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $kflags" -o "$out/etcd" go.etcd.io/etcd/server/v3
for cmd in kube-apiserver kube-controller-manager kubectl; do
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $kflags" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
cd "$here/keda"
for cmd in operator adapter; do
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/kedacore/keda/v2/version.Version=$keda_version" \
    -o "$out/keda-$cmd" "github.com/kedacore/keda/v2/cmd/$cmd"
done
echo "$stamp" >"$out/.stamp"
echo "control plane binaries: built in $(($(date +%s) - t0)) s into $out (Kubernetes v$kube_version, KEDA $keda_version)"
