package window

import (
	"context"
	"fmt"
	"math/rand"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// The determinism property through the processor, as a pipeline runs it: the
// same per-partition record sequences, read by an input that interleaves
// partitions at random and cuts random batches, processed by 1..6 pipeline
// threads sharing the processor, with crashes after which the input re-reads
// from a committed position, must write byte-identical rows.

type ride struct {
	city      string
	ts        time.Time
	price     float64
	dist      float64
	part, off int
}

func genRides(rng *rand.Rand, parts int) [][]ride {
	base := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	logs := make([][]ride, parts)
	for p := range logs {
		n := 80 + rng.Intn(150)
		clock := base.Add(time.Duration(rng.Int63n(int64(8 * time.Minute))))
		for off := 0; off < n; off++ {
			clock = clock.Add(time.Duration(rng.Int63n(int64(80 * time.Second))))
			ts := clock.Add(-time.Duration(rng.Int63n(int64(5 * time.Minute))))
			if rng.Intn(40) == 0 {
				ts = ts.Add(-40 * time.Minute) // far behind its partition: late
			}
			logs[p] = append(logs[p], ride{city: []string{"PARIS", "LYON", "NICE"}[rng.Intn(3)], ts: ts,
				price: float64(rng.Intn(9000)) / 100, dist: rng.ExpFloat64() * 6.1, part: p, off: off})
		}
	}
	return logs
}

// message is the ride as the kafka_franz input delivers it.
func (r ride) message(prev, parts int) *service.Message {
	m := msg(r.city, r.ts.Format(time.RFC3339Nano), r.price, r.dist, r.part, r.off)
	m.MetaSetMut(prevOffsetMeta, prev)
	m.MetaSetMut(partitionsMeta, parts)
	return m
}

// runPipeline drives one processor (rebuilt after each crash over the same
// cache) with `threads` workers and returns window id → row JSON.
func runPipeline(t *testing.T, yaml string, logs [][]ride, threads int, rng *rand.Rand) map[string]string {
	t.Helper()
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	clk := newClock()
	p := build(t, yaml, res, clk)
	pos := make([]int, len(logs))  // next record the input reads, per partition
	done := make([]int, len(logs)) // records whose batch the pipeline finished (committable)
	var mu sync.Mutex
	rows := map[string]string{}
	conflict := ""
	collect := func(out []service.MessageBatch) {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range out {
			for _, m := range b {
				if m.GetError() != nil {
					continue
				}
				id, _ := m.MetaGet("window_id")
				body, _ := m.AsBytes()
				if old, ok := rows[id]; ok && old != string(body) && conflict == "" {
					conflict = fmt.Sprintf("window %s emitted as %s and as %s", id, old, body)
				}
				rows[id] = string(body)
			}
		}
	}
	for {
		// One session of the input: from pos, in random batches, until a crash.
		prev := make([]int, len(logs))
		for i := range prev {
			prev[i] = -1 // a new assignment starts a new chain
		}
		type job struct {
			batch service.MessageBatch
			ends  map[int]int
		}
		jobs := make(chan job)
		var wg sync.WaitGroup
		for w := 0; w < threads; w++ {
			wg.Add(1)
			go func(seed int64) {
				defer wg.Done()
				wr := rand.New(rand.NewSource(seed))
				for j := range jobs {
					for k := wr.Intn(40); k > 0; k-- { // upstream work of uneven length
						runtime.Gosched()
					}
					out, err := p.ProcessBatch(context.Background(), j.batch)
					if err != nil {
						t.Error(err)
						continue
					}
					collect(out)
					mu.Lock()
					for part, end := range j.ends {
						done[part] = max(done[part], end)
					}
					mu.Unlock()
				}
			}(rng.Int63())
		}
		crashAt := rng.Intn(30)
		for n := 0; ; n++ {
			var live []int
			for part := range logs {
				if pos[part] < len(logs[part]) {
					live = append(live, part)
				}
			}
			if len(live) == 0 || n == crashAt {
				break
			}
			j := job{ends: map[int]int{}}
			for k := 1 + rng.Intn(30); k > 0 && len(live) > 0; k-- {
				i := rng.Intn(len(live))
				part := live[i]
				r := logs[part][pos[part]]
				j.batch = append(j.batch, r.message(prev[part], len(logs)))
				prev[part] = r.off
				pos[part]++
				j.ends[part] = pos[part]
				if pos[part] == len(logs[part]) {
					live = append(live[:i], live[i+1:]...)
				}
			}
			jobs <- j
		}
		close(jobs)
		wg.Wait()
		clk.add(time.Second)
		finished := true
		for part := range logs {
			finished = finished && pos[part] == len(logs[part])
		}
		if finished {
			break
		}
		// Crash: a new processor over the same state; the input resumes at a
		// committed position, at or before what the pipeline finished.
		for part := range pos {
			pos[part] = done[part] - rng.Intn(done[part]+1)/2
			done[part] = pos[part]
		}
		p = build(t, yaml, res, clk)
	}
	if conflict != "" {
		t.Fatal(conflict)
	}
	return rows
}

func diffWindows(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, fmt.Sprintf("%s: %s vs %s", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("%s: missing vs %s", k, v))
		}
	}
	sort.Strings(d)
	if len(d) > 4 {
		d = append(d[:4], fmt.Sprintf("… %d in all", len(d)))
	}
	return strings.Join(d, "\n")
}

