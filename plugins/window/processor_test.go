package window

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

const ridesYAML = `
timestamp: this.ts
size: 5m
watermark:
  delay: 10m
group_by:
  city: this.city
aggregates:
  revenue: { op: sum, value: this.price }
  avg_distance: { op: avg, value: this.distanceKm }
  cnt: { op: count }
state:
  cache: window_state
  key: rides_agg
`

// clock is a hand-moved processing-time clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)} }

func build(t testing.TB, yaml string, res *service.Resources, clk *clock) *processor {
	t.Helper()
	p, err := newProcessor(parseConfig(t, yaml, res), res, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// parseConfig parses a tumbling_window config against res.
func parseConfig(t testing.TB, yaml string, res *service.Resources) *procConfig {
	t.Helper()
	conf, err := spec().ParseYAML(yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := fromParsed(conf, res)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// msg is a ride at ts from topic rides, partition part, offset off.
func msg(city, ts string, price, dist float64, part, off int) *service.Message {
	m := service.NewMessage([]byte(fmt.Sprintf(`{"city":%q,"price":%v,"distanceKm":%v,"ts":%q}`, city, price, dist, ts)))
	m.MetaSetMut("kafka_topic", "rides")
	m.MetaSetMut("kafka_partition", part)
	m.MetaSetMut("kafka_offset", off)
	return m
}

type emitted struct {
	body map[string]any
	id   string
	seq  int64
}

// split runs a batch and sorts the result into emitted rows and errored messages.
func run(t testing.TB, p *processor, batch service.MessageBatch) (rows []emitted, errored []*service.Message) {
	t.Helper()
	out, err := p.ProcessBatch(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range out {
		for _, m := range b {
			if m.GetError() != nil {
				errored = append(errored, m)
				continue
			}
			raw, _ := m.AsBytes()
			var e emitted
			if err := json.Unmarshal(raw, &e.body); err != nil {
				t.Fatalf("emitted %s: %v", raw, err)
			}
			id, _ := m.MetaGet("window_id")
			seq, _ := m.MetaGetMut("window_emit_seq")
			e.id, e.seq = id, seq.(int64)
			if _, ok := m.MetaGet("kafka_offset"); ok {
				t.Errorf("emitted row carries input metadata kafka_offset")
			}
			rows = append(rows, e)
		}
	}
	return rows, errored
}

func TestRidesWindowThroughTheProcessor(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	rows, _ := run(t, p, service.MessageBatch{
		msg("FR", "2026-03-14T00:01:00Z", 10.5, 5, 0, 0),
		msg("FR", "2026-03-14T00:04:59.999Z", 20.25, 7, 0, 1),
		msg("US", "2026-03-14T00:03:00Z", 30, 9, 1, 0),
	})
	if len(rows) != 0 {
		t.Fatalf("emitted before the watermark moved: %v", rows)
	}
	// 00:16 on both partitions moves the (per-partition) watermark to 00:06
	// at the end of this batch, which emits [00:00,00:05) at once (emit:
	// after_batch, the default).
	rows, errored := run(t, p, service.MessageBatch{msg("DE", "2026-03-14T00:16:00Z", 8, 6, 1, 1), msg("DE", "2026-03-14T00:16:00Z", 8, 6, 0, 2)})
	if len(errored) != 0 || len(rows) != 2 {
		t.Fatalf("want 2 rows, got %v (errored %d)", rows, len(errored))
	}
	fr, us := rows[0], rows[1]
	want := map[string]any{"city": "FR", "revenue": 30.75, "avg_distance": 6.0, "cnt": 2.0,
		"window_start": "2026-03-14T00:00:00.000Z", "window_end": "2026-03-14T00:05:00.000Z"}
	for k, v := range want {
		if fr.body[k] != v {
			t.Errorf("FR %s = %v, want %v", k, fr.body[k], v)
		}
	}
	if len(fr.body) != len(want) {
		t.Errorf("FR row has fields %v", fr.body)
	}
	if us.body["city"] != "US" || us.body["cnt"] != 1.0 || fr.seq != 1 || us.seq != 1 || fr.id == us.id {
		t.Errorf("US %v seq %d/%d ids %s %s", us.body, fr.seq, us.seq, fr.id, us.id)
	}
}

func TestInvalidRowsGoOnErroredWithReason(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	failed := service.NewMessage([]byte(`{"city":"FR"}`))
	failed.SetError(fmt.Errorf("upstream"))
	batch := service.MessageBatch{
		service.NewMessage([]byte(`{"city":"FR","price":1,"distanceKm":1,"ts":"yesterday"}`)),
		service.NewMessage([]byte(`{"city":"FR","price":1,"distanceKm":1}`)),
		service.NewMessage([]byte(`{"city":null,"price":1,"distanceKm":1,"ts":"2026-03-14T00:01:00Z"}`)),
		service.NewMessage([]byte(`{"city":"FR","price":"ten","distanceKm":1,"ts":"2026-03-14T00:01:00Z"}`)),
		service.NewMessage([]byte(`not json`)),
		failed,
		service.NewMessage([]byte(`{"city":"FR","price":null,"distanceKm":1,"ts":"2026-03-14T00:01:00Z"}`)),
	}
	rows, errored := run(t, p, batch)
	if len(rows) != 0 || len(errored) != 6 {
		t.Fatalf("rows %d errored %d, want 0 and 6", len(rows), len(errored))
	}
	wantReasons := []string{"bad_timestamp", "bad_timestamp", "bad_group_key", "bad_value", "bad_timestamp", ""}
	for i, m := range errored {
		reason, _ := m.MetaGet("dlq_reason")
		if reason != wantReasons[i] {
			t.Errorf("message %d: dlq_reason %q, want %q (error %v)", i, reason, wantReasons[i], m.GetError())
		}
	}
	if errored[5] != failed {
		t.Error("an already failed message was not passed through untouched")
	}
	if !strings.Contains(errored[2].GetError().Error(), "group_by.city") {
		t.Errorf("error does not name the field: %v", errored[2].GetError())
	}
	if raw, _ := batch[0].AsBytes(); p.eng.OpenGroups() != 1 || batch[0].GetError() != nil || len(raw) == 0 {
		t.Errorf("open groups %d (only the null-price row is valid); input mutated? %v", p.eng.OpenGroups(), batch[0].GetError())
	}
}

func TestLateRowsAsErrors(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML+"late_rows: error\n", res, newClock())
	run(t, p, service.MessageBatch{msg("FR", "2026-03-14T01:00:00Z", 1, 1, 0, 0)})
	run(t, p, service.MessageBatch{msg("FR", "2026-03-14T01:00:01Z", 1, 1, 0, 1)})
	_, errored := run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:30:00Z", 1, 1, 0, 2)})
	if len(errored) != 1 {
		t.Fatalf("errored %d, want the late row", len(errored))
	}
	if r, _ := errored[0].MetaGet("dlq_reason"); r != "late_row" || !strings.Contains(errored[0].GetError().Error(), "00:35:00") {
		t.Errorf("late row: reason %q, error %v", r, errored[0].GetError())
	}
}

func TestHeartbeatsCloseTheLastWindowAfterIdleTimeout(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	clk := newClock()
	p := build(t, strings.Replace(ridesYAML, "delay: 10m", "delay: 10m\n  idle_timeout: 1m", 1), res, clk)
	run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)})
	tick := func() []emitted {
		hb := service.NewMessage([]byte(`{}`))
		hb.MetaSetMut("window_heartbeat", "true")
		rows, errored := run(t, p, service.MessageBatch{hb})
		if len(errored) != 0 {
			t.Fatalf("heartbeat passed on: %v", errored[0].GetError())
		}
		return rows
	}
	var got []emitted
	for i := 0; i < 200 && len(got) == 0; i++ {
		clk.add(5 * time.Second)
		got = tick()
	}
	// Event time advances with the wall clock after 1 min of quiet; [00:00,00:05)
	// closes once 00:01 − 10m + quiet >= 00:05, i.e. after 14 min, plus one tick.
	if len(got) != 1 || got[0].body["cnt"] != 1.0 {
		t.Fatalf("last window not closed by heartbeats: %v", got)
	}
	if quiet := clk.now().Sub(newClock().now()); quiet < 14*time.Minute || quiet > 14*time.Minute+10*time.Second {
		t.Errorf("closed after %v of quiet, want 14m + one tick", quiet)
	}
}

func TestRestartFromCheckpointContinuesAndReemitsWithSameIdentity(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	clk := newClock()
	p := build(t, ridesYAML, res, clk)
	b1 := service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0), msg("US", "2026-03-14T00:20:00Z", 2, 1, 0, 1)}
	b2 := service.MessageBatch{msg("US", "2026-03-14T00:21:00Z", 4, 1, 0, 2)}
	first, _ := run(t, p, b1) // the watermark reaches 00:10: [00:00,00:05) is emitted
	run(t, p, delivered(b2))  // b2 itself stays for the redelivery below
	if len(first) != 1 || first[0].seq != 1 {
		t.Fatalf("first emission %v", first)
	}
	// Crash: no Close. The input redelivers b2 (not committed); a new process loads the state.
	p2 := build(t, ridesYAML, res, clk)
	again, _ := run(t, p2, b2)
	if len(again) != 1 || again[0].seq != first[0].seq || again[0].id != first[0].id || fmt.Sprint(again[0].body) != fmt.Sprint(first[0].body) {
		t.Fatalf("re-emission %v differs from %v", again, first)
	}
	// The state continued: [00:20,00:25) holds 2+4; next emission is seq 2.
	next, _ := run(t, p2, service.MessageBatch{msg("FR", "2026-03-14T00:40:00Z", 0, 1, 0, 3)})
	more, _ := run(t, p2, service.MessageBatch{msg("FR", "2026-03-14T00:40:01Z", 0, 1, 0, 4)})
	next = append(next, more...)
	if len(next) != 1 || next[0].seq != 2 || next[0].body["revenue"] != 6.0 {
		t.Fatalf("after restart: %v", next)
	}
}

