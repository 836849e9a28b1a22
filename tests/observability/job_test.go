package observability

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	// The same registrations as cmd/rides-connect.
	_ "github.com/miaradia/rides-connect/plugins/all"
	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

// job is config/rides.yaml running against an in-process broker, either in
// this process (StreamBuilder, the default) or as the rides-connect binary
// (RIDES_OBS_BINARY=1).
type job struct {
	scrapeURL string
	logs      *syncBuffer
	stop      func()
	exited    func() bool // the job ended on its own
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func jobEnv(t *testing.T, broker string) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		"KAFKA_BOOTSTRAP": broker,
		"KAFKA_START":     "earliest",
		"DLQ_TOPIC":       "rides_dlq",
		"OUT_DELTA":       filepath.Join(dir, "silver", "rides_agg"),
		"CHECKPOINT":      filepath.Join(dir, "checkpoints", "rides"),
		"LOG_FORMAT":      "json",
	}
}

// Progress every second so the test sees several events in a short run.
const progressEvery = "1s"

func startInProcess(t *testing.T, env map[string]string) *job {
	t.Helper()
	b := service.NewStreamBuilder()
	b.SetEnvVarLookupFunc(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	// Linting config/rides.yaml is the config tier's job (make test-config); this
	// test is about the metrics of a running job.
	b.DisableLinting()
	if err := b.SetYAML(string(read(t, "config/rides.yaml"))); err != nil {
		t.Fatalf("config/rides.yaml: %v", err)
	}
	if err := b.SetMetricsYAML("prometheus:\n  progress_interval: " + progressEvery + "\n"); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	b.SetLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	mux := http.NewServeMux()
	b.SetHTTPMux(mux)
	s, err := b.Build()
	if err != nil {
		t.Fatalf("building config/rides.yaml: %v", err)
	}
	srv := httptest.NewServer(mux) // 127.0.0.1, free port
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	ended := func() bool {
		select {
		case err := <-done:
			done <- err
			return true
		default:
			return false
		}
	}
	return &job{scrapeURL: srv.URL + "/metrics", logs: logs, exited: ended, stop: func() {
		if err := s.StopWithin(20 * time.Second); err != nil {
			t.Errorf("stopping the stream: %v", err)
		}
		cancel()
		<-done
		srv.Close()
	}}
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rides-connect")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rides-connect")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startBinary(t *testing.T, env map[string]string) *job {
	t.Helper()
	return runBinary(t, buildBinary(t), env, "-c", filepath.Join(root, "config/rides.yaml"),
		"--set", "metrics.prometheus.progress_interval="+progressEvery)
}

// runBinary starts bin with args; the HTTP server listens on a free
// 127.0.0.1 port passed as HTTP_ADDRESS.
func runBinary(t *testing.T, bin string, env map[string]string, args ...string) *job {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HTTP_ADDRESS="+addr)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	ended := func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}
	return &job{scrapeURL: "http://" + addr + "/metrics", logs: logs, exited: ended, stop: func() {
		// Only the child we started, by its PID.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("rides-connect (pid %d) ignored SIGTERM for 30s; killed", cmd.Process.Pid)
		}
	}}
}