func TestPropertyThreadsBatchesAndCrashesDoNotChangeTheRows(t *testing.T) {
	for seed := int64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewSource(seed))
		logs := genRides(rng, 1+rng.Intn(6))
		want := runPipeline(t, ridesYAML, logs, 1, rand.New(rand.NewSource(seed)))
		if len(want) == 0 {
			t.Fatalf("seed %d: no window closed", seed)
		}
		for threads := 1; threads <= 6; threads++ {
			got := runPipeline(t, ridesYAML, logs, threads, rand.New(rand.NewSource(seed*10+int64(threads))))
			if d := diffWindows(got, want); d != "" {
				t.Fatalf("seed %d, %d threads: rows differ from a one-thread run:\n%s", seed, threads, d)
			}
		}
	}
}

// Spark's global watermark fails the same property: its rows change with the
// interleaving.
func TestPropertyGlobalModeChangesWithDelivery(t *testing.T) {
	global := strings.Replace(ridesYAML, "  delay: 10m\n", "  delay: 10m\n  mode: global\n", 1)
	for seed := int64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewSource(seed))
		logs := genRides(rng, 2+rng.Intn(5))
		want := runPipeline(t, global, logs, 1, rand.New(rand.NewSource(seed)))
		for run := 1; run <= 3; run++ {
			if diffWindows(runPipeline(t, global, logs, 1, rand.New(rand.NewSource(seed*10+int64(run)))), want) != "" {
				return
			}
		}
	}
	t.Fatal("mode: global gave the same rows for every delivery: the property cannot tell the modes apart")
}

// A batch whose predecessor never reaches the window (a processor before it
// deleted those messages) goes ahead after order_timeout; a cancelled
// context ends the wait with an error and nothing applied.
func TestOrderGateTimeoutAndCancel(t *testing.T) {
	yaml := ridesYAML + "order_timeout: 20ms\n"
	p := build(t, yaml, service.MockResources(service.MockResourcesOptAddCache("window_state")), newClock())
	first := ride{city: "PARIS", ts: time.Date(2026, 3, 14, 0, 1, 0, 0, time.UTC), part: 0, off: 3}
	if _, err := p.ProcessBatch(context.Background(), service.MessageBatch{first.message(-1, 1)}); err != nil {
		t.Fatal(err)
	}
	// Offsets 4 and 5 were deleted upstream: offset 6 says its predecessor is 5.
	gap := ride{city: "PARIS", ts: first.ts, part: 0, off: 6}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.ProcessBatch(ctx, service.MessageBatch{gap.message(5, 1)}); err == nil || !strings.Contains(err.Error(), "rides/0 offset 5") {
		t.Fatalf("cancelled wait: err %v, want one naming rides/0 offset 5", err)
	}
	if n := p.eng.OpenGroups(); n != 1 {
		t.Fatalf("cancelled batch was applied: %d open groups", n)
	}
	if _, err := p.ProcessBatch(context.Background(), service.MessageBatch{gap.message(5, 1)}); err != nil {
		t.Fatal(err)
	}
	if got := p.through["rides/0"]; got.last != 6 {
		t.Fatalf("after the timeout the batch was not applied: through = %+v", got)
	}
}

// After a rewind (a new kafka_assignment_epoch) the chain starts again: the
// second batch of the new epoch waits for the first, although offsets past
// its predecessor went through in the epoch before. A batch of an older epoch
// never waits (its predecessor may never come).
func TestOrderGateRestartsAtANewAssignmentEpoch(t *testing.T) {
	p := build(t, ridesYAML, service.MockResources(service.MockResourcesOptAddCache("window_state")), newClock())
	at := func(off, prev, epoch int) service.MessageBatch {
		m := ride{city: "PARIS", ts: time.Date(2026, 3, 14, 0, 1, off, 0, time.UTC), part: 0, off: off}.message(prev, 1)
		m.MetaSetMut(epochMeta, epoch)
		return service.MessageBatch{m}
	}
	mustPass := func(b service.MessageBatch) {
		t.Helper()
		if _, err := p.ProcessBatch(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	mustPass(at(0, -1, 1))
	mustPass(at(1, 0, 1))
	mustPass(at(2, 1, 1))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	// Rewound to offset 1 in epoch 2: the batch at 2 comes first.
	if _, err := p.ProcessBatch(cancelled, at(2, 1, 2)); err == nil || !strings.Contains(err.Error(), "rides/0 offset 1") {
		t.Fatalf("epoch 2's second batch before its first: err %v, want a wait for rides/0 offset 1", err)
	}
	mustPass(at(1, -1, 2))
	mustPass(at(2, 1, 2))
	if got := p.through["rides/0"]; got != (passedUpTo{epoch: 2, last: 2}) {
		t.Fatalf("through = %+v, want epoch 2 up to 2", got)
	}
	// A late batch of epoch 1 goes ahead and does not move epoch 2's mark.
	if _, err := p.ProcessBatch(cancelled, at(3, 2, 1)); err != nil {
		t.Fatalf("a batch of an older epoch waited: %v", err)
	}
	if got := p.through["rides/0"]; got != (passedUpTo{epoch: 2, last: 2}) {
		t.Fatalf("through = %+v after an older epoch's batch, want epoch 2 up to 2", got)
	}
}
