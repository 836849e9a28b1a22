package typed

// Dead-letter reasons, the same words as the Bloblang mapping this parse
// replaces and as the dead-letter envelope of config/rides.yaml expects.
const (
	ReasonBadJSON      = "bad_json"
	ReasonMissingField = "missing_field"
	ReasonBadType      = "bad_type"
	ReasonBadTimestamp = "bad_timestamp"
)

// Error is a record that does not fit the schema.
type Error struct {
	Reason string // one of the Reason constants
	Detail string // what is wrong, naming the field
}

// Error reads "reason: detail", e.g. "missing_field: missing or null: price".
func (e *Error) Error() string { return e.Reason + ": " + e.Detail }

var errNotObject = &Error{Reason: ReasonBadJSON, Detail: "the record value is not a JSON object"}
