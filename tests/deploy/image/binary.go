package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The build of the Dockerfile's build stage; tests compare these with its RUN line.
const (
	Package = "./cmd/rides-connect"
	// LDFlags with ${VERSION} as the Dockerfile writes it.
	LDFlags = "-s -w -X main.version=${VERSION}"
)

// BuildEnv is the environment the Dockerfile sets for go build.
var BuildEnv = []string{"CGO_ENABLED=0"}

// BuildFlags are the go build flags of the Dockerfile, before -ldflags and -o.
var BuildFlags = []string{"-trimpath"}

// BuildBinary compiles the static binary as the Dockerfile's build stage does
// and lints the configs it bakes in, as that stage does too.
func BuildBinary(repoRoot, outDir, version string) (string, error) {
	bin := filepath.Join(outDir, "rides-connect")
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-ldflags", os.Expand(LDFlags, func(string) string { return version }), "-o", bin, Package)
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), BuildEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %v: %v\n%s", args, err, out)
	}
	files := make([]string, len(Configs))
	for i, c := range Configs {
		files[i] = filepath.Join(repoRoot, "config", c)
	}
	lint := exec.Command(bin, append([]string{"lint"}, files...)...)
	if out, err := lint.CombinedOutput(); err != nil {
		return "", fmt.Errorf("rides-connect lint: %v\n%s", err, out)
	}
	return bin, nil
}
