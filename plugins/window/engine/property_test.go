package engine

import (
	"fmt"
	"math"
	"math/rand"
	"sort"
	"testing"
	"time"
)

// The reference model states the rules as directly as possible: it keeps every
// accepted row and recomputes aggregates by scanning them.
type refRow struct {
	ts    int64
	key   string
	price Value
	part  string
	off   int64
}

type refModel struct {
	size, delayMs    int64
	late, evict      int64 // watermarks in ms; noWatermark = unset
	afterBatch       bool  // EmitAfterBatch: late = evict, advance before emitting
	accepted         []refRow
	applied, emitted map[string]bool
	maxMs            int64
}

func (m *refModel) batch(t *testing.T, rows []refRow) []string {
	for _, r := range rows {
		id := fmt.Sprint(r.part, "@", r.off)
		if m.applied[id] {
			continue // replay
		}
		start := windowStart(r.ts, m.size, 0)
		late := m.late
		if m.afterBatch {
			late = m.evict
		}
		if late != noWatermark && start+m.size <= late*1000 {
			continue // late
		}
		if m.emitted[fmt.Sprint(start, r.key)] {
			t.Fatalf("model: row %v accepted into an emitted window", r)
		}
		m.accepted = append(m.accepted, r)
		m.applied[id] = true
	}
	type agg struct {
		cnt  int64
		sum  float64
		nval int
	}
	advance := func() {
		for _, r := range m.accepted {
			m.maxMs = max(m.maxMs, microsToWatermarkMs(r.ts))
		}
		if m.maxMs != math.MinInt64 && (m.evict == noWatermark || m.maxMs-m.delayMs > m.evict) {
			m.evict = m.maxMs - m.delayMs
		}
	}
	if m.afterBatch {
		advance()
	}
	out := map[string]*agg{}
	for _, r := range m.accepted {
		start := windowStart(r.ts, m.size, 0)
		k := fmt.Sprint(start, r.key)
		if m.emitted[k] || m.evict == noWatermark || start+m.size > m.evict*1000 {
			continue
		}
		a := out[k]
		if a == nil {
			a = &agg{}
			out[k] = a
		}
		a.cnt++
		if !r.price.Null {
			a.sum += r.price.F
			a.nval++
		}
	}
	var lines []string
	for k, a := range out {
		m.emitted[k] = true
		sum := "null"
		if a.nval > 0 {
			sum = fmt.Sprintf("%.6f", a.sum)
		}
		lines = append(lines, fmt.Sprintf("%s cnt=%d sum=%s", k, a.cnt, sum))
	}
	sort.Strings(lines)
	if !m.afterBatch {
		m.late = m.evict
		advance()
	}
	return lines
}

func engineLines(t *testing.T, e *Engine, em *Emission) []string {
	var lines []string
	if em == nil {
		return nil
	}
	for _, r := range em.Rows {
		row := decoded(t, e, r)
		sum := "null"
		if v, ok := row["revenue"].(float64); ok {
			sum = fmt.Sprintf("%.6f", v)
		}
		lines = append(lines, fmt.Sprintf("%d%s cnt=%v sum=%s", r.StartUs, r.Key, row["cnt"], sum))
	}
	sort.Strings(lines)
	return lines
}

func TestPropertyEngineMatchesReferenceModel(t *testing.T) {
	for _, emit := range []Emit{EmitAfterBatch, EmitNextBatch} {
		t.Run(string(emit), func(t *testing.T) { checkAgainstReferenceModel(t, emit) })
	}
}

func checkAgainstReferenceModel(t *testing.T, emit Emit) {
	cfg := ridesConfig()
	cfg.Emit = emit
	cfg.Aggregates = []AggSpec{{Name: "revenue", Op: OpSum, HasValue: true}, {Name: "cnt", Op: OpCount}}
	for seed := int64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewSource(seed))
		e := newEngine(t, cfg)
		m := &refModel{size: cfg.Size.Microseconds(), delayMs: cfg.Delay.Milliseconds(), late: noWatermark, evict: noWatermark,
			afterBatch: emit == EmitAfterBatch, applied: map[string]bool{}, emitted: map[string]bool{}, maxMs: math.MinInt64}
		nParts := 1 + rng.Intn(4)
		offs := make([]int64, nParts)
		var history []Row
		base := at(t, "1969-12-31T23:00:00Z") + rng.Int63n(int64(3*time.Hour/time.Microsecond))
		clock := base
		var emittedTotal int
		for b := 0; b < 40; b++ {
			var rows []Row
			for k := rng.Intn(12); k > 0; k-- {
				if len(history) > 0 && rng.Intn(8) == 0 { // a redelivered row
					rows = append(rows, history[rng.Intn(len(history))])
					continue
				}
				clock += rng.Int63n(int64(90 * time.Second / time.Microsecond))
				ts := clock - rng.Int63n(int64(15*time.Minute/time.Microsecond)) // disorder up to 15 min
				if rng.Intn(10) == 0 {
					ts = windowStart(ts, m.size, 0) // exactly on a boundary
				}
				price := Value{F: float64(rng.Intn(100))}
				if rng.Intn(5) == 0 {
					price = Null
				}
				p := rng.Intn(nParts)
				r := Row{TimeUs: ts, Key: fmt.Sprintf(`["c%d"]`, rng.Intn(3)), Values: []Value{price, Null},
					Pos: Position{"rides", int32(p), offs[p]}, HasPos: true}
				offs[p]++
				rows = append(rows, r)
				history = append(history, r)
			}
			ref := make([]refRow, len(rows))
			for i, r := range rows {
				ref[i] = refRow{ts: r.TimeUs, key: r.Key, price: r.Values[0], part: r.Pos.Key(), off: r.Pos.Offset}
			}
			want := m.batch(t, ref)
			res := e.Process(rows, epoch)
			assertSnapshotCachesFresh(t, e)
			got := engineLines(t, e, res.New)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("seed %d batch %d:\n got %v\nwant %v", seed, b, got, want)
			}
			emittedTotal += len(got)
			if rng.Intn(6) == 0 { // restart from a snapshot
				snap, err := e.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				e = newEngine(t, cfg)
				if err := e.Restore(snap); err != nil {
					t.Fatal(err)
				}
			}
		}
		if emittedTotal == 0 && seed < 10 {
			t.Logf("seed %d emitted nothing", seed)
		}
	}
}
