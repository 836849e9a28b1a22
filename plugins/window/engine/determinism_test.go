package engine

import (
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"
)

// The determinism property: the rows a job writes depend only on each
// partition's records in offset order. The same per-partition sequences,
// delivered with random cross-partition interleavings, random batch splits,
// restarts from snapshots and Kafka-style redelivery after them, must give
// byte-identical rows, equal to an independent reference.

type partitionLog struct {
	topic string
	part  int32
	rows  []Row
}

// genLogs makes nParts partitions of records over about two hours of event
// time: bounded disorder within a partition (below the delay, so no on-time
// row is late against its own partition), partitions that progress at
// different speeds, and a few records far behind their partition.
func genLogs(rng *rand.Rand, nParts int) []partitionLog {
	logs := make([]partitionLog, nParts)
	base := at0 + rng.Int63n(int64(time.Hour/time.Microsecond))
	for p := range logs {
		n := 50 + rng.Intn(250)
		span := int64(2 * time.Hour / time.Microsecond)
		step := span / int64(n)
		clock := base + rng.Int63n(int64(10*time.Minute/time.Microsecond))
		logs[p] = partitionLog{topic: "rides", part: int32(p)}
		for off := 0; off < n; off++ {
			clock += rng.Int63n(2 * step)
			ts := clock - rng.Int63n(int64(5*time.Minute/time.Microsecond))
			if rng.Intn(60) == 0 {
				ts -= int64(time.Hour / time.Microsecond) // far behind: late by its partition
			}
			price := Value{F: float64(rng.Intn(10000)) / 100}
			if rng.Intn(20) == 0 {
				price = Null
			}
			dist := Value{F: rng.ExpFloat64() * 7.3}
			logs[p].rows = append(logs[p].rows, Row{
				TimeUs: ts, Key: fmt.Sprintf(`["C%d"]`, rng.Intn(4)), Values: []Value{price, dist, Null},
				Pos: Position{Topic: "rides", Partition: int32(p), Offset: int64(off)}, HasPos: true,
				Partitions: int32(nParts),
			})
		}
	}
	return logs
}

var at0 = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC).UnixMicro()

