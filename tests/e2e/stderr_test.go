package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/miaradia/rides-connect/internal/objstore"
)

// logfmtLine is one logfmt record: key=value pairs, values bare or quoted.
var logfmtLine = regexp.MustCompile(`^[^\s="]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)(?: [^\s="]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]*))*$`)

// With the table and the checkpoint on an S3-compatible server that sends no
// response checksums (as moto), everything the job prints is in its
// configured log format (logfmt): the AWS SDK's own lines ("SDK 2026/...
// DEBUG Response has no supported checksum...") went to stderr for every GET
// before. The job runs at DEBUG, is stopped and restarted so the checkpoint
// and the Delta log are read back (GETs with bodies).
func TestS3JobPrintsOnlyLogfmt(t *testing.T) {
	t.Parallel()
	endpoint := startS3WithoutChecksums(t, "lake", "ckpt")
	broker, err := harness.StartBroker(map[string]int32{"rides": 1, "rides_dlq": 1})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	dir := t.TempDir()
	opts := objstore.Options{S3: objstore.S3Options{Endpoint: endpoint, Region: "us-east-1",
		ForcePathStyle: true, AccessKeyID: "test", SecretAccessKey: "test"}}
	table, err := objstore.Open(context.Background(), "s3a://lake/silver/rides_agg", opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	rides := knownRides(time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), 120)
	var outputs []string
	for run, part := range [][]harness.Ride{rides[:60], rides[60:]} {
		want, err := harness.ReferenceWindows(rides[:60*(run+1)], 5*time.Minute, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		httpAddr, err := harness.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		stdout, stderr := filepath.Join(dir, fmt.Sprintf("stdout-%d", run)), filepath.Join(dir, fmt.Sprintf("stderr-%d", run))
		cmd := exec.Command(binary, "-c", filepath.Join(repoRoot, "config", "rides.yaml"))
		cmd.Env = append(os.Environ(),
			"KAFKA_BOOTSTRAP="+broker.Addr, "KAFKA_START=earliest", "HTTP_ADDRESS="+httpAddr, "LOG_LEVEL=DEBUG",
			"OUT_DELTA=s3a://lake/silver/rides_agg", "CHECKPOINT=s3a://ckpt/rides/",
			"S3_ENDPOINT="+endpoint, "S3_FORCE_PATH_STYLE=true", "AWS_REGION=us-east-1",
			"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
		cmd.Stdout, cmd.Stderr = create(t, stdout), create(t, stderr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() }) // by its PID; a no-op once it exited
		if err := broker.Produce(ctx, "rides", encode(t, part), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := harness.WaitForStoreRows(ctx, table, len(want)); err != nil {
			t.Fatalf("run %d: %v\nstderr: %s", run, err, readFile(stderr))
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("run %d: no exit 30 s after SIGTERM", run)
		}
		outputs = append(outputs, stdout, stderr)
	}

	var lines, debug int
	for _, f := range outputs {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			l := sc.Text()
			lines++
			if !logfmtLine.MatchString(l) || !strings.Contains(l, "level=") || !strings.Contains(l, "msg=") {
				t.Errorf("%s: a line outside the logfmt log format: %q", filepath.Base(f), l)
			}
			if strings.Contains(l, "level=debug") {
				debug++
			}
		}
		fh.Close()
	}
	// The check above means something only if the job did log, at DEBUG.
	if lines == 0 || debug == 0 {
		t.Fatalf("%d lines, %d at debug: the job's logs were not captured", lines, debug)
	}
}

func create(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// startS3WithoutChecksums serves gofakes3 on 127.0.0.1 without the
// x-amz-checksum-* response headers it echoes from uploads: many
// S3-compatible stores send none, which is what makes the SDK log.
func startS3WithoutChecksums(t *testing.T, buckets ...string) string {
	t.Helper()
	be := s3mem.New()
	for _, b := range buckets {
		if err := be.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := gofakes3.New(be, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(noChecksums{w}, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

type noChecksums struct{ http.ResponseWriter }

func (w noChecksums) strip() {
	for k := range w.Header() {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum") {
			w.Header().Del(k)
		}
	}
}

func (w noChecksums) WriteHeader(code int) { w.strip(); w.ResponseWriter.WriteHeader(code) }

func (w noChecksums) Write(b []byte) (int, error) { w.strip(); return w.ResponseWriter.Write(b) }
