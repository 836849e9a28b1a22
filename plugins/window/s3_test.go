package window

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
	_ "github.com/miaradia/rides-connect/plugins/checkpoint"
)

// The seed keeps its checkpoint on S3: state written by one stream through a
// `checkpoint` cache on (fake) S3 is picked up by the next stream, which
// continues the windows and the emission sequence.
func TestStateOnS3SurvivesAStreamRestart(t *testing.T) {
	srv := s3fake.Start(t, "ckpt")
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	cache := fmt.Sprintf("label: window_state\ncheckpoint:\n  url: s3a://ckpt/rides/\n  s3:\n    endpoint: %s\n    region: us-east-1\n    force_path_style: true\n", srv.Endpoint)
	stream := func(batches ...service.MessageBatch) (rows []map[string]any) {
		sb := service.NewStreamBuilder()
		if err := sb.SetLoggerYAML("level: warn"); err != nil {
			t.Fatal(err)
		}
		if err := sb.AddCacheYAML(cache); err != nil {
			t.Fatal(err)
		}
		if err := sb.AddProcessorYAML("tumbling_window:\n  " + strings.ReplaceAll(strings.TrimSpace(ridesYAML), "\n", "\n  ")); err != nil {
			t.Fatal(err)
		}
		if err := sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
			for _, m := range b {
				raw, _ := m.AsBytes()
				var r map[string]any
				if err := json.Unmarshal(raw, &r); err != nil {
					return err
				}
				seq, _ := m.MetaGetMut("window_emit_seq")
				r["seq"] = seq
				rows = append(rows, r)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		send, err := sb.AddBatchProducerFunc()
		if err != nil {
			t.Fatal(err)
		}
		st, err := sb.Build()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- st.Run(context.Background()) }()
		for _, b := range batches {
			if err := send(context.Background(), b); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return rows
	}
	first := stream(
		service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 2, 1, 0, 0), msg("FR", "2026-03-14T00:09:00Z", 3, 1, 0, 1)},
		service.MessageBatch{msg("FR", "2026-03-14T00:16:00Z", 5, 1, 0, 2)}, // closes [00:00,00:05)
	)
	if len(first) != 1 || first[0]["revenue"] != 2.0 || first[0]["seq"] != int64(1) {
		t.Fatalf("first stream emitted %v", first)
	}
	// A new stream on the same S3 state: [00:05,00:10) still holds 3; a later
	// event closes it as emission 2 (after the restart's re-emission of 1).
	second := stream(service.MessageBatch{msg("FR", "2026-03-14T00:21:00Z", 7, 1, 0, 3)})
	var last map[string]any
	for _, r := range second {
		if r["seq"] == int64(2) {
			last = r
		}
	}
	if last == nil || last["revenue"] != 3.0 || last["window_start"] != "2026-03-14T00:05:00.000Z" {
		t.Fatalf("second stream emitted %v", second)
	}
}
