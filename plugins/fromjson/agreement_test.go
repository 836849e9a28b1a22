package fromjson

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"
	"gopkg.in/yaml.v3"

	_ "github.com/miaradia/rides-connect/plugins/textcase" // uppercase_unicode, for the reference mapping

	"github.com/miaradia/rides-connect/config/templates"
	"github.com/miaradia/rides-connect/plugins/fromjson/typed"
)

// The agreement tests run the from_json step of config/rides.yaml and the
// Bloblang mapping it replaced (testdata/rides_parse_mapping.blobl) on the
// same records and require the same outcome: the same fields and values, or
// the same dead-letter reason with from_json's error text inside the
// mapping's. Where from_json deliberately differs (numbers out of range, see
// outOfRange; timestamp spellings, see tsDiffers) the test says so and checks
// what from_json does instead.

// ridesSchema reads the from_json config of the step labelled parse_ride
// wherever it sits in config/rides.yaml (pipeline or resources).
func ridesSchema(tb testing.TB) *typed.Schema {
	tb.Helper()
	// config/rides.yaml's parse_ride step is the parse_ride template: render it.
	raw, err := templates.File("parse_ride.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	var tmpl struct {
		Mapping string `yaml:"mapping"`
	}
	if err := yaml.Unmarshal(raw, &tmpl); err != nil {
		tb.Fatal(err)
	}
	exe, err := bloblang.Parse(tmpl.Mapping)
	if err != nil {
		tb.Fatal(err)
	}
	rendered, err := exe.Query(map[string]any{})
	if err != nil {
		tb.Fatal(err)
	}
	node, _ := rendered.(map[string]any)
	if node == nil || node["from_json"] == nil {
		tb.Fatal("config/templates/parse_ride.yaml does not render a from_json step")
	}
	conf, err := yaml.Marshal(node["from_json"])
	if err != nil {
		tb.Fatal(err)
	}
	pc, err := spec().ParseYAML(string(conf), nil)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := schemaFromParsed(pc)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func referenceMapping(tb testing.TB) *bloblang.Executor {
	tb.Helper()
	m, err := os.ReadFile(filepath.Join("testdata", "rides_parse_mapping.blobl"))
	if err != nil {
		tb.Fatal(err)
	}
	exe, err := bloblang.Parse(string(m))
	if err != nil {
		tb.Fatal(err)
	}
	return exe
}

// reasonRE is the dead-letter envelope's rule for a reason in an error text.
var reasonRE = regexp.MustCompile(`(bad_json|missing_field|bad_type|bad_timestamp|late_row|schema_mismatch)`)

func reasonOf(err error) string {
	if r := reasonRE.FindString(err.Error()); r != "" {
		return r
	}
	return "invalid"
}

type outcome struct {
	fields map[string]any
	err    error
}

func runReference(tb testing.TB, exe *bloblang.Executor, rec []byte) outcome {
	m, err := service.NewMessage(rec).BloblangQuery(exe)
	if err != nil {
		return outcome{err: err}
	}
	v, err := m.AsStructured()
	if err != nil {
		tb.Fatalf("%q: the mapping's output is not structured: %v", rec, err)
	}
	return outcome{fields: v.(map[string]any)}
}

// checkAgreement compares the two parses of rec.
func checkAgreement(t *testing.T, s *typed.Schema, p *typed.Parser, exe *bloblang.Executor, rec []byte) {
	t.Helper()
	old := runReference(t, exe, rec)
	got, err := p.Parse(rec)
	if field, ok := outOfRange(s, rec); ok && (err == nil || old.err == nil || reasonOf(err) != reasonOf(old.err)) {
		// Deliberate difference: the mapping let such a number through (or
		// failed without a reason); from_json rejects it as bad_type.
		var te *typed.Error
		if !errors.As(err, &te) || te.Reason != typed.ReasonBadType || !strings.Contains(te.Detail, field) {
			t.Fatalf("%q: %s is out of range: want bad_type naming it, got %v (mapping: %v)", rec, field, err, old.err)
		}
		return
	}
	if ts, now, sparkOK, differs := tsDiffers(rec); differs {
		// Deliberate difference: ts is read as Spark's cast reads it (typed.ParseTimestamp),
		// not as the mapping did. Fields before ts in the schema decide first in both.
		switch {
		case old.err != nil && reasonOf(old.err) != typed.ReasonBadTimestamp:
			if err == nil || reasonOf(err) != reasonOf(old.err) {
				t.Fatalf("%q: mapping error %q, from_json gave %v %v", rec, old.err, got, err)
			}
		case !sparkOK:
			if err == nil || reasonOf(err) != typed.ReasonBadTimestamp {
				t.Fatalf("%q: ts %q is no timestamp for Spark: want bad_timestamp, got %v %v", rec, ts, got, err)
			}
		default:
			if err != nil || got["ts"] != typed.FormatTimestamp(now) {
				t.Fatalf("%q: ts %q is %s for Spark, from_json gave %v %v", rec, ts, typed.FormatTimestamp(now), got, err)
			}
		}
		return
	}
	switch {
	case old.err != nil && err != nil:
		if reasonOf(old.err) != reasonOf(err) || !strings.Contains(old.err.Error(), err.Error()) {
			t.Fatalf("%q: mapping error %q, from_json error %q", rec, old.err, err)
		}
	case old.err != nil:
		t.Fatalf("%q: mapping error %q, from_json gave %v", rec, old.err, got)
	case err != nil:
		t.Fatalf("%q: mapping gave %v, from_json error %q", rec, old.fields, err)
	default:
		sameFields(t, s, rec, old.fields, got)
	}
}

// mappingTimestamp is the replaced mapping's reading of a ts string: RFC 3339
// as is, then trimmed with ' ' read as 'T', then the same without a zone (UTC).
func mappingTimestamp(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "T")
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// tsDiffers reports whether rec's ts (the last value of key ts, a string) is
// read differently by Spark's cast (typed.ParseTimestamp) and by the mapping,
// and what the former reads (ok false: refused).
func tsDiffers(rec []byte) (ts string, now time.Time, ok, differs bool) {
	var m map[string]any
	if json.Unmarshal(rec, &m) != nil {
		return "", time.Time{}, false, false
	}
	ts, isStr := m["ts"].(string)
	if !isStr {
		return "", time.Time{}, false, false
	}
	old, okOld := mappingTimestamp(ts)
	now, ok = typed.ParseTimestamp(ts)
	differs = okOld != ok || ok && typed.FormatTimestamp(old) != typed.FormatTimestamp(now)
	return ts, now, ok, differs
}

// sameFields compares the mapping's output (numbers as JSON literals) with
// from_json's (int64, float64): same names, same values.
func sameFields(t *testing.T, s *typed.Schema, rec []byte, old, got map[string]any) {
	t.Helper()
	if len(old) != len(got) {
		t.Fatalf("%q: mapping fields %v, from_json fields %v", rec, old, got)
	}
	for _, f := range s.Fields() {
		o, g := old[f.Name], got[f.Name]
		same := false
		switch f.Type {
		case typed.Long:
			n, _ := o.(json.Number)
			gi, ok := g.(int64)
			if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
				same = ok && i == gi
			} else if fl, err := strconv.ParseFloat(string(n), 64); err == nil {
				same = ok && fl == float64(gi)
			}
		case typed.Double:
			n, _ := o.(json.Number)
			ov, err := strconv.ParseFloat(string(n), 64)
			gv, ok := g.(float64)
			same = err == nil && ok && math.Float64bits(ov) == math.Float64bits(gv)
		default:
			same = o == g
		}
		if !same {
			t.Fatalf("%q: field %s: mapping %#v, from_json %#v", rec, f.Name, o, g)
		}
	}
}

