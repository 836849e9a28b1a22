// Package fromjson registers the from_json processor: each message is parsed
// as a JSON object against a schema declared in the config, as Spark's
// from_json(value, schema), with a dead-letter reason for records that do not
// fit. The parse itself lives in ./typed; this package is the Benthos adapter.
package fromjson

import (
	// The lint rules use Bloblang methods registered by the pure components;
	// importing them here registers them in any binary that has this plugin.
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/enumfield"
	"github.com/miaradia/rides-connect/internal/lintrule"
)

const (
	fSchema    = "schema"
	fName      = "name"
	fType      = "type"
	fRequired  = "required"
	fTransform = "transform"
	fWorkers   = "workers"
	fPassMeta  = "pass_through_metadata"

	// reasonMeta is the metadata key the dead-letter envelope reads the reason from.
	reasonMeta = "dlq_reason"
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Parsing").
		Summary("Parses each message as a JSON object against a declared schema, as Spark's `from_json(value, schema)`: typed fields, ISO-8601 timestamps, and a dead-letter reason for a record that does not fit.").
		Description(description).
		Field(service.NewObjectListField(fSchema,
			service.NewStringField(fName).
				Description("The field's name in the JSON object, and in the output.").
				Examples("rideId", "ts"),
			enumfield.NewAnnotated(fType, fieldTypes).Description("The field's type. A value of another JSON type is `bad_type` (`bad_timestamp` for a timestamp field)."),
			service.NewBoolField(fRequired).
				Description("Whether a missing or null value is an error (`missing_field`). An optional field that is missing or null is `null` in the output, as in Spark.").
				Default(true),
			enumfield.NewAnnotated(fTransform, fieldTransforms).Description("A transform of a `string` field after the parse.").Default("none"),
		).Description("The record's fields, in output order. The output object has exactly these fields; other fields of the input are left out.").
			Example([]any{
				map[string]any{"name": "rideId", "type": "long"},
				map[string]any{"name": "city", "type": "string", "transform": "upper_unicode"},
				map[string]any{"name": "ts", "type": "timestamp"},
			})).
		Field(service.NewIntField(fWorkers).
			Description("How many goroutines parse one batch, each a contiguous slice of it (batches under 512 messages are parsed by one); 0 = one per CPU. The batch keeps its order, so a single pipeline thread uses every core for the parse while what follows it still sees the input order.").
			Default(0).Advanced()).
		Field(service.NewStringField(fPassMeta).
			Description("A metadata key: a message that has it is passed on untouched, not parsed. For a pipeline that also carries another stage's records, already typed: in the two-stage scale-out job (config/rides.yaml) stage 2's rows arrive tagged `window_stage` beside the raw rides, and the parse runs on the pipeline threads without a `switch` around it. Empty: every message is parsed.").
			Default("").Example("window_stage").Advanced()).
		LintRule(lintrule.Lazy("from_json", lintRules, enums()...)).
		Example("The rides job", "Spark's `from_json(value, rideSchema)` then `upper(city)`; `ts` becomes an RFC 3339 string in UTC that `tumbling_window` reads as the event time.", `
pipeline:
  processors:
    - label: parse_ride
      from_json:
        schema:
          - { name: rideId, type: long }
          - { name: userId, type: long }
          - { name: city, type: string, transform: upper_unicode }
          - { name: distanceKm, type: double }
          - { name: price, type: double }
          - { name: ts, type: timestamp }
`)
}

