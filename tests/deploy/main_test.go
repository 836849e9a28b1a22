// Package deploy proves the deployment files by running them: the container
// image built in Go from the Dockerfile's inputs and run under runc, the
// Kubernetes manifests rendered by kustomize and decoded strictly into
// Kubernetes' own types, and docker-compose.yml started as local processes.
// `make test-deploy` runs it (tests/deploy/check.sh).
package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/miaradia/rides-connect/tests/deploy/image"
)

const version = "deploy-test"

var (
	repoRoot string
	binary   string // static build of ./cmd/rides-connect, as the Dockerfile makes it
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		var err error
		if repoRoot, err = filepath.Abs("../.."); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir, err := os.MkdirTemp("", "rides-deploy-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if binary, err = image.BuildBinary(repoRoot, dir, version); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

func ridesImage(t *testing.T) image.Spec {
	t.Helper()
	ca := os.Getenv("CA_CERTS")
	if ca == "" {
		ca = "/etc/ssl/certs/ca-certificates.crt"
	}
	if _, err := os.Stat(ca); err != nil {
		t.Fatalf("CA certificates for the image: %v (install Debian's ca-certificates or set CA_CERTS)", err)
	}
	return image.RidesConnect(repoRoot, binary, ca)
}
