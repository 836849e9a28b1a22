package realkafka

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/miaradia/rides-connect/internal/harness"
)

// recoveryJob runs config/rides.yaml through the rides-connect binary, one
// process at a time, each signalled only by its own PID.
type recoveryJob struct {
	bin, cfg, logDir string
	env              []string
	proc             *harness.Process
	http             string
	runs             int
}

func (j *recoveryJob) start(t *testing.T, extraEnv ...string) time.Time {
	t.Helper()
	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	j.http = addr
	j.runs++
	env := append(append(append([]string{}, j.env...), "HTTP_ADDRESS="+addr), extraEnv...)
	t0 := time.Now()
	p, err := harness.Start(j.bin, []string{"-c", j.cfg}, env, filepath.Join(j.logDir, fmt.Sprintf("run-%02d.log", j.runs)))
	if err != nil {
		t.Fatal(err)
	}
	j.proc = p
	t.Cleanup(p.Kill)
	return t0
}

// metrics scrapes the running process's /metrics: sample name → sum over
// label sets. An error while the HTTP server is not up yet.
func (j *recoveryJob) metrics(ctx context.Context) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+j.http+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		if v, err := strconv.ParseFloat(line[sp+1:], 64); err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

// resume is what one restart took, from exec to each milestone.
type resume struct {
	up, fetched, firstRow, firstCommit time.Duration
	replayed                           float64 // rows re-read and skipped before the first new one
}

// waitResume polls /metrics of the process started at t0 until it has
// aggregated a new row and committed to Delta, or limit passes (a failure).
func (j *recoveryJob) waitResume(t *testing.T, t0 time.Time, limit time.Duration) resume {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), t0.Add(limit))
	defer cancel()
	var r resume
	tick := time.NewTicker(20 * time.Millisecond) // polling another process
	defer tick.Stop()
	for {
		if m, err := j.metrics(ctx); err == nil {
			now := time.Since(t0)
			if r.up == 0 {
				r.up = now
			}
			if r.fetched == 0 && m["kafka_input_records_total"] > 0 {
				r.fetched = now
			}
			if r.firstRow == 0 && m["window_input_rows_total"] > 0 {
				r.firstRow, r.replayed = now, m["window_replayed_rows_total"]
			}
			if r.firstCommit == 0 && m["delta_commits_total"] > 0 {
				r.firstCommit = now
			}
			if r.firstRow > 0 && r.firstCommit > 0 {
				return r
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %d did not resume within %v (reached: %+v); log tail:\n%s", j.runs, limit, r, logTail(j.proc.Log, 30))
		case <-tick.C:
		}
		if j.proc.Exited() {
			t.Fatalf("run %d exited; log tail:\n%s", j.runs, logTail(j.proc.Log, 30))
		}
	}
}

func logTail(path string, n int) string {
	b, _ := os.ReadFile(path)
	return tail(string(b), n)
}

// rideFeed produces rides to every partition at a steady rate until stopped.
// Event time moves 1 s per ride with up to ±jitter of disorder, so the data,
// not the timing, decides the windows.
type rideFeed struct {
	cl         *kgo.Client
	topic      string
	partitions int32
	from       time.Time
	jitter     time.Duration
	mu         sync.Mutex
	sent       []harness.Ride
	stop       chan struct{}
	done       chan error
}

func (be brokerEnv) producer(t *testing.T) *kgo.Client {
	t.Helper()
	pem, err := os.ReadFile(be.caPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cl, err := kgo.NewClient(kgo.SeedBrokers(be.saslSSL),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: be.user, Pass: be.pass}.AsSha512Mechanism()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (f *rideFeed) ride(i int, rng *rand.Rand) harness.Ride {
	cities := []string{"FR", "us", "DE", "MG", "uk"}
	ts := f.from.Add(time.Duration(i)*time.Second + time.Duration(rng.Int63n(int64(2*f.jitter))) - f.jitter)
	return harness.Ride{RideID: int64(i + 1), UserID: int64(1000 + i%37), City: cities[i%len(cities)],
		DistanceKm: 1 + float64(i%16)*0.25, Price: 4 + float64(i%8)*2.5, TS: ts.UTC().Format(time.RFC3339Nano)}
}

// run sends perTick rides every tick, round robin over the partitions.
func (f *rideFeed) run(perTick int, tick time.Duration) {
	f.stop, f.done = make(chan struct{}), make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewSource(7))
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for i := 0; ; {
			select {
			case <-f.stop:
				f.done <- nil
				return
			case <-tk.C:
			}
			recs := make([]*kgo.Record, 0, perTick)
			for k := 0; k < perTick; k, i = k+1, i+1 {
				r := f.ride(i, rng)
				f.mu.Lock()
				f.sent = append(f.sent, r)
				f.mu.Unlock()
				v, _ := json.Marshal(r)
				recs = append(recs, &kgo.Record{Topic: f.topic, Partition: int32(i) % f.partitions, Value: v})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := f.cl.ProduceSync(ctx, recs...).FirstErr()
			cancel()
			if err != nil {
				f.done <- err
				return
			}
		}
	}()
}

// finish stops the feed and sends one ride per partition far past the last,
// so that every window of the feed closes whatever the watermark rule
// (global, or per partition); it returns every ride sent.
func (f *rideFeed) finish(t *testing.T) []harness.Ride {
	t.Helper()
	close(f.stop)
	if err := <-f.done; err != nil {
		t.Fatalf("producing rides: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	last := f.from.Add(time.Duration(len(f.sent)) * time.Second)
	var recs []*kgo.Record
	for p := int32(0); p < f.partitions; p++ {
		r := harness.Ride{RideID: int64(len(f.sent) + 1), UserID: 1, City: "ZZ", DistanceKm: 1, Price: 1,
			TS: last.Add(30 * time.Minute).UTC().Format(time.RFC3339Nano)}
		f.sent = append(f.sent, r)
		v, _ := json.Marshal(r)
		recs = append(recs, &kgo.Record{Topic: f.topic, Partition: p, Value: v})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing the closing rides: %v", err)
	}
	return append([]harness.Ride(nil), f.sent...)
}

// percentile of ds (nearest rank); p99 of fewer than 100 samples is the max.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(p*float64(len(s))+0.999999) - 1
	return s[max(0, min(k, len(s)-1))]
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
