package window

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/miaradia/rides-connect/plugins/fromjson"
)

// stepProc builds one processor from its YAML, through Benthos, as a
// pipeline runs it.
func stepProc(t *testing.T, yaml string) *service.OwnedProcessor {
	t.Helper()
	conf, err := service.NewConfigSpec().Field(service.NewProcessorField("p")).
		ParseYAML("p:\n  "+strings.ReplaceAll(strings.TrimSpace(yaml), "\n", "\n  "), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := conf.FieldProcessor("p")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func fromJSONYAML(typedRows bool) string {
	return fmt.Sprintf(`
from_json:
  typed_rows: %v
  schema:
    - { name: rideId, type: long }
    - { name: city, type: string, transform: upper_unicode }
    - { name: distanceKm, type: double }
    - { name: price, type: double }
    - { name: ts, type: timestamp }`, typedRows)
}

// rawRides are the records of two windows' worth of rides on two partitions,
// the last two moving the watermark past the first window.
func rawRides() service.MessageBatch {
	recs := []struct {
		city, ts   string
		price      string
		part, offs int
	}{
		{"fr", "2026-03-14T00:01:00Z", "10.5", 0, 0},
		{"fr", "2026-03-14 02:04:59.999+02:00", "20.25", 0, 1},
		{"us", "2026-03-14T00:03:00Z", "30", 1, 0},
		{"de", "2026-03-14T00:16:00Z", "8", 1, 1},
		{"de", "2026-03-14T00:16:00Z", "8.000", 0, 2},
	}
	var b service.MessageBatch
	for i, r := range recs {
		m := service.NewMessage([]byte(fmt.Sprintf(`{"rideId":%d,"city":%q,"distanceKm":%d,"price":%s,"ts":%q}`, i, r.city, 5+i, r.price, r.ts)))
		m.MetaSetMut("kafka_topic", "rides")
		m.MetaSetMut("kafka_partition", r.part)
		m.MetaSetMut("kafka_offset", r.offs)
		b = append(b, m)
	}
	return b
}

// throughSteps runs the batch through each step in turn, then the window.
func throughSteps(t *testing.T, batch service.MessageBatch, steps ...*service.OwnedProcessor) ([]emitted, service.MessageBatch) {
	t.Helper()
	for _, s := range steps {
		out, err := s.ProcessBatch(context.Background(), batch)
		if err != nil || len(out) != 1 {
			t.Fatalf("step: %v, %d batches", err, len(out))
		}
		batch = out[0]
	}
	res := service.MockResources(service.MockResourcesOptAddCache("window_state"))
	p := build(t, ridesYAML, res, newClock())
	rows, errored := run(t, p, batch)
	if len(errored) != 0 {
		t.Fatalf("errored: %v", errored[0].GetError())
	}
	return rows, batch
}

func rowsText(rows []emitted) string {
	var s []string
	for _, r := range rows {
		s = append(s, fmt.Sprintf("%v %s %d", r.body, r.id, r.seq))
	}
	return strings.Join(s, "\n")
}

// from_json with typed_rows hands the window the typed fields: the window
// never parses the content (it stays bytes), and its rows are those of the
// same rides parsed into a map.
func TestWindowReadsTheParsesTypedRow(t *testing.T) {
	want, _ := throughSteps(t, rawRides(), stepProc(t, fromJSONYAML(false)))
	got, in := throughSteps(t, rawRides(), stepProc(t, fromJSONYAML(true)))
	if len(want) != 2 || rowsText(got) != rowsText(want) {
		t.Fatalf("typed rows:\n%s\nmap:\n%s", rowsText(got), rowsText(want))
	}
	for i, m := range in {
		if m.HasStructured() {
			t.Errorf("ride %d: the window parsed its content instead of reading the typed row", i)
		}
	}
}

// A step between the parse and the window that changes the content keeps
// the metadata, typed row included: the window must read the new content.
func TestWindowIgnoresTheTypedRowOfChangedContent(t *testing.T) {
	// What the window must see: every city renamed, one price changed.
	const rename = `
mapping: |
  root = this
  root.city = if this.city == "FR" { "PARIS" } else { this.city }
  root.price = if this.rideId == 0 { 100 } else { this.price }`
	want, _ := throughSteps(t, rawRides(), stepProc(t, fromJSONYAML(false)), stepProc(t, rename))
	if !strings.Contains(rowsText(want), "PARIS") || !strings.Contains(rowsText(want), "120.25") {
		t.Fatalf("the reference run does not show the change: %s", rowsText(want))
	}
	for name, step := range map[string]string{
		"mapping":  rename,
		"mutation": strings.Replace(strings.Replace(rename, "mapping", "mutation", 1), "  root = this\n", "", 1),
		"bytes": `
bloblang: |
  root = content().string().replace_all("\"FR\"", "\"PARIS\"").replace_all("\"price\":10.5", "\"price\":100").bytes()`,
	} {
		got, in := throughSteps(t, rawRides(), stepProc(t, fromJSONYAML(true)), stepProc(t, step))
		if rowsText(got) != rowsText(want) {
			t.Errorf("%s between parse and window:\n%s\nwant\n%s", name, rowsText(got), rowsText(want))
		}
		if _, ok := in[0].MetaGetMut("from_json_row"); !ok {
			t.Errorf("%s: the step dropped the typed row: the test no longer tests the check", name)
		}
	}
}