// outOfRange names a schema field whose value is a JSON number that its type
// cannot hold (a long past int64, a double past float64), if any.
func outOfRange(s *typed.Schema, rec []byte) (string, bool) {
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(rec)))
	d.UseNumber()
	if d.Decode(&m) != nil {
		return "", false
	}
	for _, f := range s.Fields() {
		n, ok := m[f.Name].(json.Number)
		if !ok {
			continue
		}
		fl, err := strconv.ParseFloat(string(n), 64)
		switch f.Type {
		case typed.Double:
			if err != nil {
				return f.Name, true
			}
		case typed.Long:
			if _, ierr := strconv.ParseInt(string(n), 10, 64); ierr != nil && (err != nil || fl == math.Trunc(fl) && (fl < -(1<<63) || fl >= 1<<63)) {
				return f.Name, true
			}
		}
	}
	return "", false
}

func TestFromJSONAgreesWithTheMappingItReplaces(t *testing.T) {
	s := ridesSchema(t)
	p := typed.NewParser(s)
	exe := referenceMapping(t)
	recs := corpus()
	for _, rec := range recs {
		checkAgreement(t, s, p, exe, rec)
	}
	t.Logf("%d records agree", len(recs))
}

func FuzzFromJSONAgreesWithTheMappingItReplaces(f *testing.F) {
	for _, rec := range seeds() {
		f.Add(rec)
	}
	s := ridesSchema(f)
	p := typed.NewParser(s)
	exe := referenceMapping(f)
	f.Fuzz(func(t *testing.T, rec []byte) {
		checkAgreement(t, s, p, exe, rec)
	})
}
