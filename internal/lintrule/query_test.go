package lintrule

import (
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
)

func TestQueryErrorNamesTheFieldOfABrokenQueryOnly(t *testing.T) {
	exec, err := bloblang.NewEnvironment().OnlyPure().Parse(`root = [
  rides_connect_query_error("timestamp", this.a),
  rides_connect_query_error("group_by.city", this.b),
  rides_connect_query_error("aggregates.n.value", this.c),
  rides_connect_query_error("x", ""),
]`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := exec.Query(map[string]any{"a": "this.ts.(", "b": "this.city.uppercase()", "c": "this.a this.b"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := got.([]any)
	if m, _ := msgs[0].(string); !strings.HasPrefix(m, `timestamp: "this.ts.(" is not one Bloblang query: `) || strings.Contains(m, ") ]") {
		t.Errorf("broken query: %q, want the field, the query and an error about the query's own text", msgs[0])
	}
	if msgs[1] != nil || msgs[3] != nil {
		t.Errorf("a good query and an empty one: %v, %v, want null (the rule says what empty means)", msgs[1], msgs[3])
	}
	if m, _ := msgs[2].(string); !strings.HasPrefix(m, `aggregates.n.value: "this.a this.b" is not one Bloblang query`) {
		t.Errorf("two expressions: %q", msgs[2])
	}
}

func TestParseQueryKeepsTheResultsType(t *testing.T) {
	exec, err := ParseQuery(`this.s # a comment`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := exec.Query(map[string]any{"s": "a string"})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := got.([]any); !ok || len(l) != 1 || l[0] != "a string" {
		t.Fatalf("got %#v, want [\"a string\"]", got)
	}
	if _, err := ParseQuery("  "); err == nil {
		t.Fatal("an empty query parsed")
	}
}