func TestChangedWindowShapeIsRefusedAtStart(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	run(t, p, service.MessageBatch{msg("FR", "2026-03-14T00:01:00Z", 1, 1, 0, 0)})
	conf, _ := spec().ParseYAML(strings.Replace(ridesYAML, "size: 5m", "size: 10m", 1), nil)
	c, err := fromParsed(conf, res)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newProcessor(c, res, time.Now); err == nil || !strings.Contains(err.Error(), "state.key") {
		t.Fatalf("restart with another size: %v", err)
	}
}

func TestUnknownCacheIsRefused(t *testing.T) {
	conf, _ := spec().ParseYAML(ridesYAML, nil)
	if _, err := fromParsed(conf, service.MockResources()); err == nil || !strings.Contains(err.Error(), "state.cache") {
		t.Fatalf("got %v", err)
	}
}

func TestLintRulesNameTheField(t *testing.T) {
	cases := map[string]string{
		"timestamp: a query": strings.Replace(ridesYAML, "timestamp: this.ts", "timestamp: ''", 1),
		"offset: must be":    strings.Replace(ridesYAML, "size: 5m", "size: 5m\noffset: 5m", 1),
		"aggregates.revenue": strings.Replace(ridesYAML, "value: this.price", "value: ''", 1),
		"window_start":       strings.Replace(ridesYAML, "city: this.city", "window_start: this.city", 1),
		"state.sync":         strings.Replace(ridesYAML, "  cache: window_state\n", "  sync: commit\n", 1),
		// An aggregate that is not an object (as `create` writes the field).
		"aggregates.revenue: want {op:": strings.Replace(ridesYAML, "revenue: { op: sum, value: this.price }", "revenue: sum", 1),
		// Queries are strings to Benthos' linter; the rule parses them.
		`timestamp: "this.ts.("`:                strings.Replace(ridesYAML, "timestamp: this.ts", "timestamp: this.ts.(", 1),
		`timestamp: "this.ts this.x"`:           strings.Replace(ridesYAML, "timestamp: this.ts", "timestamp: this.ts this.x", 1),
		`group_by.city: "this.city.uppercase("`: strings.Replace(ridesYAML, "city: this.city", "city: this.city.uppercase(", 1),
		`aggregates.revenue.value: "nope("`:     strings.Replace(ridesYAML, "value: this.price", `value: "nope("`, 1),
		// Durations the constructor refuses.
		"watermark.delay: must be whole milliseconds":  strings.Replace(ridesYAML, "delay: 10m", "delay: -1m", 1),
		"watermark.idle_timeout: soon is not":          strings.Replace(ridesYAML, "delay: 10m", "delay: 10m\n  idle_timeout: soon", 1),
		"order_timeout: must be a positive":            ridesYAML + "order_timeout: 0s\n",
		"bundles.period: must be a duration >= 0 such": ridesYAML + "bundles:\n  period: -1s\n",
		"size: must be whole milliseconds":             strings.Replace(ridesYAML, "size: 5m", "size: 1500us", 1),
	}
	lint := func(yaml string) error {
		indented := "tumbling_window:\n  " + strings.ReplaceAll(strings.TrimSpace(yaml), "\n", "\n  ")
		return service.NewStreamBuilder().AddProcessorYAML(indented)
	}
	for want, yaml := range cases {
		if err := lint(yaml); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("lint of bad config: %v, want mention of %q", err, want)
		}
		// What lint names, the start refuses too.
		conf, err := spec().ParseYAML(yaml, nil)
		if err == nil {
			_, err = fromParsed(conf, service.MockResources(service.MockResourcesOptAddCache("window_state")))
		}
		if err == nil {
			t.Errorf("%q: the processor starts with the config lint refuses", want)
		}
	}
	for _, yaml := range []string{
		ridesYAML,
		strings.Replace(ridesYAML, "timestamp: this.ts", `timestamp: meta("kafka_timestamp_unix").number()`, 1),
		strings.Replace(ridesYAML, "timestamp: this.ts", "timestamp: this.ts_ms / 1000 # milliseconds", 1),
		strings.Replace(ridesYAML, "delay: 10m", "delay: 10m\n  idle_timeout: 0s", 1),
		strings.Replace(ridesYAML, "city: this.city", "city: this.city.uppercase()", 1),
	} {
		if err := lint(yaml); err != nil {
			t.Errorf("lint of a good config: %v\n%s", err, yaml)
		}
	}
}

