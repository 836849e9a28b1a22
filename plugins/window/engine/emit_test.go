package engine

import "testing"

// The default timing: the batch that moves the watermark past a window's end
// emits it, so nothing waits for more input (Spark's no-data batch).
func TestEmitAfterBatchClosesWindowsInTheBatchThatMovesTheWatermark(t *testing.T) {
	cfg := ridesConfig()
	cfg.Emit = EmitAfterBatch
	e := newEngine(t, cfg)
	res := e.Process([]Row{
		ride(t, "2026-03-14T00:01:00Z", "FR", 10, 5),
		ride(t, "2026-03-14T00:04:59.999Z", "FR", 20, 7),
	}, epoch)
	if res.New != nil {
		t.Fatalf("watermark 23:54:59 closes nothing, got %d rows", len(res.New.Rows))
	}
	res = e.Process([]Row{ride(t, "2026-03-14T00:15:00Z", "DE", 1, 1)}, epoch)
	if res.New == nil || len(res.New.Rows) != 1 || res.New.Seq != 1 {
		t.Fatalf("watermark 00:05 must close [00:00, 00:05) at once, got %+v", res.New)
	}
	if row := decoded(t, e, res.New.Rows[0]); row["cnt"] != float64(2) || row["revenue"] != float64(30) {
		t.Fatalf("row %v", row)
	}
	// That window is closed now: a row for it is late even though Spark's
	// backlog timing would still have let it in.
	res = e.Process([]Row{ride(t, "2026-03-14T00:02:00Z", "FR", 99, 1)}, epoch)
	if res.Status[0] != Late || res.New != nil {
		t.Fatalf("status %v, emission %+v: want Late and nothing emitted", res.Status[0], res.New)
	}
}

func TestEmitNextBatchWaitsForTheNextBatch(t *testing.T) {
	cfg := ridesConfig()
	cfg.Emit = EmitNextBatch
	e := newEngine(t, cfg)
	e.Process([]Row{ride(t, "2026-03-14T00:01:00Z", "FR", 10, 5)}, epoch)
	if res := e.Process([]Row{ride(t, "2026-03-14T00:15:00Z", "DE", 1, 1)}, epoch); res.New != nil {
		t.Fatal("next_batch emits with the watermark before the batch")
	}
	if res := e.Process(nil, epoch); res.New == nil || len(res.New.Rows) != 1 {
		t.Fatalf("the next (empty) batch must emit [00:00, 00:05), got %+v", res.New)
	}
}

func TestEmitModeValidated(t *testing.T) {
	cfg := ridesConfig()
	cfg.Emit = "whenever"
	if _, err := New(cfg); err == nil {
		t.Fatal("an unknown emit mode must be refused")
	}
}
