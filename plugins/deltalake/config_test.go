package deltalake

import (
	"strings"
	"testing"

	"github.com/miaradia/rides-connect/internal/batchcheck"
	"github.com/miaradia/rides-connect/internal/lintrule"
)

// Benthos lints enum values case-insensitively: a value in other case passes
// lint, so it must mean its option, never silently another one (`SEQUENCE`
// was read as no idempotency: at-least-once).
func TestEnumValuesInAnyCaseMeanTheirOption(t *testing.T) {
	conf, err := outputSpec().ParseYAML(`
path: /tmp/x`+strings.ReplaceAll(schemaYAML, "\n  ", "\n")+`
idempotency: { mode: SEQUENCE, app_id: rides_agg }
compression: Snappy
on_invalid_row: FAIL
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := outputConfigFromParsed(conf)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "sequence" || c.Compression != "snappy" || c.OnInvalidRow != "fail" {
		t.Fatalf("mode %q, compression %q, on_invalid_row %q; want sequence, snappy, fail", c.Mode, c.Compression, c.OnInvalidRow)
	}
}

func TestLintRulesTakeEnumValuesInAnyCase(t *testing.T) {
	y := `
output:
  delta_lake:
    path: /tmp/x` + strings.ReplaceAll(schemaYAML, "\n  ", "\n    ") + `
    idempotency: { mode: Kafka, app_id: bronze }
    max_in_flight: 4
`
	lints, err := lintrule.Lint(y)
	if err != nil {
		t.Fatal(err)
	}
	if len(lints) != 1 || !strings.Contains(lints[0], "idempotency.mode kafka needs in-order delivery") {
		t.Fatalf("lints %v, want the in-order rule of mode kafka", lints)
	}
}

// refusedAtStart parses a delta_lake config and returns the error that
// refuses it (nil when it is accepted).
func refusedAtStart(t *testing.T, extra string) error {
	t.Helper()
	return refusedAtStartAt(t, "/tmp/x", extra)
}

// refusedAtStartAt is refusedAtStart with the table at path.
func refusedAtStartAt(t *testing.T, path, extra string) error {
	t.Helper()
	conf, err := outputSpec().ParseYAML("path: "+path+strings.ReplaceAll(schemaYAML, "\n  ", "\n")+"\n"+extra, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = outputConfigFromParsed(conf)
	return err
}

func TestARepeatedPartitionColumnIsRefused(t *testing.T) {
	err := refusedAtStart(t, "partition_columns: [ city, CITY ]\n")
	if err == nil || !strings.Contains(err.Error(), `partition_columns: partition column "CITY" is listed twice`) {
		t.Fatalf("got %v, want partition_columns refused", err)
	}
}

// A property this writer honours with a value it cannot read was ignored for
// its default and written into the table's metadata as it was.
func TestUnreadableTablePropertiesAreRefused(t *testing.T) {
	for prop, value := range map[string]string{
		"delta.checkpointInterval":           "ten",
		"delta.dataSkippingNumIndexedCols":   "-5",
		"delta.deletedFileRetentionDuration": "a week",
		"delta.appendOnly":                   "yes",
	} {
		err := refusedAtStart(t, "table_properties: { "+prop+": \""+value+"\" }\n")
		if err == nil || !strings.Contains(err.Error(), "table_properties: "+prop) {
			t.Errorf("%s: %s: got %v, want table_properties refused", prop, value, err)
		}
	}
	if err := refusedAtStart(t, "table_properties: { delta.checkpointInterval: \"20\", delta.appendOnly: \"TRUE\", delta.deletedFileRetentionDuration: \"interval 2 weeks\", delta.dataSkippingNumIndexedCols: \"-1\" }\n"); err != nil {
		t.Fatalf("valid properties refused: %v", err)
	}
}

// A static fence token that is no integer made every row invalid: with
// on_invalid_row: drop (the default) the whole table was dropped, row by row.
func TestAStaticFenceTokenMustBeAnInteger(t *testing.T) {
	for _, token := range []string{"abc", "-1", "2147483648"} {
		err := refusedAtStart(t, "idempotency: { mode: sequence, app_id: a, fence_token: \""+token+"\" }\n")
		if err == nil || !strings.Contains(err.Error(), "idempotency.fence_token: \""+token+"\" is not an integer") {
			t.Errorf("fence_token %s: got %v, want it refused", token, err)
		}
	}
	for _, token := range []string{"7", "${! @window_fence_token.or(\\\"\\\") }"} {
		if err := refusedAtStart(t, "idempotency: { mode: sequence, app_id: a, fence_token: \""+token+"\" }\n"); err != nil {
			t.Errorf("fence_token %s refused: %v", token, err)
		}
	}
}

func TestANegativeSequenceGapTimeoutIsRefused(t *testing.T) {
	err := refusedAtStart(t, "idempotency: { mode: sequence, app_id: a, sequence_gap_timeout: -1s }\n")
	if err == nil || !strings.Contains(err.Error(), "idempotency.sequence_gap_timeout") {
		t.Fatalf("got %v, want sequence_gap_timeout refused", err)
	}
}

// Benthos ignored a negative count or period (no trigger) and refused a
// period without unit or max_in_flight 0 without naming the field.
func TestBatchingAndMaxInFlightAreRefusedNamingTheField(t *testing.T) {
	for extra, want := range map[string]string{
		"batching: { count: -1 }":              "batching.count",
		"batching: { count: 10, period: 60 }":  "batching.period",
		"batching: { count: 10, period: -1m }": "batching.period",
		"max_in_flight: 0":                     "max_in_flight",
	} {
		conf, err := outputSpec().ParseYAML("path: /tmp/x"+strings.ReplaceAll(schemaYAML, "\n  ", "\n")+"\n"+extra+"\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := batchcheck.Output(conf, fieldBatching); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %s named", extra, err, want)
		}
	}
}

// What start refuses about the table's location and schema, lint names too.
func TestLintNamesABadLocationAndRepeatedColumns(t *testing.T) {
	for path, want := range map[string]string{
		`""`:          "path: must be a directory",
		`ftp://h/t`:   `path: objstore: url "ftp://h/t": unsupported scheme "ftp"`,
		`s3:/lake/t`:  `path: objstore: "s3:/lake/t" is neither scheme://`,
		`s3:///t`:     "has no bucket",
		`/tmp/x`:      "",
		`s3a://b/t/`:  "",
		`memory://t1`: "",
	} {
		lintsAre(t, "output:\n  delta_lake:\n    path: "+path+strings.ReplaceAll(schemaYAML, "\n  ", "\n    ")+"\n", want)
		if want != "" && path != `""` {
			if err := refusedAtStartAt(t, path, ""); err == nil {
				t.Errorf("path %s: lint refuses it, start takes it", path)
			}
		}
	}
	lintsAre(t, "output:\n  delta_lake:\n    path: /tmp/x"+strings.ReplaceAll(schemaYAML, "\n  ", "\n    ")+"\n      - { name: City, type: string }\n",
		"schema: column names must be unique")
}

// delta_lake_validate shares the output's schema field and its lint.
func TestValidateLintsItsSchemaAsTheOutputDoes(t *testing.T) {
	for schema, want := range map[string]string{
		"[ { name: a, type: string }, { name: A, type: long } ]": "schema: column names must be unique",
		"[ { name: a, type: str } ]":                             "schema: columns a have an unsupported type",
		"[ { name: a, type: string }, { name: b, type: long } ]": "",
	} {
		lintsAre(t, "pipeline:\n  processors:\n    - delta_lake_validate: { schema: "+schema+" }\n", want)
	}
}

// lintsAre checks that config lints with one message containing want, or
// with none when want is empty.
func lintsAre(t *testing.T, config, want string) {
	t.Helper()
	lints, err := lintrule.Lint(config)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lints, "; "); len(lints) > 1 || (want == "") != (got == "") || !strings.Contains(got, want) {
		t.Errorf("lints %q, want %q\n%s", got, want, config)
	}
}
