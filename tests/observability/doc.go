// Package observability holds the observability test tier: the deploy/
// files (dashboard, alert rules, provisioning, Kubernetes manifests) checked
// against each other and against the metrics a real pipeline run exposes.
// The promtool checks are in check.sh.
package observability
