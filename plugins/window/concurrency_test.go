package window

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Several pipeline threads share one processor. Every event is on time whatever
// the interleaving (disorder < delay), some batches are delivered twice
// concurrently; the final windows must count every event exactly once.
func TestConcurrentThreadsCountEveryEventOnce(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	const threads, batches, perBatch = 8, 40, 25
	base := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	want := map[string]int{} // window start|city → rows
	all := make([][]service.MessageBatch, threads)
	rng := rand.New(rand.NewSource(1))
	for th := 0; th < threads; th++ {
		off := 0
		for b := 0; b < batches; b++ {
			var batch service.MessageBatch
			for k := 0; k < perBatch; k++ {
				ts := base.Add(time.Duration(rng.Int63n(int64(9 * time.Minute))))
				city := []string{"FR", "US", "DE"}[rng.Intn(3)]
				batch = append(batch, msg(city, ts.Format(time.RFC3339Nano), 1, 1, th, off))
				want[ts.Truncate(5*time.Minute).Format("15:04")+"|"+city]++
				off++
			}
			all[th] = append(all[th], batch)
		}
	}
	var wg sync.WaitGroup
	for th := 0; th < threads; th++ {
		wg.Add(1)
		go func(th int) {
			defer wg.Done()
			for b, batch := range all[th] {
				if _, err := p.ProcessBatch(t.Context(), delivered(batch)); err != nil {
					t.Error(err)
				}
				if b%7 == 0 { // a redelivery, racing the other threads
					if _, err := p.ProcessBatch(t.Context(), delivered(batch)); err != nil {
						t.Error(err)
					}
				}
			}
		}(th)
	}
	wg.Wait()
	// Two more batches, moving every partition on, close every window
	// whatever the emit timing.
	var closing service.MessageBatch
	for th := 0; th < threads; th++ {
		closing = append(closing, msg("ZZ", "2026-03-14T01:00:00Z", 0, 0, th, batches*perBatch))
	}
	rows, _ := run(t, p, closing)
	more, _ := run(t, p, service.MessageBatch{msg("ZZ", "2026-03-14T01:00:01Z", 0, 0, 99, 0)})
	rows = append(rows, more...)
	got := map[string]int{}
	for _, r := range rows {
		start, _ := time.Parse(time.RFC3339, r.body["window_start"].(string))
		got[start.Format("15:04")+"|"+r.body["city"].(string)] += int(r.body["cnt"].(float64))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("windows\n got %v\nwant %v", got, want)
	}
}