// Several group keys of different JSON types, and null as a key value of its
// own with null_group_keys: group (Spark's groupBy).
func TestSeveralGroupKeysAndNullKeysAsAGroup(t *testing.T) {
	yaml := strings.Replace(ridesYAML, "  city: this.city\n", "  city: this.city\n  user: this.user\n", 1) + "null_group_keys: group\n"
	p := build(t, yaml, service.MockResources(service.MockResourcesOptAddCache("window_state")), newClock())
	m := func(city any, user any, ts string, off int) *service.Message {
		b, _ := json.Marshal(map[string]any{"city": city, "user": user, "price": 1, "distanceKm": 1, "ts": ts})
		x := service.NewMessage(b)
		x.MetaSetMut("kafka_topic", "rides")
		x.MetaSetMut("kafka_partition", 0)
		x.MetaSetMut("kafka_offset", off)
		return x
	}
	rows, errored := run(t, p, service.MessageBatch{
		m("FR", 7, "2026-03-14T00:01:00Z", 0),
		m("FR", 7, "2026-03-14T00:02:00Z", 1),
		m("FR", "7", "2026-03-14T00:02:00Z", 2), // a string 7 is another key
		m(nil, 7, "2026-03-14T00:03:00Z", 3),
		m("FR", 7, "2026-03-14T00:30:00Z", 4),
	})
	if len(errored) != 0 {
		t.Fatalf("errored: %v", errored[0].GetError())
	}
	got := map[string]float64{}
	for _, r := range rows {
		got[fmt.Sprintf("%v|%#v", r.body["city"], r.body["user"])] = r.body["cnt"].(float64)
	}
	want := map[string]float64{`FR|7`: 2, `FR|"7"`: 1, `<nil>|7`: 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
}

// A Kafka record whose producer set a header window_heartbeat (metadata with
// kafka_franz set_metadata: true) is a ride like any other, not a heartbeat
// swallowed uncounted.
func TestAKafkaRecordIsNeverAHeartbeat(t *testing.T) {
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	posing := msg("FR", "2026-03-14T00:01:00Z", 5, 1, 0, 0)
	posing.MetaSetMut("window_heartbeat", "true")
	run(t, p, service.MessageBatch{posing, msg("FR", "2026-03-14T00:02:00Z", 7, 1, 0, 1)})
	rows, _ := run(t, p, service.MessageBatch{msg("FR", "2026-03-14T01:00:00Z", 1, 1, 0, 2)})
	if len(rows) != 1 || rows[0].body["cnt"] != 2.0 || rows[0].body["revenue"] != 12.0 {
		t.Fatalf("window [00:00,00:05): %v, want both rides (cnt 2, revenue 12)", rows)
	}
}
