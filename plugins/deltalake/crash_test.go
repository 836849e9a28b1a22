package deltalake

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

var errCrash = errors.New("injected crash")

// startOutput is one "process": a fresh output (fresh trackers, fresh
// snapshot) on the table at path, with optional fault hooks.
func startOutput(t *testing.T, path, mode string, hooks delta.Hooks) *output {
	t.Helper()
	conf, err := outputSpec().ParseYAML(strings.ReplaceAll(`
  path: `+path+schemaYAML+`
  idempotency: { mode: `+mode+`, app_id: rides }`, "\n  ", "\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := outputConfigFromParsed(conf)
	if err != nil {
		t.Fatal(err)
	}
	o := newOutput(c, 1, nil, nil)
	o.hooks = hooks
	if err := o.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	return o
}

func withOffsets(b service.MessageBatch, first int) service.MessageBatch {
	for i, m := range b {
		m.MetaSetMut("kafka_topic", "rides")
		m.MetaSetMut("kafka_partition", "3")
		m.MetaSetMut("kafka_offset", first+i)
	}
	return b
}

// TestCrashRecovery kills the writer between data upload and commit, and
// between commit and ack; after a restart and a redelivery every row is in
// the table exactly once and only orphan data files remain.
func TestCrashRecovery(t *testing.T) {
	for _, mode := range []string{"sequence", "kafka"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			batch := func(seq int) service.MessageBatch {
				b := emission(seq, "PARIS", "LYON")
				if mode == "kafka" {
					b = withOffsets(b, seq*10)
				}
				return b
			}
			crashAt := func(which string) delta.Hooks {
				if which == "upload" {
					return delta.Hooks{AfterUpload: func() error { return errCrash }}
				}
				return delta.Hooks{AfterCommit: func() error { return errCrash }}
			}

			// Emission 1: crash after the parquet upload, before the commit.
			o := startOutput(t, dir, mode, crashAt("upload"))
			if err := o.WriteBatch(ctx, batch(1)); !errors.Is(err, errCrash) {
				t.Fatalf("expected the injected crash, got %v", err)
			}
			// Restart and redeliver (the input never saw an ack).
			o = startOutput(t, dir, mode, crashAt("commit"))
			// Emission 1 again, then emission 2 crashing after its commit.
			if err := o.WriteBatch(ctx, batch(1)); !errors.Is(err, errCrash) {
				t.Fatalf("expected the injected crash after commit, got %v", err)
			}
			o = startOutput(t, dir, mode, delta.Hooks{})
			for _, seq := range []int{1, 2, 2, 3} { // 1 redelivered, 2 twice, 3 new
				if err := o.WriteBatch(ctx, batch(seq)); err != nil {
					t.Fatal(err)
				}
			}

			st, _ := objstore.NewLocal(dir)
			snap, err := delta.LoadSnapshot(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := snap.ReadRows(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			count := map[int64]int{}
			for _, r := range rows {
				count[r["cnt"].(int64)]++
			}
			for _, seq := range []int64{1, 2, 3} {
				for i := int64(0); i < 2; i++ {
					if n := count[seq*100+i]; n != 1 {
						t.Errorf("row cnt=%d present %d times, want exactly once", seq*100+i, n)
					}
				}
			}
			if len(rows) != 6 {
				t.Fatalf("%d rows, want 6", len(rows))
			}
			// The upload before the first crash left an orphan, nothing else.
			objs, _ := st.List(ctx, "", "")
			var parquet int
			for _, ob := range objs {
				if strings.HasSuffix(ob.Key, ".parquet") && !strings.HasPrefix(ob.Key, "_delta_log/") {
					parquet++
				}
			}
			if orphans := parquet - len(snap.Files); orphans != 1 {
				t.Fatalf("%d orphan files, want 1 (the upload of the crashed attempt)", orphans)
			}
		})
	}
}

// TestSchemaChangedByAnotherWriter: the output reconnects (re-validating the
// table) instead of failing every batch after a concurrent ADD COLUMNS.
func TestSchemaChangedByAnotherWriter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := startOutput(t, dir, "sequence", delta.Hooks{})
	if err := o.WriteBatch(ctx, emission(1, "PARIS")); err != nil {
		t.Fatal(err)
	}
	st, _ := objstore.NewLocal(dir)
	snap, _ := delta.LoadSnapshot(ctx, st)
	evolved := snap.Schema
	evolved.Fields = append(append([]delta.Field{}, evolved.Fields...), delta.Field{Name: "note", Type: delta.Type{Name: "string"}, Nullable: true})
	if _, err := delta.CreateOrOpen(ctx, st, delta.TableConfig{Schema: evolved, SchemaEvolution: true}, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.WriteBatch(ctx, emission(2, "PARIS")); !errors.Is(err, service.ErrNotConnected) {
		t.Fatalf("WriteBatch after a schema change = %v, want ErrNotConnected (reconnect)", err)
	}
	if err := o.Connect(ctx); err != nil {
		t.Fatalf("reconnect refused a table with an added nullable column: %v", err)
	}
	if err := o.WriteBatch(ctx, emission(2, "PARIS")); err != nil {
		t.Fatal(err)
	}
	rows, err := delta.ReadAllRows(ctx, st)
	if err != nil || len(rows) != 2 || rows[1]["note"] != nil {
		t.Fatalf("rows %v, %v", rows, err)
	}
}

func TestOutputLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	conf, err := outputSpec().ParseYAML(strings.ReplaceAll(`
  path: `+dir+schemaYAML+`
  idempotency: { mode: sequence, app_id: rides }`, "\n  ", "\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := outputConfigFromParsed(conf)
	if err != nil {
		t.Fatal(err)
	}
	o := newOutput(c, 1, nil, nil)
	if err := o.WriteBatch(ctx, emission(1, "PARIS")); !errors.Is(err, service.ErrNotConnected) {
		t.Fatalf("WriteBatch before Connect = %v, want ErrNotConnected", err)
	}
	if err := o.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.Connect(ctx); err != nil {
		t.Fatalf("second Connect: %v", err)
	}
	// A message without window_emit_seq cannot be written idempotently: dropped
	// (counted), not retried forever, and the rest of the batch is written.
	noSeq := service.NewMessage([]byte(`{"city":"NICE","cnt":1}`))
	if err := o.WriteBatch(ctx, append(emission(1, "PARIS"), noSeq)); err != nil {
		t.Fatal(err)
	}
	st, _ := objstore.NewLocal(dir)
	rows, _ := delta.ReadAllRows(ctx, st)
	if len(rows) != 1 || rows[0]["city"] != "PARIS" {
		t.Fatalf("rows %v", rows)
	}
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.WriteBatch(ctx, emission(2, "PARIS")); err == nil {
		t.Fatal("WriteBatch after Close succeeded")
	}
}
