package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigFilesAreTheOnesBenthosReads(t *testing.T) {
	for args, want := range map[string][]string{
		"-c a.yaml":                    {"a.yaml"},
		"--config=a.yaml -r b.yaml":    {"a.yaml", "b.yaml"},
		"lint a.yaml b.yaml":           {"a.yaml", "b.yaml"},
		"lint --deprecated a.yaml":     {"a.yaml"},
		"-r r.yaml lint a.yaml":        {"r.yaml", "a.yaml"},
		"kafka topic list --brokers x": nil,
		"delta optimize ./data/t":      nil,
	} {
		if got := configFiles(strings.Fields(args)); !reflect.DeepEqual(got, want) {
			t.Errorf("configFiles(%s) = %v, want %v", args, got, want)
		}
	}
}

// An aggregate copied and not renamed replaced the first one silently.
func TestAKeyDefinedTwiceInAMappingIsReported(t *testing.T) {
	f := filepath.Join(t.TempDir(), "job.yaml")
	err := os.WriteFile(f, []byte(`
pipeline:
  processors:
    - tumbling_window:
        aggregates:
          revenue: { op: sum, value: this.price }
          cnt: { op: count }
          revenue: { op: max, value: this.price }
        group_by: &g
          city: this.city
    - tumbling_window:
        group_by:
          <<: *g
          city: this.town
        watermark: { delay: ${DELAY:10m}, idle_timeout: ${UNSET_IN_THIS_TEST} }
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	errs := dupKeyErrors([]string{f})
	if len(errs) != 1 || !strings.Contains(errs[0], f+"(8,11) key revenue is defined twice in this mapping (also at line 6)") {
		t.Fatalf("errors %q, want one for revenue at line 8", errs)
	}
}

func TestTheShippedConfigsHaveNoKeyDefinedTwice(t *testing.T) {
	files, _ := filepath.Glob("../../config/*.yaml")
	if len(files) < 3 {
		t.Fatalf("config files: %v", files)
	}
	if errs := dupKeyErrors(files); len(errs) > 0 {
		t.Fatal(strings.Join(errs, "\n"))
	}
}
