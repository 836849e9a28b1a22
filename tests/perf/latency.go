package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
)

const (
	winSize  = 5 * time.Minute  // config/rides.yaml's window
	wmDelay  = 10 * time.Minute // and watermark delay
	disorder = 30 * time.Second // event time a ride may lag the stream's progress
)

var cities = []string{"paris", "Lyon", "MARSEILLE", "lille", "nantes", "toulouse", "nice", "bordeaux"}

type dist struct {
	N                  int
	P50, P90, P99, Max float64
	Mean               float64
	WithinGoal         float64 `json:"share_within_1s"` // exact for the histogram: 1 s is a bucket bound
	Note               string  `json:",omitempty"`
}

type latencyResult struct {
	Rate, Factor          int
	DurationS, WarmupS    float64
	Produced              int
	AchievedRate          float64
	WindowsClosed         int
	Metric                dist    `json:"delta_emit_to_commit_seconds"`
	Log                   dist    `json:"watermark_pass_to_delta_file_seconds"`
	LagAtEnd              float64 `json:"kafka_input_lag_when_production_stopped"`
	CPUS                  float64 `json:"cpu_s"` // user+sys of the job from its start until it has aggregated every ride
	CPUPerRideUs          float64 `json:"cpu_us_per_ride"`
	PerWindow             []string
	LoadBefore, LoadAfter string
}

// tracker records, per window end, when the last partition moved past it:
// the ack time of the first record on each partition with event time >= end + delay.
type tracker struct {
	mu     sync.Mutex
	passed []time.Time           // per partition: greatest window end passed
	first  map[int64][]time.Time // window end (unix ms) → per-partition first pass time
}

func (t *tracker) ack(p int32, ts time.Time, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	end := ts.Add(-wmDelay).Truncate(winSize)
	for e := t.passed[p].Add(winSize); !e.After(end); e = e.Add(winSize) {
		k := e.UnixMilli()
		if t.first[k] == nil {
			t.first[k] = make([]time.Time, len(t.passed))
		}
		t.first[k][p] = now
	}
	if end.After(t.passed[p]) {
		t.passed[p] = end
	}
}

// closedAt returns, per window end passed by every partition, when the last one passed it.
func (t *tracker) closedAt() map[int64]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[int64]time.Time{}
	for k, ps := range t.first {
		var last time.Time
		ok := true
		for _, at := range ps {
			if at.IsZero() {
				ok = false
				break
			}
			if at.After(last) {
				last = at
			}
		}
		if ok {
			out[k] = last
		}
	}
	return out
}

