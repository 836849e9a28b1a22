package all

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/lintrule"
)

// specField is the part of a component spec's JSON (ConfigView.FormatJSON)
// this test reads.
type specField struct {
	Name             string      `json:"name"`
	Type             string      `json:"type"`
	Kind             string      `json:"kind"`
	Options          []string    `json:"options"`
	AnnotatedOptions [][2]string `json:"annotated_options"`
	Linter           string      `json:"linter"`
	Children         []specField `json:"children"`
}

var ourRule = regexp.MustCompile(`rides_connect_lint\("([^"]+)", this\)`)

// Every enum field of a rides-connect component (one with a lintrule rule)
// is checked once per component, in Go, by the component's lint rule
// (lintrule.Enum), and has no Benthos option mapping of its own, which
// Benthos parses at every occurrence of the field in every lint: each is
// listed with the same options in the rule, which lists no field the
// component does not have.
func TestEveryEnumFieldIsLintedOnceByItsComponentRule(t *testing.T) {
	env := service.GlobalEnvironment()
	checked := 0
	visit := func(kind string) func(string, *service.ConfigView) {
		return func(name string, view *service.ConfigView) {
			b, err := view.FormatJSON()
			if err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			var spec struct {
				Config specField `json:"config"`
			}
			if err := json.Unmarshal(b, &spec); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			found := map[string]enumField{}
			collectEnums(spec.Config, "", found)
			m := ourRule.FindStringSubmatch(spec.Config.Linter)
			if m == nil {
				return // Benthos' own (some of its enum fields are not linted at all)
			}
			enums, err := lintrule.Enums(m[1])
			if err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			listed := map[string][]string{}
			for _, e := range enums {
				listed[e.Path] = e.Options
			}
			for path, f := range found {
				if f.linter != "" {
					t.Errorf("%s %s: enum field %s keeps Benthos' option mapping (build it with enumfield.New)", kind, name, path)
					continue
				}
				if got, ok := listed[path]; !ok {
					t.Errorf("%s %s: enum field %s is not in rule %s's enums", kind, name, path, m[1])
				} else if !sameOptions(got, f.options) {
					t.Errorf("%s %s: rule %s checks %s against %q, the field's options are %q", kind, name, m[1], path, got, f.options)
				}
				checked++
			}
			for path := range listed {
				if _, ok := found[path]; !ok {
					t.Errorf("%s %s: rule %s lists enum %s, which is not an enum field of the component", kind, name, m[1], path)
				}
			}
		}
	}
	env.WalkInputs(visit("input"))
	env.WalkOutputs(visit("output"))
	env.WalkProcessors(visit("processor"))
	env.WalkCaches(visit("cache"))
	env.WalkMetrics(visit("metrics"))
	if checked < 20 {
		t.Fatalf("checked %d enum fields of rides-connect components, want the ~25 there are", checked)
	}
}

// enumField is what the test needs of an enum field of a spec.
type enumField struct {
	options []string
	linter  string // Benthos' option mapping, "" when it has none
}

// collectEnums maps the path of each enum field under f (lintrule.Enum's
// syntax) to its options and field lint.
func collectEnums(f specField, at string, out map[string]enumField) {
	for _, c := range f.Children {
		path := c.Name
		if at != "" {
			path = at + "." + c.Name
		}
		if len(c.Options) > 0 || len(c.AnnotatedOptions) > 0 {
			opts := append([]string{}, c.Options...)
			for _, a := range c.AnnotatedOptions {
				opts = append(opts, a[0])
			}
			out[path] = enumField{options: opts, linter: c.Linter}
		}
		switch {
		case c.Kind == "array" && c.Type == "object":
			collectEnums(c, path+"[]", out)
		case c.Kind == "map" && c.Type == "object":
			collectEnums(c, path+".*", out)
		default:
			collectEnums(c, path, out)
		}
	}
}

func sameOptions(a, b []string) bool {
	norm := func(s []string) []string {
		out := make([]string, len(s))
		for i, v := range s {
			out[i] = strings.ToLower(v)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}
