// Package lintrule keeps the components' Bloblang lint rules out of the
// process start. Benthos parses a spec's LintRule when the spec is built (at
// registration, in init) and again for every instance of the component in a
// config it lints; the rides-connect rules are long (kafka_franz's input has
// some thirty checks), so parsing them took most of the ~70 ms a start
// spent before reading its config, and a few ms more per component instance.
// Lazy registers a rule under a name and returns a one-call rule in its
// place: the call parses the real rule once, the first time a config that
// uses the component is linted, and runs it. The same call checks the
// component's enum fields in Go (Enum), which Benthos would otherwise lint
// with a mapping parsed at each of their occurrences.
package lintrule

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"
)

// function is the Bloblang function a rule returned by Lazy calls.
const function = "rides_connect_lint"

type rule struct {
	mapping string
	enums   []Enum
	once    sync.Once
	exec    *bloblang.Executor
	err     error
}

var (
	mu    sync.Mutex
	rules = map[string]*rule{}
)

func init() {
	spec := bloblang.NewPluginSpec().
		Category("Internal").
		Description("Runs the lint rule of a rides-connect component on its config: the components' config specs call it (their rules are parsed once, at the first lint that needs them, not at every start). Returns the rule's list of messages.").
		Param(bloblang.NewStringParam("component").Description("The name the component's rule is registered under.")).
		Param(bloblang.NewAnyParam("config").Description("The component's config, `this` in a lint rule."))
	bloblang.MustRegisterFunctionV2(function, spec, func(args *bloblang.ParsedParams) (bloblang.Function, error) {
		name, err := args.GetString("component")
		if err != nil {
			return nil, err
		}
		conf, err := args.Get("config")
		if err != nil {
			return nil, err
		}
		r, err := lookup(name)
		if err != nil {
			return nil, err
		}
		return func() (any, error) { return r.run(conf) }, nil
	})
}

// Lazy registers mapping (a lint rule: root is a message or a list of
// messages) under name, with the component's enum fields (enumfield.New) to
// check in Go, and returns the rule to give the spec's LintRule. A spec
// built again (tests parse configs with it) registers the same mapping
// again, which is kept; another mapping under a taken name panics.
func Lazy(name, mapping string, enums ...Enum) string {
	mu.Lock()
	defer mu.Unlock()
	if r, dup := rules[name]; dup && r.mapping != mapping {
		panic("lintrule: two rules named " + name)
	} else if !dup {
		rules[name] = &rule{mapping: mapping, enums: enums}
	}
	return "root = " + Call(name)
}

// Call is the Bloblang query that runs the rule registered as name on
// `this`: its messages (a list, or null). As an element of another rule's
// list of messages it lets components share a part (the checks of a field
// group), which is then parsed once, not once in each component's rule.
func Call(name string) string {
	return fmt.Sprintf("%s(%q, this)", function, name)
}

// Check parses every registered rule and returns their parse errors, for a
// test to show that none is broken (at run time a broken rule is reported
// as a lint of the config that uses it).
func Check() error {
	mu.Lock()
	names := make([]string, 0, len(rules))
	for n := range rules {
		names = append(names, n)
	}
	mu.Unlock()
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		r, _ := lookup(n)
		if _, err := r.parsed(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// Lint returns what `rides-connect lint` reports for a stream config, one
// message per lint, with the components registered in the global
// environment (environment variables are not checked): for the tests of
// the rules.
func Lint(conf string) ([]string, error) {
	lints, err := service.GlobalEnvironment().FullConfigSchema("", "").NewStreamConfigLinter().
		SetSkipEnvVarCheck(true).LintYAML([]byte(conf))
	if err != nil {
		return nil, err
	}
	msgs := make([]string, 0, len(lints))
	for _, l := range lints {
		msgs = append(msgs, l.Error())
	}
	return msgs, nil
}

func lookup(name string) (*rule, error) {
	mu.Lock()
	defer mu.Unlock()
	r, ok := rules[name]
	if !ok {
		return nil, fmt.Errorf("%s: no lint rule registered as %q", function, name)
	}
	return r, nil
}

// parsed parses the rule in the environment Benthos lints with (pure
// functions only), once.
func (r *rule) parsed() (*bloblang.Executor, error) {
	r.once.Do(func() {
		r.exec, r.err = bloblang.NewEnvironment().OnlyPure().Parse(r.mapping)
	})
	return r.exec, r.err
}

// Enums returns the enum fields registered with the rule named name, for a
// test to compare with the component's spec.
func Enums(name string) ([]Enum, error) {
	r, err := lookup(name)
	if err != nil {
		return nil, err
	}
	return r.enums, nil
}

func (r *rule) run(conf any) (any, error) {
	exec, err := r.parsed()
	if err != nil {
		return "lint rule itself failed to parse: " + err.Error(), nil
	}
	// As Benthos runs a rule (Overlay onto nothing): a rule that assigns no
	// root returns nothing, not its input.
	var res any
	err = exec.Overlay(conf, &res)
	if errors.Is(err, bloblang.ErrRootDeleted) {
		res, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	enums := enumLints(conf, r.enums)
	if len(enums) == 0 {
		return res, nil
	}
	// The rule's result is a message, a list of them, or nothing.
	switch v := res.(type) {
	case nil:
		return enums, nil
	case []any:
		return append(append([]any{}, v...), enums...), nil
	default:
		return append([]any{v}, enums...), nil
	}
}
