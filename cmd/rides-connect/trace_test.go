package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestTraceDirGetsATraceOfTheProcess(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(traceDirEnv, dir)
	stop := startTrace()
	stop()
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("trace-%d.out", os.Getpid())))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("go 1.")) {
		t.Fatalf("not a Go execution trace: starts with %q", b[:min(len(b), 16)])
	}
}

func TestNoTraceDirNoTrace(t *testing.T) {
	t.Setenv(traceDirEnv, "")
	dir := t.TempDir()
	t.Chdir(dir)
	startTrace()()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("wrote %v without %s", entries, traceDirEnv)
	}
}

func TestTraceDirMissingDoesNotStopTheJob(t *testing.T) {
	t.Setenv(traceDirEnv, filepath.Join(t.TempDir(), "missing"))
	startTrace()() // reports on stderr, returns a no-op
}
