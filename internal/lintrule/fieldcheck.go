package lintrule

import (
	"fmt"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
)

// RegisterFieldCheck registers the Bloblang function name(field, value) for
// lint rules: check runs in Go on a string field's value, so that lint and
// start judge it with the same code. The function returns a message naming
// field ("<field>: <check's error>") or null when check passes or the value
// is empty (the rule says what empty means for its field). A rule calls it
// through FieldCheck.
func RegisterFieldCheck(name, what string, check func(value string) error) {
	spec := bloblang.NewPluginSpec().
		Category("Internal").
		Description("For rides-connect lint rules: a lint message naming field when value is not " + what + ", or null when it is (or is empty).").
		Param(bloblang.NewStringParam("field").Description("The field's path, which the message starts with.")).
		Param(bloblang.NewStringParam("value").Description("The field's value, as written in the config."))
	bloblang.MustRegisterFunctionV2(name, spec, func(args *bloblang.ParsedParams) (bloblang.Function, error) {
		field, err := args.GetString("field")
		if err != nil {
			return nil, err
		}
		value, err := args.GetString("value")
		if err != nil {
			return nil, err
		}
		return func() (any, error) {
			if strings.TrimSpace(value) == "" {
				return nil, nil
			}
			if err := check(value); err != nil {
				return field + ": " + err.Error(), nil
			}
			return nil, nil
		}, nil
	})
}

// FieldCheck is the element of a lint rule's list of messages that runs the
// check registered as name on field, a dot path under `this`. A rule that
// checks every value of a map calls the function itself, naming each one.
func FieldCheck(name, field string) string {
	return fmt.Sprintf("%s(%q, this.%s.or(\"\").string())", name, field, field)
}
