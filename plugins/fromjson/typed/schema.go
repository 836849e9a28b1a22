// Package typed parses a JSON object against a declared schema, as Spark's
// from_json(value, schema): typed fields, ISO-8601 timestamps, and for a
// record that does not fit, an error with a dead-letter reason instead of a
// row of nulls. It has no Benthos import; plugins/fromjson is its adapter.
package typed

import (
	"fmt"
	"strings"
)

// Type is a field's declared type.
type Type uint8

const (
	Long      Type = iota + 1 // a JSON number with an integral value in int64 → int64
	Double                    // a JSON number → float64
	String                    // a JSON string → string
	Boolean                   // true or false → bool
	Timestamp                 // an ISO-8601 string → RFC 3339 string in UTC, µs
)

var typeNames = map[string]Type{"long": Long, "double": Double, "string": String, "boolean": Boolean, "timestamp": Timestamp}

// ParseType reads a type name: long, double, string, boolean or timestamp.
func ParseType(s string) (Type, error) {
	if t, ok := typeNames[s]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("unknown type %q: use long, double, string, boolean or timestamp", s)
}

// Transform is applied to a string field after the parse.
type Transform uint8

const (
	NoTransform  Transform = iota
	UpperUnicode           // Spark 4's upper(): full Unicode case mapping
	LowerUnicode           // Spark 4's lower()
)

var transformNames = map[string]Transform{"none": NoTransform, "": NoTransform, "upper_unicode": UpperUnicode, "lower_unicode": LowerUnicode}

// ParseTransform reads a transform name: none, upper_unicode or lower_unicode.
func ParseTransform(s string) (Transform, error) {
	if t, ok := transformNames[s]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("unknown transform %q: use none, upper_unicode or lower_unicode", s)
}

// Field is one declared field of the record.
type Field struct {
	Name      string
	Type      Type
	Required  bool // missing or null is an error (missing_field); else it gives nil
	Transform Transform
}

// Schema is a validated list of fields, in output order.
type Schema struct {
	fields []Field
	// typeErr[i] is the error for a wrongly typed field i. Like the Bloblang
	// mapping it replaces, it names every field of that type ("rideId and
	// userId must be integers").
	typeErr []*Error
}

// NewSchema checks the fields: at least one, names non-empty and unique,
// transforms only on strings. Errors name the field by its index.
func NewSchema(fields []Field) (*Schema, error) {
	if len(fields) == 0 {
		return nil, fmt.Errorf("schema: at least one field is needed")
	}
	seen := map[string]bool{}
	for i, f := range fields {
		switch {
		case f.Name == "":
			return nil, fmt.Errorf("schema[%d].name: must not be empty", i)
		case seen[f.Name]:
			return nil, fmt.Errorf("schema[%d].name: %q is declared twice", i, f.Name)
		case f.Type < Long || f.Type > Timestamp:
			return nil, fmt.Errorf("schema[%d].type: unknown type %d", i, f.Type)
		case f.Transform != NoTransform && f.Type != String:
			return nil, fmt.Errorf("schema[%d].transform: only a string field can have a transform (%s is not a string)", i, f.Name)
		}
		seen[f.Name] = true
	}
	s := &Schema{fields: append([]Field(nil), fields...)}
	for _, f := range fields {
		s.typeErr = append(s.typeErr, typeError(fields, f.Type))
	}
	return s, nil
}

// Fields returns the declared fields (do not modify).
func (s *Schema) Fields() []Field { return s.fields }

var nouns = map[Type][2]string{
	Long:      {"an integer", "integers"},
	Double:    {"a number", "numbers"},
	String:    {"a string", "strings"},
	Boolean:   {"a boolean", "booleans"},
	Timestamp: {"an ISO-8601 string", "ISO-8601 strings"},
}

func typeError(fields []Field, t Type) *Error {
	var names []string
	for _, f := range fields {
		if f.Type == t {
			names = append(names, f.Name)
		}
	}
	noun := nouns[t][0]
	if len(names) > 1 {
		noun = nouns[t][1]
	}
	reason := ReasonBadType
	if t == Timestamp {
		reason = ReasonBadTimestamp
	}
	return &Error{Reason: reason, Detail: joinAnd(names) + " must be " + noun}
}

// joinAnd writes [a b c] as "a, b and c".
func joinAnd(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
