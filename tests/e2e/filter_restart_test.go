package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A user adds a filter before the window (a mapping with deleted()). A run
// in which it dropped every record of a partition commits past them; the
// next start found no state naming that commit (stage local) or a state
// covering less than it (stage full), and held the job for good. Both forms
// of the job, each with the filter, run through it and write the reference
// windows of the rides that pass it.
func TestAFilteredRunBetweenRestartsIsNoLostState(t *testing.T) {
	t.Parallel()
	eachHoldConfig(t, func(t *testing.T, c holdConfig) {
		src, err := os.ReadFile(filepath.Join(repoRoot, "config", c.config))
		if err != nil {
			t.Fatal(err)
		}
		const parse = "    - label: parse_ride\n"
		if !strings.Contains(string(src), parse) {
			t.Fatalf("config/%s has no %q to put the filter before", c.config, strings.TrimSpace(parse))
		}
		filtered := strings.Replace(string(src), parse,
			"    - label: drop_tests\n      mapping: 'root = if content().string().contains(\"TEST-RIDE\") { deleted() }'\n"+parse, 1)
		conf := filepath.Join(t.TempDir(), c.config)
		if err := os.WriteFile(conf, []byte(filtered), 0o644); err != nil {
			t.Fatal(err)
		}
		restartsThrough(t, conf, [][]byte{[]byte(`{"city":"TEST-RIDE"}`), []byte(`"TEST-RIDE"`)})
	})
}
