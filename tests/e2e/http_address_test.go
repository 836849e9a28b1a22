package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A job whose http.address is taken by another process stops at start with
// exit status 1 and a message naming http.address: Benthos alone logs the
// listen error and runs on without /metrics, /ready and /ping.
func TestAnHTTPAddressInUseStopsTheJob(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	conf := filepath.Join(t.TempDir(), "gen.yaml")
	if err := os.WriteFile(conf, []byte(`
http: { address: "${HTTP_ADDRESS}" }
input:
  generate: { mapping: 'root = "x"', interval: 100ms }
output:
  drop: {}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-c", conf)
	cmd.Env = append(os.Environ(), "HTTP_ADDRESS="+taken.Addr().String())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v (want status 1, the job stopped by itself):\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, "http.address") && strings.Contains(line, "address already in use") {
			if !logfmtLine.MatchString(line) {
				t.Errorf("not a logfmt line: %s", line)
			}
			return
		}
	}
	t.Fatalf("no message naming http.address and the listen error:\n%s", out)
}
