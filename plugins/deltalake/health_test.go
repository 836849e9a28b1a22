package deltalake

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// ready asks the stream's /ready, as a Kubernetes probe would.
func ready(mux *http.ServeMux) int {
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
	return rec.Code
}

func waitReady(t *testing.T, mux *http.ServeMux, want int, why string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for ready(mux) != want {
		if time.Now().After(deadline) {
			t.Fatalf("/ready did not answer %d within 30 s: %s", want, why)
		}
		time.Sleep(20 * time.Millisecond) // polling the stream's state
	}
}

// S3 stops answering (503 on every request) while emissions keep coming: the
// output must report not ready after not_ready_after, hold the batches
// (nothing acked, nothing dropped), and when S3 is back deliver them by
// itself, each once, and be ready again.
func TestOutputNotReadyWhileS3IsDownThenResumes(t *testing.T) {
	fake := s3fake.Start(t, "lake")
	mux := http.NewServeMux()
	b := service.NewStreamBuilder()
	b.SetHTTPMux(mux)
	if err := b.SetLoggerYAML("level: off"); err != nil {
		t.Fatal(err)
	}
	if err := b.AddOutputYAML(`
label: rides_agg
delta_lake:
  path: s3a://lake/silver/rides_agg` + schemaYAML + `
  idempotency: { mode: sequence, app_id: rides_agg }
  commit_max_attempts: 2
  not_ready_after: 300ms
  s3: { endpoint: "` + fake.Endpoint + `", region: us-east-1, force_path_style: true, access_key_id: k, secret_access_key: s, max_attempts: 1 }
`); err != nil {
		t.Fatal(err)
	}
	prod, strm := buildProducing(t, b)
	var run sync.WaitGroup
	run.Add(1)
	go func() { defer run.Done(); _ = strm.Run(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer func() {
		// On failure S3 may still be down: end the retries, then stop.
		cancel()
		fake.SetDown(false)
		_ = strm.StopWithin(10 * time.Second)
		run.Wait()
	}()
	// send replays a nacked batch as the kafka_franz input does.
	send := func(batch service.MessageBatch) error {
		for {
			err := prod(ctx, batch)
			if err == nil || ctx.Err() != nil {
				return err
			}
		}
	}
	if err := send(emission(1, "PARIS", "LYON")); err != nil {
		t.Fatal(err)
	}
	waitReady(t, mux, http.StatusOK, "the table is reachable")

	fake.SetDown(true)
	sent := make(chan error, 1)
	go func() {
		for seq := 2; seq <= 3; seq++ {
			if err := send(emission(seq, "PARIS", "LYON")); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	waitReady(t, mux, http.StatusServiceUnavailable, "S3 answers 503 to every request")
	select {
	case err := <-sent:
		t.Fatalf("a batch was acknowledged while S3 was down (%v)", err)
	default:
	}

	fake.SetDown(false)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	waitReady(t, mux, http.StatusOK, "S3 is back and the batches were committed")

	st, err := objstore.Open(ctx, "s3://lake/silver/rides_agg", objstore.Options{S3: objstore.S3Options{
		Endpoint: fake.Endpoint, ForcePathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := delta.LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := snap.ReadRows(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rows {
		seen[r["city"].(string)+" "+r["win_start"].(string)]++
	}
	if len(rows) != 6 || len(seen) != 6 || snap.TxnVersion("rides_agg") != 3 {
		t.Fatalf("after the outage: %d rows (%d distinct), txn %d; want 6 rows once each, txn 3", len(rows), len(seen), snap.TxnVersion("rides_agg"))
	}
}