const description = `
Each message is read as one JSON object. The fields named in ` + "`schema`" + ` are checked and typed, and the
message becomes an object of exactly those fields, in structured form: a later processor (` + "`tumbling_window`" + `,
a ` + "`mapping`" + `) reads them without parsing the JSON again.

A record that does not fit keeps its original content and goes on errored, with the reason in the error text
and in metadata ` + "`dlq_reason`" + `, for a dead-letter output (` + "`switch`" + ` on ` + "`errored()`" + `):

| reason | when | error text |
| --- | --- | --- |
| ` + "`bad_json`" + ` | not one JSON object (invalid JSON, an array, empty) | ` + "`bad_json: the record value is not a JSON object`" + ` |
| ` + "`missing_field`" + ` | a required field missing or null; all are named | ` + "`missing_field: missing or null: price, ts`" + ` |
| ` + "`bad_type`" + ` | a value of the wrong JSON type or out of range; every field of that type is named | ` + "`bad_type: rideId and userId must be integers`" + ` |
| ` + "`bad_timestamp`" + ` | a timestamp field that is not a string, or not in an accepted form | ` + "`bad_timestamp: not an ISO-8601 timestamp: yesterday`" + ` |

Fields are checked in schema order and the first misfit names the error, after the check for missing fields.
JSON is read as Benthos reads it (encoding/json: a repeated key takes its last value, invalid UTF-8 becomes
U+FFFD); a one-pass fast path reads the records on which the two agree byte for byte, which is nearly all.

Unlike Spark's PERMISSIVE mode, a record that does not fit is not turned into a row of nulls: it is rejected
with a reason, so it is never silently lost.

### Delivery

One message out per message in, in order, nothing held: acknowledgement is the pipeline's as usual. The
processor keeps no state and is safe with any number of pipeline threads.
`

// lintRules are the cross-field checks run by ` + "`lint`" + `.
const lintRules = `
let fields = this.schema.or([])
let errs = if $fields.length() == 0 { ["schema: declare at least one field, e.g. {name: ts, type: timestamp}"] } else { [] }
let names = $fields.map_each(f -> f.name.or(""))
let errs = $errs.concat($names.enumerated().filter(e -> e.value == "").map_each(e -> "schema[%d].name: must not be empty".format(e.index)))
let errs = $errs.concat($names.enumerated().filter(e -> e.value != "" && $names.slice(0, e.index).contains(e.value)).map_each(e -> "schema[%d].name: %q is declared twice".format(e.index, e.value)))
let errs = $errs.concat($fields.enumerated().filter(e -> e.value.transform.or("none") != "none" && e.value.type.or("") != "string").map_each(e -> "schema[%d].transform: only a string field can have a transform (%s is %s)".format(e.index, e.value.name.or(""), e.value.type.or(""))))
root = $errs
`

// fieldTypes are the options of schema[].type.
var fieldTypes = map[string]string{
	"long":      "A JSON number with an integral value within 64 bits (`42`, also `42.0` or `4.2e1`) → integer. A fraction or a value past 64 bits is `bad_type`.",
	"double":    "A JSON number → 64-bit float. A value past the float range (`1e400`) is `bad_type`.",
	"string":    "A JSON string → string.",
	"boolean":   "`true` or `false` → boolean.",
	"timestamp": "An ISO-8601 string in the forms Spark's `to_timestamp` takes: `2026-03-14T08:58:43.498Z`, `+02:00` offsets, a space instead of `T`, surrounding spaces, no zone meaning UTC, any number of fraction digits → the RFC 3339 string in UTC with the fraction truncated to microseconds (`2026-03-14T08:58:43.498Z`). A non-string is `bad_timestamp`, and so is a string in another form.",
}

// fieldTransforms are the options of schema[].transform.
var fieldTransforms = map[string]string{
	"none":          "The value as it is.",
	"upper_unicode": "Upper case with full Unicode mapping, as Spark 4's `upper()` (`straße` → `STRASSE`).",
	"lower_unicode": "Lower case with full Unicode mapping, as Spark 4's `lower()`.",
}

// enums are from_json's enum fields, for its lint rule.
func enums() []lintrule.Enum {
	return []lintrule.Enum{
		{Path: fSchema + "[]." + fType, Options: enumfield.Keys(fieldTypes)},
		{Path: fSchema + "[]." + fTransform, Options: enumfield.Keys(fieldTransforms)},
	}
}
