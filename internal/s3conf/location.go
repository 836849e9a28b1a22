package s3conf

import (
	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/internal/objstore"
)

// locationCheck is the field check of a store location: objstore.ParseURL's
// grammar, in Go, so that lint and start agree.
const locationCheck = "rides_connect_location_error"

func init() {
	lintrule.RegisterFieldCheck(locationCheck, "a store location (a directory, file://, s3://bucket/prefix, s3a://bucket/prefix or memory://name)",
		func(url string) error {
			_, err := objstore.ParseURL(url)
			return err
		})
}

// LocationCheck is an element of a lint rule's list of messages checking the
// store location in field (of `this`): the error start would give, or null.
func LocationCheck(field string) string { return lintrule.FieldCheck(locationCheck, field) }