// deliver runs the logs through an engine the way a Kafka input could: the
// partitions interleaved at random (each in offset order), cut into batches
// of random sizes, with restarts from the last snapshot after which each
// partition is read again from a random earlier position. It returns every
// emitted row (re-emissions must repeat the same bytes) keyed by window and
// group key, and the number of rows dropped as closed early.
func deliver(t *testing.T, cfg Config, logs []partitionLog, rng *rand.Rand) (rows map[string]string, closedEarly, conflicts int) {
	t.Helper()
	e := newEngine(t, cfg)
	pos := make([]int, len(logs)) // next record to deliver, per partition
	rows = map[string]string{}
	record := func(em *Emission) {
		for _, r := range em.Rows {
			k := fmt.Sprintf("%d %s", r.StartUs, r.Key)
			body, err := r.JSON(cfg.GroupNames, cfg.Aggregates)
			if err != nil {
				t.Fatal(err)
			}
			if old, ok := rows[k]; ok && old != string(body) {
				conflicts++ // emitted twice with different values
				body = append([]byte(old+" | "), body...)
			}
			rows[k] = string(body)
		}
	}
	var snap []byte
	snapPos := make([]int, len(logs))
	clock := time.Unix(0, 0)
	for {
		var live []int
		for p := range logs {
			if pos[p] < len(logs[p].rows) {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			break
		}
		var batch []Row
		for n := 1 + rng.Intn(40); n > 0 && len(live) > 0; n-- {
			i := rng.Intn(len(live))
			p := live[i]
			batch = append(batch, logs[p].rows[pos[p]])
			if pos[p]++; pos[p] == len(logs[p].rows) {
				live = append(live[:i], live[i+1:]...)
			}
		}
		clock = clock.Add(time.Second)
		res := e.Process(batch, clock)
		for _, st := range res.Status {
			if st == ClosedEarly {
				closedEarly++
			}
		}
		for _, em := range res.Emissions {
			record(em)
		}
		switch rng.Intn(15) {
		case 0: // checkpoint (the state is durable after every batch in the processor)
			var err error
			if snap, err = e.Snapshot(); err != nil {
				t.Fatal(err)
			}
			copy(snapPos, pos)
		case 1: // crash: restore the last checkpoint, redeliver from before it
			e = newEngine(t, cfg)
			if snap != nil {
				if err := e.Restore(snap); err != nil {
					t.Fatal(err)
				}
			}
			for p := range pos {
				pos[p] = rng.Intn(snapPos[p] + 1) // committed offsets lag the state
			}
		}
	}
	// Heartbeats close nothing more (no idle timeout); one more empty batch
	// lets next_batch emit what the last data batch closed.
	res := e.Process([]Row{{Heartbeat: true}}, clock.Add(time.Second))
	for _, em := range res.Emissions {
		record(em)
	}
	return rows, closedEarly, conflicts
}

// referenceRows is the rule stated directly: a row is late iff its window
// end <= its partition's max event time before it − delay; windows whose end
// <= min over partitions of their max event time − delay are emitted; sums
// are exact.
func referenceRows(t *testing.T, cfg Config, logs []partitionLog) map[string]string {
	t.Helper()
	size, delay := cfg.Size.Microseconds(), cfg.Delay.Milliseconds()
	type agg struct {
		cnt          int64
		price, dists []float64
		nPrice       int
	}
	aggs := map[string]*agg{}
	starts := map[string]int64{}
	keys := map[string]string{}
	wm := int64(math.MaxInt64)
	for _, l := range logs {
		maxMs := int64(math.MinInt64)
		for _, r := range l.rows {
			start := windowStart(r.TimeUs, size, 0)
			late := maxMs != math.MinInt64 && start+size <= (maxMs-delay)*1000
			maxMs = max(maxMs, microsToWatermarkMs(r.TimeUs))
			if late {
				continue
			}
			k := fmt.Sprintf("%d %s", start, r.Key)
			a := aggs[k]
			if a == nil {
				a = &agg{}
				aggs[k], starts[k], keys[k] = a, start, r.Key
			}
			a.cnt++
			if !r.Values[0].Null {
				a.price = append(a.price, r.Values[0].F)
				a.nPrice++
			}
			a.dists = append(a.dists, r.Values[1].F)
		}
		wm = min(wm, maxMs-delay)
	}
	out := map[string]string{}
	for k, a := range aggs {
		if starts[k]+size > wm*1000 {
			continue
		}
		rev := "null"
		if a.nPrice > 0 {
			rev = fmt.Sprint(bigSum(a.price))
		}
		row := OutRow{StartUs: starts[k], EndUs: starts[k] + size, Key: keys[k], Values: nil}
		var vals []string
		vals = append(vals, rev, fmt.Sprint(bigSum(a.dists)/float64(len(a.dists))), fmt.Sprint(a.cnt))
		for _, v := range vals {
			row.Values = append(row.Values, []byte(v))
		}
		body, err := row.JSON(cfg.GroupNames, cfg.Aggregates)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = string(body)
	}
	return out
}

func diffRows(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, fmt.Sprintf("%s:\n  %s\n  %s", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("%s: missing, want %s", k, v))
		}
	}
	sort.Strings(d)
	if len(d) > 5 {
		d = append(d[:5], fmt.Sprintf("… %d differences in all", len(d)))
	}
	return strings.Join(d, "\n")
}

func TestPropertyPerPartitionResultsDoNotDependOnDelivery(t *testing.T) {
	for _, emit := range []Emit{EmitAfterBatch, EmitNextBatch} {
		t.Run(string(emit), func(t *testing.T) {
			cfg := ridesConfig()
			cfg.Mode, cfg.Emit = ModePerPartition, emit
			for seed := int64(1); seed <= 30; seed++ {
				rng := rand.New(rand.NewSource(seed))
				logs := genLogs(rng, 1+rng.Intn(6))
				want := referenceRows(t, cfg, logs)
				if len(want) == 0 {
					t.Fatalf("seed %d: the reference closed no window", seed)
				}
				for run := 0; run < 4; run++ {
					got, early, conflicts := deliver(t, cfg, logs, rand.New(rand.NewSource(seed*100+int64(run))))
					if early != 0 || conflicts != 0 {
						t.Fatalf("seed %d run %d: %d rows closed early without an idle timeout, %d windows emitted twice with different values", seed, run, early, conflicts)
					}
					if d := diffRows(got, want); d != "" {
						t.Fatalf("seed %d run %d: rows differ from the reference:\n%s", seed, run, d)
					}
				}
			}
		})
	}
}

