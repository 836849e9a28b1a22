package fromjson

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/fromjson/typed"
)

const ridesConf = `
schema:
  - { name: rideId, type: long }
  - { name: userId, type: long }
  - { name: city, type: string, transform: upper_unicode }
  - { name: distanceKm, type: double }
  - { name: price, type: double }
  - { name: ts, type: timestamp }
`

func newProc(t testing.TB, conf string) *processor {
	t.Helper()
	pc, err := spec().ParseYAML(conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := schemaFromParsed(pc)
	if err != nil {
		t.Fatal(err)
	}
	passMeta, err := pc.FieldString(fPassMeta)
	if err != nil {
		t.Fatal(err)
	}
	return &processor{parser: typed.NewParser(s), workers: 1, passMeta: passMeta}
}

// A message carrying pass_through_metadata keeps its content, structured or
// not, and no error; the others of the batch are parsed as usual.
func TestMessagesWithThePassThroughKeyAreNotParsed(t *testing.T) {
	p := newProc(t, ridesConf+"pass_through_metadata: window_stage\n")
	good := `{"rideId":42,"userId":7,"city":"fr","distanceKm":12.5,"price":18.4,"ts":"2026-03-14T08:58:43.498Z"}`
	row := service.NewMessage(nil)
	row.SetStructured(map[string]any{"city": "FR", "cnt": int64(3)})
	row.MetaSetMut("window_stage", "merge")
	raw := service.NewMessage([]byte("not json"))
	raw.MetaSetMut("window_stage", "merge")
	untagged := service.NewMessage([]byte("not json"))
	out, err := p.ProcessBatch(context.Background(), service.MessageBatch{service.NewMessage([]byte(good)), row, raw, untagged})
	if err != nil {
		t.Fatal(err)
	}
	b := out[0]
	if v, err := b[0].AsStructured(); err != nil || v.(map[string]any)["city"] != "FR" {
		t.Errorf("untagged ride not parsed: %v %v", v, err)
	}
	if v, err := b[1].AsStructured(); err != nil || b[1].GetError() != nil || v.(map[string]any)["cnt"] != int64(3) {
		t.Errorf("tagged row changed: %v %v %v", v, err, b[1].GetError())
	}
	if got, _ := b[2].AsBytes(); string(got) != "not json" || b[2].GetError() != nil {
		t.Errorf("tagged raw message changed: %q %v", got, b[2].GetError())
	}
	if b[3].GetError() == nil {
		t.Error("untagged bad record passed: the key must be present, not just configured")
	}
}

func TestProcessBatchTypesGoodRecordsAndDeadLettersBadOnes(t *testing.T) {
	p := newProc(t, ridesConf)
	good := `{"rideId":42,"userId":7,"city":"fr","distanceKm":12.5,"price":18.4,"ts":"2026-03-14T08:58:43.498Z"}`
	bad := `{"rideId":1,"userId":2,"city":"FR","distanceKm":5,"ts":"2026-03-14T08:00:00Z"}`
	batch := service.MessageBatch{service.NewMessage([]byte(good)), service.NewMessage([]byte(bad)), service.NewMessage([]byte("not json"))}
	out, err := p.ProcessBatch(context.Background(), batch)
	if err != nil || len(out) != 1 || len(out[0]) != 3 {
		t.Fatalf("got %v %v", out, err)
	}
	v, err := out[0][0].AsStructured()
	if err != nil || out[0][0].GetError() != nil {
		t.Fatal(err, out[0][0].GetError())
	}
	m := v.(map[string]any)
	if m["rideId"] != int64(42) || m["city"] != "FR" || m["price"] != 18.4 || m["ts"] != "2026-03-14T08:58:43.498Z" {
		t.Fatalf("structured %#v", m)
	}
	if b, _ := out[0][0].AsBytes(); string(b) != `{"city":"FR","distanceKm":12.5,"price":18.4,"rideId":42,"ts":"2026-03-14T08:58:43.498Z","userId":7}` {
		t.Fatalf("bytes %s", b)
	}
	for i, want := range []string{"missing_field", "bad_json"} {
		msg := out[0][i+1]
		reason, _ := msg.MetaGet(reasonMeta)
		if msg.GetError() == nil || reason != want || !strings.HasPrefix(msg.GetError().Error(), want+": ") {
			t.Errorf("message %d: error %v, dlq_reason %q, want %s", i+1, msg.GetError(), reason, want)
		}
		// The dead-letter topic gets the record as it came.
		if b, _ := msg.AsBytes(); string(b) != []string{bad, "not json"}[i] {
			t.Errorf("message %d content changed to %s", i+1, b)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		"schema: []": "at least one field",
		"schema: [ { name: a, type: long }, { name: a, type: long } ]":    `schema[1].name: "a" is declared twice`,
		"schema: [ { name: a, type: double, transform: upper_unicode } ]": "schema[0].transform",
	}
	for conf, want := range cases {
		pc, err := spec().ParseYAML(conf, nil)
		if err == nil {
			_, err = schemaFromParsed(pc)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", conf, err, want)
		}
	}
}

func TestLintRulesNameTheField(t *testing.T) {
	conf := `
pipeline:
  processors:
    - from_json:
        schema:
          - { name: a, type: long, transform: upper_unicode }
          - { name: a, type: string }
          - { name: "", type: double }
output:
  drop: {}
`
	err := service.NewStreamBuilder().SetYAML(conf)
	if err == nil {
		t.Fatal("lint passed")
	}
	for _, want := range []string{"schema[0].transform: only a string field", `schema[1].name: "a" is declared twice`, "schema[2].name: must not be empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("lint %q lacks %q", err, want)
		}
	}
	if err := service.NewStreamBuilder().SetYAML("pipeline:\n  processors:\n    - from_json:\n" + indent(ridesConf, "        ") + "output:\n  drop: {}\n"); err != nil {
		t.Fatalf("the rides schema fails lint: %v", err)
	}
}

func indent(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		b.WriteString(pre + l + "\n")
	}
	return b.String()
}

