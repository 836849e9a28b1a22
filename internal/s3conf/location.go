package s3conf

import (
	"fmt"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/bloblang"

	"github.com/miaradia/rides-connect/internal/objstore"
)

// locationErrorFunction is the Bloblang function LocationCheck calls: the
// store URL grammar is objstore.ParseURL's, in Go, so lint and start agree.
const locationErrorFunction = "rides_connect_location_error"

func init() {
	spec := bloblang.NewPluginSpec().
		Category("Internal").
		Description("For rides-connect lint rules: a lint message naming field when url is not a store location (a directory, file://, s3://bucket/prefix, s3a://bucket/prefix or memory://name), or null when it is or is empty (the rule says what empty means).").
		Param(bloblang.NewStringParam("field").Description("The field's path, which the message starts with.")).
		Param(bloblang.NewStringParam("url").Description("The location, as written in the config."))
	bloblang.MustRegisterFunctionV2(locationErrorFunction, spec, func(args *bloblang.ParsedParams) (bloblang.Function, error) {
		field, err := args.GetString("field")
		if err != nil {
			return nil, err
		}
		raw, err := args.GetString("url")
		if err != nil {
			return nil, err
		}
		return func() (any, error) {
			if strings.TrimSpace(raw) == "" {
				return nil, nil
			}
			if _, err := objstore.ParseURL(raw); err != nil {
				return field + ": " + err.Error(), nil
			}
			return nil, nil
		}, nil
	})
}

// LocationCheck is an element of a lint rule's list of messages checking the
// store location in field (of `this`): the error start would give, or null.
func LocationCheck(field string) string {
	return fmt.Sprintf("%s(%q, this.%s.or(\"\").string())", locationErrorFunction, field, field)
}
