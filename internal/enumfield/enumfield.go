// Package enumfield reads an enum config field as Benthos lints it.
//
// Benthos lints an enum field (service.NewStringEnumField and
// NewStringAnnotatedEnumField) case-insensitively: `late_rows: ERROR` passes
// `lint` for the options drop and error, and ParsedConfig.FieldString then
// returns "ERROR". A component that compares the raw value with "error" takes
// it for neither option, silently. Read returns the option itself.
package enumfield

import (
	"fmt"
	"sort"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Read returns the option the field at path names, matched case-insensitively
// as lint matches it, or an error naming the field and the options.
func Read(conf *service.ParsedConfig, options []string, path ...string) (string, error) {
	v, err := conf.FieldString(path...)
	if err != nil {
		return "", err
	}
	for _, o := range options {
		if strings.EqualFold(v, o) {
			return o, nil
		}
	}
	return "", fmt.Errorf("%s: %q is not one of %s", strings.Join(path, "."), v, strings.Join(options, ", "))
}

// Keys returns the options of an annotated enum (option → description), sorted.
func Keys(annotated map[string]string) []string {
	keys := make([]string, 0, len(annotated))
	for k := range annotated {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// New is service.NewStringEnumField without Benthos' option lint, which
// parses a Bloblang mapping of the options at every occurrence of the field
// in every lint (most of a start's lint, see lintrule.Enum): the component's
// lint rule checks the field instead (lintrule.Lazy with a lintrule.Enum of
// the same options). The options stay in the docs.
func New(name string, options ...string) *service.ConfigField {
	return service.NewStringEnumField(name, options...).LintRule("")
}

// NewAnnotated is service.NewStringAnnotatedEnumField as New is
// service.NewStringEnumField.
func NewAnnotated(name string, options map[string]string) *service.ConfigField {
	return service.NewStringAnnotatedEnumField(name, options).LintRule("")
}
