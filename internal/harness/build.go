package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// RepoRoot finds the module root from the caller's working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// BuildBinary compiles cmd/rides-connect into dir and returns its path.
func BuildBinary(repoRoot, dir string) (string, error) {
	return BuildBinaryTags(repoRoot, dir, "")
}

// BuildBinaryTags is BuildBinary with build tags (comma-separated; "" = none),
// e.g. the test-only unsafe_no_txn of docs/faults.md.
func BuildBinaryTags(repoRoot, dir, tags string) (string, error) {
	bin := filepath.Join(dir, "rides-connect")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	args := []string{"build", "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, "./cmd/rides-connect")...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}