// runLatency starts the job on an empty topic, then produces rate rides/s for
// dur with event time running factor× the wall clock.
func runLatency(ctx context.Context, c common, rate int, dur time.Duration, factor int, warmup time.Duration) (*latencyResult, error) {
	topic := fmt.Sprintf("perf_latency_%d", os.Getpid())
	if err := createTopics(ctx, c.brokers, topic, topic+"_dlq"); err != nil {
		return nil, err
	}
	res := &latencyResult{Rate: rate, Factor: factor, DurationS: dur.Seconds(), WarmupS: warmup.Seconds(), LoadBefore: loadavg()}
	j, err := startJob(c, topic, "perf-"+topic, topic+"_dlq")
	if err != nil {
		return nil, err
	}
	defer j.stop()
	if err := waitReady(ctx, j); err != nil {
		return res, err
	}
	cl, err := producer(c.brokers)
	if err != nil {
		return res, err
	}
	defer cl.Close()

	t0 := time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)
	tr := &tracker{passed: make([]time.Time, 6), first: map[int64][]time.Time{}}
	for p := range tr.passed {
		// The first window with rides is [07:55, 08:00) (disorder reaches back 30 s); earlier ends hold nothing.
		tr.passed[p] = t0.Truncate(winSize).Add(-winSize)
	}
	rng := rand.New(rand.NewSource(1))
	var perr error
	var pmu sync.Mutex
	start := time.Now()
	var warm map[string]*dto.MetricFamily
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for produced := 0; ; {
		now := <-tick.C
		el := now.Sub(start)
		if warm == nil && el >= warmup {
			warm = j.metrics()
		}
		if el >= dur {
			res.Produced = produced
			break
		}
		progress := t0.Add(el * time.Duration(factor))
		for due := int(el.Seconds() * float64(rate)); produced < due; produced++ {
			ts := progress.Add(-time.Duration(rng.Int63n(int64(disorder)))).Truncate(time.Millisecond)
			b, _ := json.Marshal(harness.Ride{RideID: int64(produced + 1), UserID: int64(rng.Intn(50000)),
				City: cities[rng.Intn(len(cities))], DistanceKm: float64(50+rng.Intn(3000)) / 100,
				Price: float64(300+rng.Intn(9000)) / 100, TS: ts.Format("2006-01-02T15:04:05.000Z")})
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(produced % 6), Value: b}, func(r *kgo.Record, err error) {
				if err != nil {
					pmu.Lock()
					perr = err
					pmu.Unlock()
					return
				}
				tr.ack(r.Partition, ts, time.Now())
			})
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return res, err
	}
	res.LagAtEnd = sum(j.metrics(), "kafka_input_lag")
	res.AchievedRate = float64(res.Produced) / time.Since(start).Seconds()
	if perr != nil {
		return res, fmt.Errorf("produce: %w", perr)
	}
	closed := tr.closedAt()
	res.WindowsClosed = len(closed)
	// Wait for every ride aggregated and every emitted row committed.
	var final map[string]*dto.MetricFamily
	for {
		final = j.metrics()
		if final != nil && drained(final, res.Produced, 0) {
			res.CPUS = procCPU(j.p.PID())
			res.CPUPerRideUs = res.CPUS / float64(max(res.Produced, 1)) * 1e6
			break
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("job did not catch up: %w (see %s)", ctx.Err(), j.p.Log)
		case <-time.After(200 * time.Millisecond):
		}
	}
	// The last emission may be counted a moment after its input rows: wait (30 s at most) until
	// the table holds every window the producer closed.
	for deadline := time.Now().Add(30 * time.Second); ; {
		res.Log, res.PerWindow, err = logLatency(filepath.Join(c.work, "table"), closed, start.Add(warmup), start)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	res.LoadAfter = loadavg()
	res.Metric = histDist(j.metrics(), warm, "delta_emit_to_commit_seconds")
	fmt.Printf("\n%d rides/s asked, %.0f achieved, for %.0f s; event time ×%d (a %v window closes every %.1f s of wall time); %d windows closed; first %.0f s not counted; job's consumer lag when production stopped: %.0f records; job CPU %.1f s (%.2f µs per ride); load %s → %s\n\n",
		rate, res.AchievedRate, dur.Seconds(), factor, winSize, winSize.Seconds()/float64(factor), res.WindowsClosed, warmup.Seconds(), res.LagAtEnd, res.CPUS, res.CPUPerRideUs, res.LoadBefore, res.LoadAfter)
	for _, l := range res.PerWindow {
		fmt.Println(l)
	}
	fmt.Println()
	fmt.Println("| measure | n | p50 s | p90 s | p99 s | max s | mean s | share ≤ 1 s |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, d := range []struct {
		name string
		d    dist
	}{{"delta_emit_to_commit_seconds (job /metrics, per row)", res.Metric}, {"watermark passed (producer ack) → Delta log file (per window end)", res.Log}} {
		fmt.Printf("| %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f %% |\n", d.name, d.d.N, d.d.P50, d.d.P90, d.d.P99, d.d.Max, d.d.Mean, 100*d.d.WithinGoal)
	}
	return res, err
}

