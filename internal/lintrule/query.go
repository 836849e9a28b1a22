package lintrule

import (
	"errors"
	"fmt"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
)

// queryErrorFunction is the Bloblang function a rule calls to check a field
// that holds one Bloblang query (a string field, which Benthos' linter does
// not parse as it parses a mapping field).
const queryErrorFunction = "rides_connect_query_error"

func init() {
	spec := bloblang.NewPluginSpec().
		Category("Internal").
		Description("For rides-connect lint rules: a lint message naming field when query is not one Bloblang query expression, or null when it is (or is empty).").
		Param(bloblang.NewStringParam("field").Description("The field's path, which the message starts with.")).
		Param(bloblang.NewStringParam("query").Description("The query, as written in the config."))
	bloblang.MustRegisterFunctionV2(queryErrorFunction, spec, func(args *bloblang.ParsedParams) (bloblang.Function, error) {
		field, err := args.GetString("field")
		if err != nil {
			return nil, err
		}
		q, err := args.GetString("query")
		if err != nil {
			return nil, err
		}
		return func() (any, error) {
			if strings.TrimSpace(q) == "" {
				return nil, nil // the rule says what an empty query means for its field
			}
			if _, err := ParseQuery(q); err != nil {
				return field + ": " + err.Error(), nil
			}
			return nil, nil
		}, nil
	})
}

// ParseQuery compiles one Bloblang expression with every registered plugin.
// It is wrapped in an array so that the result keeps its type (Bloblang would
// turn a string root into raw bytes, indistinguishable from JSON), and so
// that two expressions in one field are refused.
func ParseQuery(q string) (*bloblang.Executor, error) {
	if strings.TrimSpace(q) == "" {
		return nil, errors.New("empty query")
	}
	exec, err := bloblang.Parse("root = [ (" + q + "\n) ]")
	if err != nil {
		// The error of the query alone points into the user's text, not
		// the wrapper's.
		if _, alone := bloblang.Parse(q); alone != nil {
			err = alone
		}
		return nil, fmt.Errorf("%q is not one Bloblang query: %w", q, err)
	}
	return exec, nil
}
