package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand"
	"slices"
	"testing"
	"time"
)

// randFloat covers what encoding/json formats apart: zero and -0, integers,
// both sides of 1e-6 and 1e21, subnormals, one- and two-digit exponents.
func randFloat(r *rand.Rand) float64 {
	switch r.Intn(10) {
	case 0:
		return 0
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return float64(r.Intn(2000) - 1000)
	case 3:
		return (r.Float64() - 0.5) * math.Pow(10, float64(r.Intn(50)-25))
	case 4:
		return math.Float64frombits(r.Uint64() &^ (0x7ff << 52)) // subnormal or zero
	case 5:
		return 1e21 * (1 + r.Float64())
	case 6:
		return 1e-6 * (1 - r.Float64()/2)
	case 7:
		return math.MaxFloat64 * r.Float64()
	default:
		return r.NormFloat64() * 100
	}
}

var randStrings = []string{"", "FR", "DE", `["DE",1234]`, "é", "a<b>&c", "a&b", "x>y", "<", "q\"uote\\", "tab\tnl\n\b\f\r\x01", "\u2028\u2029", "bad\xffutf8", "\xe2\x80", "a\u2028b", "\x7f", "\u00a0", "日本", "Zürich"}

func randString(r *rand.Rand) string {
	if r.Intn(3) == 0 {
		return randStrings[r.Intn(len(randStrings))] + randStrings[r.Intn(len(randStrings))]
	}
	return randStrings[r.Intn(len(randStrings))]
}

func randAccs(r *rand.Rand) []acc {
	if r.Intn(8) == 0 {
		return nil
	}
	out := make([]acc, r.Intn(4))
	for i := range out {
		a := &out[i]
		switch r.Intn(3) {
		case 0:
			a.Sum.P = nil
		case 1:
			a.Sum.P = []float64{}
		default:
			for range r.Intn(4) + 1 {
				a.Sum.P = append(a.Sum.P, randFloat(r))
			}
		}
		a.Sum.Overflow = r.Intn(5) == 0
		a.N = r.Int63n(1000) - 2
		a.Min, a.Max = randFloat(r), randFloat(r)
		if r.Intn(3) == 0 {
			a.Legacy = randFloat(r)
		}
	}
	return out
}

func randMarker(r *rand.Rand) Marker {
	return Marker{Topic: randString(r), Partition: r.Int31n(64) - 1, Partitions: r.Int31n(64), MaxMs: r.Int63() - r.Int63(),
		Offset: r.Int63n(1<<40) - 1, Idle: r.Intn(2) == 0, Empty: r.Intn(3) == 0}
}

func randPartials(r *rand.Rand) []Partial {
	var out []Partial
	if r.Intn(4) == 0 {
		out = []Partial{}
	}
	for range r.Intn(5) {
		p := Partial{StartUs: r.Int63() - r.Int63(), Key: randString(r), Rows: r.Int63n(1e6), Aggs: randAccs(r)}
		if r.Intn(2) == 0 {
			p.Config = randString(r)
		}
		out = append(out, p)
	}
	return out
}

func randBundle(r *rand.Rand) Bundle {
	return Bundle{Source: randMarker(r), From: r.Int63() - r.Int63(), To: r.Int63(), Shard: r.Int31n(12), Shards: r.Int31n(12),
		Part: r.Int31n(3), Parts: r.Int31n(3), Partials: randPartials(r)}
}

// TestLocalJSONIsEncodingJSONs: the appender's bytes are json.Marshal's, for
// random bundles, so readers of the JSON form cannot tell them apart.
func TestLocalJSONIsEncodingJSONs(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := range 3000 {
		b := randBundle(r)
		got, err := EncodeBundle(&b)
		want, werr := json.Marshal(&b)
		if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("bundle %d: appender %s (err %v)\njson.Marshal %s (err %v)", i, got, err, want, werr)
		}
	}
}

// A NaN or an infinity cannot be JSON: an error, as json.Marshal's.
func TestLocalJSONRefusesWhatJSONCannotHold(t *testing.T) {
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		b := Bundle{Source: Marker{Topic: "t"}, Partials: []Partial{{Key: "k", Rows: 1, Aggs: []acc{{Min: x}}}}}
		if _, err := EncodeBundle(&b); err == nil {
			t.Errorf("%v: encoded without an error", x)
		}
		if _, err := json.Marshal(&b); err == nil {
			t.Errorf("%v: json.Marshal has no error either: the test is wrong", x)
		}
	}
}

// BenchmarkLocalSnapshotManyKeys: one source partition's state with 3 open
// windows of 20 000 keys (a job grouped by (city, userId)), encoded by
// SnapshotPartition (binary, version 2) and by json.Marshal of the same
// state (encoding_json, version 1's form). Run both in one go for the ratio:
//
//	go test ./plugins/window/engine/ -run '^$' -bench LocalSnapshotManyKeys -benchmem
func BenchmarkLocalSnapshotManyKeys(b *testing.B) {
	e, err := NewLocal(twoStageConfig(StageLocal))
	if err != nil {
		b.Fatal(err)
	}
	const keys = 20_000
	t0 := at(b, "2026-03-14T00:00:00Z")
	rows := make([]Row, 3*keys)
	for i := range rows {
		rows[i] = Row{TimeUs: t0 + int64(i/keys)*5*60_000_000 + int64(i%1000), Key: fmt.Sprintf(`["C%d",%d]`, i%5, i%keys),
			Values: []Value{{F: 12.75 + float64(i%13)}, {F: 3.1 * float64(i%7)}, Null, {F: 1.5}, {F: 2.5}},
			Pos:    Position{"rides", 0, int64(i)}, HasPos: true, Partitions: 1}
	}
	e.Process(rows, time.Now())
	s := e.parts[Position{Topic: "rides"}.Key()]
	if s == nil || len(s.open) != 3 {
		b.Fatalf("setup: %v", s)
	}
	stamp := LocalStamp{Fence: 3, Commit: int64(len(rows))}
	b.Run("binary", func(b *testing.B) {
		var n int
		for b.Loop() {
			data, _, err := e.SnapshotPartition("rides", 0, stamp)
			if err != nil {
				b.Fatal(err)
			}
			n = len(data)
		}
		b.ReportMetric(float64(n), "state_bytes")
	})
	b.Run("encoding_json", func(b *testing.B) {
		var n int
		for b.Loop() {
			st := localState{Version: localStateVersion, Config: e.config, LocalStamp: stamp, Marker: s.m, Closed: s.closed, Sent: s.sent}
			for _, start := range slices.Sorted(maps.Keys(s.open)) {
				for _, k := range slices.Sorted(maps.Keys(s.open[start])) {
					g := s.open[start][k]
					st.Open = append(st.Open, Partial{StartUs: start, Key: k, Rows: g.Rows, Aggs: g.Aggs})
				}
			}
			data, err := json.Marshal(&st)
			if err != nil {
				b.Fatal(err)
			}
			n = len(data)
		}
		b.ReportMetric(float64(n), "state_bytes")
	})
}