func waitReady(ctx context.Context, j *job) error {
	for {
		resp, err := http.Get("http://" + j.addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if j.p.Exited() {
			return fmt.Errorf("rides-connect exited (see %s)", j.p.Log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rides-connect not ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// histDist estimates quantiles of a histogram's increase since base, by linear
// interpolation inside buckets (PromQL histogram_quantile); Max is the upper
// bound of the highest non-empty bucket.
func histDist(m, base map[string]*dto.MetricFamily, name string) dist {
	cum := map[float64]float64{}
	var count, total float64
	add := func(mfs map[string]*dto.MetricFamily, sign float64) {
		if mfs == nil || mfs[name] == nil {
			return
		}
		for _, s := range mfs[name].Metric {
			h := s.Histogram
			if h == nil {
				continue
			}
			count += sign * float64(h.GetSampleCount())
			total += sign * h.GetSampleSum()
			for _, b := range h.Bucket {
				cum[b.GetUpperBound()] += sign * float64(b.GetCumulativeCount())
			}
		}
	}
	add(m, 1)
	add(base, -1)
	d := dist{N: int(count), Note: "estimated from histogram buckets"}
	if count == 0 {
		return d
	}
	d.Mean = total / count
	bounds := make([]float64, 0, len(cum))
	for b := range cum {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	q := func(phi float64) float64 {
		rank := phi * count
		prevB, prevC := 0.0, 0.0
		for _, b := range bounds {
			if cum[b] >= rank {
				if math.IsInf(b, 1) {
					return prevB
				}
				return prevB + (b-prevB)*(rank-prevC)/math.Max(cum[b]-prevC, 1e-9)
			}
			prevB, prevC = b, cum[b]
		}
		return prevB
	}
	d.P50, d.P90, d.P99 = q(0.5), q(0.9), q(0.99)
	d.WithinGoal = cum[1] / count
	prev := 0.0
	for _, b := range bounds {
		if cum[b] > prev {
			d.Max = b
		}
		prev = cum[b]
	}
	return d
}

// logLatency reads the table's Delta log (JSON commit files, not our reader):
// for each window end in an added file's win_end min/max stats, the first
// commit file's modification time, minus when the last partition passed that
// end. Window ends closed before from are not counted.
func logLatency(table string, closed map[int64]time.Time, from, start time.Time) (dist, []string, error) {
	files, err := filepath.Glob(filepath.Join(table, "_delta_log", "*.json"))
	if err != nil {
		return dist{}, nil, err
	}
	sort.Strings(files)
	committed := map[int64]time.Time{}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return dist{}, nil, err
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			return dist{}, nil, err
		}
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var a struct {
				Add *struct {
					Stats string `json:"stats"`
				} `json:"add"`
			}
			if json.Unmarshal([]byte(line), &a) != nil || a.Add == nil {
				continue
			}
			var s struct {
				Min map[string]any `json:"minValues"`
				Max map[string]any `json:"maxValues"`
			}
			if err := json.Unmarshal([]byte(a.Add.Stats), &s); err != nil {
				return dist{}, nil, fmt.Errorf("%s: add.stats: %w", f, err)
			}
			lo, err1 := time.Parse("2006-01-02 15:04:05", fmt.Sprint(s.Min["win_end"]))
			hi, err2 := time.Parse("2006-01-02 15:04:05", fmt.Sprint(s.Max["win_end"]))
			if err1 != nil || err2 != nil {
				return dist{}, nil, fmt.Errorf("%s: no win_end min/max in add.stats", f)
			}
			for e := lo; !e.After(hi); e = e.Add(winSize) {
				if _, ok := committed[e.UnixMilli()]; !ok {
					committed[e.UnixMilli()] = st.ModTime()
				}
			}
		}
	}
	var lat []float64
	var lines []string
	missing := 0
	ends := make([]int64, 0, len(closed))
	for k := range closed {
		ends = append(ends, k)
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
	for _, k := range ends {
		at := closed[k]
		c, ok := committed[k]
		line := fmt.Sprintf("window end %s: last partition past it at %6.2f s, in a Delta log file at ", time.UnixMilli(k).UTC().Format("15:04"), at.Sub(start).Seconds())
		if !ok {
			lines = append(lines, line+"(not yet)")
			missing++
			continue
		}
		lines = append(lines, line+fmt.Sprintf("%6.2f s (+%.2f s)", c.Sub(start).Seconds(), c.Sub(at).Seconds()))
		if at.Before(from) {
			continue
		}
		lat = append(lat, c.Sub(at).Seconds())
	}
	d := dist{N: len(lat)}
	if missing > 0 {
		d.Note = fmt.Sprintf("%d closed window ends not in the table", missing)
	}
	if len(lat) == 0 {
		return d, lines, nil
	}
	sort.Float64s(lat)
	pick := func(phi float64) float64 { return lat[min(len(lat)-1, int(math.Ceil(phi*float64(len(lat))))-1)] }
	d.P50, d.P90, d.P99, d.Max = pick(0.5), pick(0.9), pick(0.99), lat[len(lat)-1]
	for _, v := range lat {
		d.Mean += v
	}
	d.Mean /= float64(len(lat))
	within := sort.SearchFloat64s(lat, math.Nextafter(1, 2))
	d.WithinGoal = float64(within) / float64(len(lat))
	if missing > 0 {
		return d, lines, fmt.Errorf("%s", d.Note)
	}
	return d, lines, nil
}
