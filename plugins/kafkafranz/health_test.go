package kafkafranz

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func readyCode(mux *http.ServeMux) int {
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
	return rec.Code
}

func waitReadyCode(t *testing.T, mux *http.ServeMux, want int, why string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for readyCode(mux) != want {
		if time.Now().After(deadline) {
			t.Fatalf("/ready did not answer %d within 30 s: %s", want, why)
		}
		time.Sleep(20 * time.Millisecond) // polling the stream's state
	}
}

// The brokers refuse every produce to the topic (a fault injected into
// kfake, then removed): the output reports not ready after not_ready_after,
// acknowledges nothing meanwhile, and once the fault is gone delivers every
// record exactly once and is ready again, without a restart.
func TestOutputNotReadyWhileProducesFailThenResumes(t *testing.T) {
	c, addr := newCluster(t, kfake.SeedTopics(2, "out"))
	mux := http.NewServeMux()
	sb := service.NewStreamBuilder()
	sb.SetHTTPMux(mux)
	if err := sb.SetLoggerYAML("level: off"); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddOutputYAML(fmt.Sprintf(`
label: dead_letter
kafka_franz:
  seed_brokers: [ %q ]
  topic: out
  key: ${! meta("k") }
  timeout: 2s
  not_ready_after: 300ms
`, addr)); err != nil {
		t.Fatal(err)
	}
	prod, err := sb.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	strm, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	var run sync.WaitGroup
	run.Add(1)
	go func() { defer run.Done(); _ = strm.Run(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var fault *kfake.FaultHandle
	defer func() {
		cancel()
		if fault != nil {
			fault.Remove()
		}
		_ = strm.StopWithin(10 * time.Second)
		run.Wait()
	}()
	// send replays a nacked batch, as the kafka_franz input does.
	send := func(b service.MessageBatch) error {
		for {
			if err := prod(ctx, b); err == nil || ctx.Err() != nil {
				return err
			}
		}
	}
	batch := func(from, n int) service.MessageBatch {
		var b service.MessageBatch
		for i := from; i < from+n; i++ {
			m := service.NewMessage(fmt.Appendf(nil, "v-%d", i))
			m.MetaSetMut("k", fmt.Sprintf("k-%d", i))
			b = append(b, m)
		}
		return b
	}
	if err := send(batch(0, 10)); err != nil {
		t.Fatal(err)
	}
	waitReadyCode(t, mux, http.StatusOK, "the brokers take records")

	fault = c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "out", Err: kerr.TopicAuthorizationFailed, Count: -1})
	sent := make(chan error, 1)
	go func() { sent <- send(batch(10, 20)) }()
	waitReadyCode(t, mux, http.StatusServiceUnavailable, "every produce fails")
	select {
	case err := <-sent:
		t.Fatalf("a batch was acknowledged while every produce failed (%v)", err)
	default:
	}
	if fault.Hits() == 0 {
		t.Fatal("the fault was never hit")
	}
	fault.Remove()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	waitReadyCode(t, mux, http.StatusOK, "the fault is gone and the batch was delivered")

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]int{}
	for len(seen) < 30 && ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
		pcancel()
	}
	var dup []string
	for v, n := range seen {
		if n != 1 {
			dup = append(dup, fmt.Sprintf("%s x%d", v, n))
		}
	}
	if len(seen) != 30 || len(dup) > 0 {
		t.Fatalf("topic holds %d distinct records (want 30), repeated: %s", len(seen), strings.Join(dup, ", "))
	}
}
