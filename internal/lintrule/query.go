package lintrule

import (
	"errors"
	"fmt"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
)

// QueryCheck is the field check (RegisterFieldCheck) of a field that holds
// one Bloblang query: Benthos lints a string field as a string, not as it
// lints a mapping field.
const QueryCheck = "rides_connect_query_error"

func init() {
	RegisterFieldCheck(QueryCheck, "one Bloblang query expression", func(q string) error {
		_, err := ParseQuery(q)
		return err
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