// A large batch is parsed by several goroutines: every message gets the same
// result as when one goroutine parses the batch, in the same place.
func TestParallelParseEqualsSerial(t *testing.T) {
	mk := func() service.MessageBatch {
		var b service.MessageBatch
		for i := 0; i < 3000; i++ {
			v := fmt.Sprintf(`{"rideId":%d,"userId":7,"city":"fr","distanceKm":%d.5,"price":18.4,"ts":"2026-03-14T08:58:43.498Z"}`, i, i%40)
			if i%7 == 0 {
				v = v[:len(v)/2] // truncated: bad_json
			}
			b = append(b, service.NewMessage([]byte(v)))
		}
		return b
	}
	serial, parallel := newProc(t, ridesConf), newProc(t, ridesConf)
	parallel.workers = 4
	a, err1 := serial.ProcessBatch(context.Background(), mk())
	b, err2 := parallel.ProcessBatch(context.Background(), mk())
	if err1 != nil || err2 != nil || len(a[0]) != len(b[0]) {
		t.Fatalf("%v %v", err1, err2)
	}
	for i := range a[0] {
		x, _ := a[0][i].AsBytes()
		y, _ := b[0][i].AsBytes()
		if string(x) != string(y) || fmt.Sprint(a[0][i].GetError()) != fmt.Sprint(b[0][i].GetError()) {
			t.Fatalf("message %d: serial %s (%v), parallel %s (%v)", i, x, a[0][i].GetError(), y, b[0][i].GetError())
		}
	}
}

// BenchmarkBatchWorkers prices a 2048-ride batch parsed by 1 and by 2
// goroutines (wall time per batch; compare the two in one run).
func BenchmarkBatchWorkers(b *testing.B) {
	raw := make([][]byte, 2048)
	for i := range raw {
		raw[i] = []byte(fmt.Sprintf(`{"rideId":%d,"userId":7,"city":"paris","distanceKm":%d.25,"price":18.4,"ts":"2026-03-14T08:58:43.498Z"}`, i, i%40))
	}
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprint("workers=", w), func(b *testing.B) {
			p := newProc(b, ridesConf)
			p.workers = w
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				batch := make(service.MessageBatch, len(raw))
				for j, r := range raw {
					batch[j] = service.NewMessage(r)
				}
				if _, err := p.ProcessBatch(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
