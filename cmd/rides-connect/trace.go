package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/trace"
)

// traceDirEnv names a directory to write a Go execution trace of the whole
// process to (trace-<pid>.out), from main's start to its exit. A debug aid for
// what /debug/pprof/trace cannot show: the start-up before the HTTP server is
// up and the shutdown (docs/benchmarks.md, "Where the wall goes").
const traceDirEnv = "RIDES_CONNECT_TRACE_DIR"

// startTrace starts the trace when traceDirEnv is set; the returned stop
// flushes it (call it before os.Exit). A trace that cannot start is reported
// and skipped: it must never stop the job.
func startTrace() (stop func()) {
	dir := os.Getenv(traceDirEnv)
	if dir == "" {
		return func() {}
	}
	path := filepath.Join(dir, fmt.Sprintf("trace-%d.out", os.Getpid()))
	f, err := os.Create(path)
	if err == nil {
		err = trace.Start(f)
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: no trace: %v\n", traceDirEnv, err)
		return func() {}
	}
	return func() {
		trace.Stop()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %s: %v\n", traceDirEnv, path, err)
		}
	}
}