// The property has teeth: Spark's global watermark fails it on the same data.
func TestPropertyGlobalWatermarkDependsOnDelivery(t *testing.T) {
	cfg := ridesConfig()
	cfg.Mode, cfg.Emit = ModeGlobal, EmitAfterBatch
	failing := 0
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		logs := genLogs(rng, 2+rng.Intn(5))
		first, _, _ := deliver(t, cfg, logs, rand.New(rand.NewSource(seed*100)))
		for run := 1; run < 5; run++ {
			got, _, _ := deliver(t, cfg, logs, rand.New(rand.NewSource(seed*100+int64(run))))
			if diffRows(got, first) != "" {
				failing++
				break
			}
		}
	}
	if failing == 0 {
		t.Fatal("the global watermark gave the same rows for every delivery: the property test cannot detect delivery dependence")
	}
	t.Logf("global watermark: %d of 20 seeds gave delivery-dependent rows", failing)
}

func TestPerPartitionUnknownAndIdlePartitions(t *testing.T) {
	cfg := ridesConfig()
	cfg.Mode, cfg.Emit = ModePerPartition, EmitAfterBatch
	row := func(p int32, off int64, ts string) Row {
		return Row{TimeUs: at(t, ts), Key: `["A"]`, Values: []Value{{F: 1}, {F: 1}, Null},
			Pos: Position{Topic: "rides", Partition: p, Offset: off}, HasPos: true, Partitions: 2}
	}
	now := time.Unix(1000, 0)
	e := newEngine(t, cfg)
	// Partition 0 runs an hour ahead; partition 1 has not delivered: nothing closes.
	res := e.Process([]Row{row(0, 0, "2025-03-14T12:00:00Z"), row(0, 1, "2025-03-14T13:00:00Z")}, now)
	if len(res.Emissions) != 0 {
		t.Fatalf("a window closed while partition 1 had not delivered: %+v", res.Emissions[0].Rows)
	}
	if _, ok := e.Watermark(); ok {
		t.Fatal("watermark set while a known partition has not delivered")
	}
	// Partition 1's 12:01 row is not late (its own partition has no progress).
	res = e.Process([]Row{row(1, 0, "2025-03-14T12:01:00Z"), row(1, 1, "2025-03-14T12:30:00Z")}, now)
	if res.Status[0] != Applied || len(res.Emissions) != 1 || len(res.New.Rows) != 1 || string(res.New.Rows[0].Values[2]) != "2" {
		t.Fatalf("want the 12:00 window emitted with both rows, got %v %+v", res.Status, res.Emissions)
	}

	// With an idle timeout, a silent partition stops holding the watermark
	// back; its rows for windows emitted meanwhile are counted as closed early.
	cfg.IdleTimeout = time.Minute
	e = newEngine(t, cfg)
	e.Process([]Row{row(0, 0, "2025-03-14T12:00:00Z")}, now)
	res = e.Process([]Row{row(0, 1, "2025-03-14T13:00:00Z")}, now.Add(2*time.Minute))
	if len(res.Emissions) != 1 {
		t.Fatalf("idle partition 1 still holds the watermark: %+v", res)
	}
	if n := e.IdlePartitions(now.Add(2 * time.Minute)); n != 1 {
		t.Fatalf("idle partitions = %d, want 1", n)
	}
	res = e.Process([]Row{row(1, 0, "2025-03-14T12:01:00Z")}, now.Add(3*time.Minute))
	if res.Status[0] != ClosedEarly {
		t.Fatalf("a row for an emitted window from a returning idle partition: status %v, want ClosedEarly", res.Status[0])
	}

	// Idleness counts from the restart, not from before it.
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e = newEngine(t, cfg)
	if err := e.Restore(snap); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour)
	e.Process([]Row{row(0, 2, "2025-03-14T13:01:00Z")}, later)
	if n := e.IdlePartitions(later); n != 0 {
		t.Fatalf("after a restart %d partitions are idle at once, want 0", n)
	}
}
