package lintrule

import (
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/enumfield"
)

// A processor with enum fields at the three kinds of path, checked by its
// rule in Go, beside a Bloblang check.
var enumTestRule = Lazy("lintrule_test_enums", `root = if this.size.or(1) < 1 { "size: must be at least 1" }`,
	Enum{Path: "mode", Options: []string{"a", "B"}},
	Enum{Path: "auth[].mechanism", Options: []string{"none", "PLAIN"}},
	Enum{Path: "aggs.*.op", Options: []string{"sum", "count"}},
)

func init() {
	spec := service.NewConfigSpec().
		Field(service.NewIntField("size").Default(1)).
		Field(enumfield.New("mode", "a", "B").Default("a")).
		Field(service.NewObjectListField("auth", enumfield.New("mechanism", "none", "PLAIN")).Default([]any{})).
		Field(service.NewObjectMapField("aggs", enumfield.New("op", "sum", "count")).Default(map[string]any{})).
		LintRule(enumTestRule)
	service.MustRegisterProcessor("lintrule_test_enums", spec, func(*service.ParsedConfig, *service.Resources) (service.Processor, error) {
		return nil, nil
	})
}

func TestEnumsAreCheckedByTheRuleNamingTheField(t *testing.T) {
	got := lint(t, `
pipeline:
  processors:
    - lintrule_test_enums:
        size: 0
        mode: c
        auth: [ { mechanism: plain }, { mechanism: SCRAM } ]
        aggs: { x: { op: SUM }, y: { op: avg }, z: { op: 5 } }
`)
	want := []string{
		"size: must be at least 1",
		`mode: value "c" is not one of "a", "B"`,
		`auth[1].mechanism: value "SCRAM" is not one of "none", "PLAIN"`,
		`aggs.y.op: value "avg" is not one of "sum", "count"`,
		`aggs.z.op: value "5" is not one of "sum", "count"`,
	}
	lines := strings.Split(got, "\n")
	if len(lines) != len(want) {
		t.Fatalf("lints: %q, want %q", lines, want)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) || !strings.HasPrefix(lines[i], "(5,") {
			t.Errorf("lint %d: %q, want %q at the component's line", i, lines[i], w)
		}
	}
	// Options match case-insensitively, as Benthos' own option lint does;
	// absent fields take their defaults.
	if got := lint(t, "pipeline:\n  processors:\n    - lintrule_test_enums: { mode: b, auth: [ { mechanism: Plain } ] }\n"); got != "" {
		t.Fatalf("a valid config was linted: %q", got)
	}
	if got := lint(t, "pipeline:\n  processors:\n    - lintrule_test_enums: {}\n"); got != "" {
		t.Fatalf("a config of defaults was linted: %q", got)
	}
}

func TestEnumsAtPrefixesThePaths(t *testing.T) {
	got := EnumsAt("s3.", Enum{Path: "sse", Options: []string{""}}, Enum{Path: "x[].y", Options: nil})
	if len(got) != 2 || got[0].Path != "s3.sse" || got[1].Path != "s3.x[].y" {
		t.Fatalf("%+v", got)
	}
}

// A rule that calls another (Call) reports the other's messages too, as
// kafka_franz's components do with their shared client checks.
var (
	_             = Lazy("lintrule_test_shared", `root = [ if this.name.or("") == "" { "name: required" } ].filter(m -> m != null)`)
	callOuterRule = Lazy("lintrule_test_outer", `root = [ if this.size.or(1) < 1 { "size: must be at least 1" }, `+Call("lintrule_test_shared")+` ].filter(m -> m != null)`)
)

func init() {
	spec := service.NewConfigSpec().
		Field(service.NewIntField("size").Default(1)).
		Field(service.NewStringField("name").Default("")).
		LintRule(callOuterRule)
	service.MustRegisterProcessor("lintrule_test_outer", spec, func(*service.ParsedConfig, *service.Resources) (service.Processor, error) {
		return nil, nil
	})
}

func TestARuleCallingAnotherReportsBoth(t *testing.T) {
	got := lint(t, "pipeline:\n  processors:\n    - lintrule_test_outer: { size: 0 }\n")
	if lines := strings.Split(got, "\n"); len(lines) != 2 || !strings.Contains(lines[0], "size: must be at least 1") || !strings.Contains(lines[1], "name: required") {
		t.Fatalf("lints: %q", got)
	}
	if got := lint(t, "pipeline:\n  processors:\n    - lintrule_test_outer: { name: x }\n"); got != "" {
		t.Fatalf("a valid config was linted: %q", got)
	}
}
