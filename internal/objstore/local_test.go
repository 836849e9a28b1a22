package objstore

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A temp file older than staleTempAge (a writer killed mid-write left it)
// is removed when the store opens; a fresh one (a live writer's) and other
// files are not.
func TestNewLocalSweepsStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "_delta_log", tmpPrefix+"00001.json-123")
	fresh := filepath.Join(dir, tmpPrefix+"rides_agg-456")
	keep := filepath.Join(dir, "rides_agg")
	for _, p := range []string{old, fresh, keep} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * staleTempAge)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(keep, past, past); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLocal(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("stale temp file kept: %v", err)
	}
	for _, p := range []string{fresh, keep} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s removed: %v", p, err)
		}
	}
}
