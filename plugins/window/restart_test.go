package window

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Restarts at random points, with the input redelivering from a committed
// position at or before the crash (as Kafka does), give the same windows as a
// run without crashes; a window emitted twice carries the same seq, id and values.
func TestRestartsAndRedeliveryGiveTheNoCrashResult(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { restartScenario(t, seed) })
	}
}

// delivered is a delivery of b: new messages of the same records, as Kafka
// (and Benthos' replay of a nack) give: the window releases the content of
// the messages it consumes.
func delivered(b service.MessageBatch) service.MessageBatch {
	out := make(service.MessageBatch, len(b))
	for i, m := range b {
		out[i] = m.Copy()
	}
	return out
}

func restartScenario(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	base := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	var batches []service.MessageBatch
	off := map[int]int{}
	for b := 0; b < 30; b++ {
		var batch service.MessageBatch
		for k := 0; k < 1+rng.Intn(6); k++ {
			part := rng.Intn(3)
			// Event time moves forward ~2 min per batch with up to 12 min of disorder:
			// some rows are late, some windows close on each batch.
			ts := base.Add(time.Duration(b)*2*time.Minute - time.Duration(rng.Int63n(int64(12*time.Minute))))
			batch = append(batch, msg([]string{"FR", "US"}[rng.Intn(2)], ts.Format(time.RFC3339Nano), float64(rng.Intn(50)), 1, part, off[part]))
			off[part]++
		}
		batches = append(batches, batch)
	}

	// The reference: one process, no crash.
	ref := map[string]emitted{}
	p := build(t, ridesYAML, service.MockResources(service.MockResourcesOptAddCache("window_state")), newClock())
	for _, b := range batches {
		rows, _ := run(t, p, delivered(b))
		for _, r := range rows {
			ref[r.id] = r
		}
	}

	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	got := map[string]emitted{}
	var sent [][]string // ids emitted by each processed batch, in processing order
	p = build(t, ridesYAML, res, newClock())
	for next := 0; next < len(batches); {
		rows, _ := run(t, p, delivered(batches[next]))
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.id)
			if prev, seen := got[r.id]; seen && (prev.seq != r.seq || fmt.Sprint(prev.body) != fmt.Sprint(r.body)) {
				t.Fatalf("window %s emitted twice differently: %v seq %d, then %v seq %d", r.id, prev.body, prev.seq, r.body, r.seq)
			}
			got[r.id] = r
		}
		sent = append(sent, ids)
		next++
		if rng.Intn(4) == 0 { // crash; the input redelivers the last 0–3 (unacked) batches
			p = build(t, ridesYAML, res, newClock())
			n := min(next, rng.Intn(4))
			next -= n
			for _, ids := range sent[len(sent)-n:] {
				if rng.Intn(2) == 0 { // their rows never reached the sink
					for _, id := range ids {
						delete(got, id)
					}
				}
			}
		}
	}
	if a, b := dump(ref), dump(got); a != b {
		t.Fatalf("with crashes:\n%s\nwithout:\n%s", b, a)
	}
	if len(ref) == 0 {
		t.Fatal("scenario emitted nothing")
	}
}

func dump(m map[string]emitted) string {
	var lines []string
	for id, r := range m {
		lines = append(lines, fmt.Sprintf("%s seq=%d %v", id, r.seq, r.body))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
