package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A config that lints but cannot be built (here a YAML merge key, which
// Benthos' lint resolves and its plugin config parser does not) must make the
// job exit non-zero saying why on stderr. The binary used to drop the error
// RunCLIToCode returned: it exited 1 after three info lines, with no reason.
func TestJobThatCannotStartSaysWhy(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "merge.yaml")
	if err := os.WriteFile(conf, []byte(`
input:
  generate: { mapping: 'root = "x"', count: 1, interval: "" }
output:
  switch:
    cases:
      - check: 'false'
        output:
          kafka_franz: &out { seed_brokers: [ "127.0.0.1:1" ], topic: never_used }
      - output:
          kafka_franz:
            <<: *out
`), 0o644); err != nil {
		t.Fatal(err)
	}
	lint := exec.Command(binary, "lint", conf)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Logf("lint refuses it now (%v: %s): the run below must still say why", err, out)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(binary, "-c", conf)
	cmd.Env = append(os.Environ(), "HTTP_ADDRESS=127.0.0.1:0")
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("exit: %v, want a non-zero status", err)
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill() // by its PID
		t.Fatal("the job did not exit within a minute")
	}
	if got := stderr.String(); !strings.Contains(got, "failed to init output") || !strings.Contains(got, "topic") {
		t.Fatalf("stderr %q: want the reason the output could not be built, naming the field", got)
	}
}
