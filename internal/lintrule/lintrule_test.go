package lintrule

import (
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// lintTest is a processor whose lint rule is registered lazily.
var lintTestRule = Lazy("lintrule_test_proc", `root = [
  if this.size.or(1) < 1 { "size: must be at least 1" },
  if this.name.or("") == "" { "name: required" },
].filter(m -> m != null)`)

var brokenRule = Lazy("lintrule_test_broken", `root = [ if this.x { `)

func init() {
	for name, rule := range map[string]string{"lintrule_test_proc": lintTestRule, "lintrule_test_broken": brokenRule} {
		spec := service.NewConfigSpec().
			Field(service.NewIntField("size").Default(1)).
			Field(service.NewStringField("name").Default("")).
			LintRule(rule)
		service.MustRegisterProcessor(name, spec, func(*service.ParsedConfig, *service.Resources) (service.Processor, error) {
			return nil, nil
		})
	}
}

func lint(t *testing.T, conf string) string {
	t.Helper()
	msgs, err := Lint(conf)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(msgs, "\n")
}

// A lazily registered rule lints every instance of its component with its
// own config, as the rule given to LintRule directly would.
func TestLazyRuleLintsEachInstance(t *testing.T) {
	got := lint(t, `
pipeline:
  processors:
    - lintrule_test_proc: { size: 0, name: a }
    - lintrule_test_proc: { size: 2 }
    - lintrule_test_proc: { size: 3, name: ok }
`)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "size: must be at least 1") || !strings.Contains(lines[1], "name: required") {
		t.Fatalf("lints: %q", got)
	}
	if !strings.HasPrefix(lines[0], "(4,") || !strings.HasPrefix(lines[1], "(5,") {
		t.Fatalf("lints name the wrong lines: %q", got)
	}
	if got := lint(t, "pipeline:\n  processors:\n    - lintrule_test_proc: { name: x }\n"); got != "" {
		t.Fatalf("a valid config was linted: %q", got)
	}
}

// A rule that does not parse is a lint of the config that uses it (and
// Check reports it, for the tests of the rules of this repository).
func TestBrokenRuleIsReported(t *testing.T) {
	if got := lint(t, "pipeline:\n  processors:\n    - lintrule_test_broken: {}\n"); !strings.Contains(got, "lint rule itself failed to parse") {
		t.Fatalf("lints: %q", got)
	}
	if err := Check(); err == nil || !strings.Contains(err.Error(), "lintrule_test_broken") || strings.Contains(err.Error(), "lintrule_test_proc") {
		t.Fatalf("Check: %v", err)
	}
}

func TestLazyKeepsARuleRegisteredAgainAndPanicsOnAnother(t *testing.T) {
	if again := Lazy("lintrule_test_proc", rules["lintrule_test_proc"].mapping); again != lintTestRule {
		t.Fatalf("registered again: %q, first: %q", again, lintTestRule)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	Lazy("lintrule_test_proc", `root = []`)
}
