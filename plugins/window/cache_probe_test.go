package window

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/miaradia/rides-connect/plugins/checkpoint"
)

// A stage reads its cache only when a partition is assigned, and Benthos
// builds a cache resource on its first use: a cache config that cannot be
// built must still refuse the job at start, not fail every batch later.
//
// Lint names such a url too (plugins/checkpoint); this is the start of a
// config that was not linted (rides-connect --chilled).
func TestAStageCacheThatCannotBeBuiltIsRefusedAtStart(t *testing.T) {
	b := service.NewStreamBuilder()
	b.DisableLinting()
	err := b.SetYAML(`
input:
  generate: { mapping: "root = {}", count: 1, interval: "" }
pipeline:
  processors:
    - tumbling_window:
        stage: merge
        timestamp: this.ts
        size: 5m
        group_by: { city: this.city }
        aggregates: { cnt: { op: count } }
        state: { cache: merge_state }
output:
  drop: {}
cache_resources:
  - label: merge_state
    checkpoint:
      url: gs://lake/merge_state
logger:
  level: none
`)
	if err != nil {
		t.Fatal(err)
	}
	strm, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = strm.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), `state.cache "merge_state"`) || !strings.Contains(err.Error(), "gs") {
		t.Fatalf("Run = %v, want the job refused naming state.cache and the url", err)
	}
}
