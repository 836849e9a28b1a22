package deltalake

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

func validateSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Utility").
		Summary("Marks messages that would not fit a `delta_lake` table schema as errored, so they can be dead-lettered before the output.").
		Description(`
Checks each message exactly as the `+"`delta_lake`"+` output will convert it (same `+"`schema`"+` field). A message that
does not fit gets an error naming the column (`+"`msg.SetError`"+`), metadata `+"`dlq_reason`"+`
(`+"`schema_mismatch`"+` or `+"`bad_json`"+`), is counted in `+"`delta_rows_invalid_total{reason}`"+` and is passed on;
route `+"`errored()`"+` messages to a dead-letter output with a `+"`switch`"+` output. Messages that already
carry an error are passed through untouched. Valid messages are not modified.

Stateless and safe on any number of pipeline threads; no back-pressure of its own.
`).
		Fields(schemaField(),
			service.NewBoolField(fieldIgnoreUnknown).
				Description("Accept message keys that are not columns (the output must use the same setting).").
				Default(false).Example(true).Advanced()).
		LintRule("root = "+lintrule.Call(schemaRuleName)).
		Example("Dead-letter rows before the table", "Invalid rows go to a Kafka topic, valid ones to Delta.", `
pipeline:
  processors:
    - delta_lake_validate:
        schema:
          - { name: city, type: string, nullable: false }
          - { name: cnt, type: long, nullable: false }
output:
  switch:
    cases:
      - check: errored()
        output:
          kafka_franz: { seed_brokers: [ localhost:9092 ], topic: rides_dlq }
      - output:
          delta_lake:
            path: ./data/silver/rides_agg
            schema:
              - { name: city, type: string, nullable: false }
              - { name: cnt, type: long, nullable: false }
`)
}

func init() {
	err := service.RegisterBatchProcessor("delta_lake_validate", validateSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchProcessor, error) {
			s, err := schemaFromParsed(conf)
			if err != nil {
				return nil, err
			}
			ign, err := conf.FieldBool(fieldIgnoreUnknown)
			if err != nil {
				return nil, err
			}
			return &validator{schema: s, ignoreUnknown: ign,
				invalid: mgr.Metrics().NewCounter("delta_rows_invalid_total", "reason")}, nil
		})
	if err != nil {
		panic(err)
	}
}

// validator is immutable after construction, hence goroutine-safe.
type validator struct {
	schema        delta.Schema
	ignoreUnknown bool
	invalid       *service.MetricCounter
}

func (v *validator) ProcessBatch(_ context.Context, b service.MessageBatch) ([]service.MessageBatch, error) {
	for _, msg := range b {
		if msg.GetError() != nil {
			continue
		}
		if _, bad := decodeRow(v.schema, msg, v.ignoreUnknown); bad != nil {
			msg.SetError(bad)
			msg.MetaSetMut(metaDLQReason, bad.reason)
			v.invalid.Incr(1, bad.reason)
		}
	}
	return []service.MessageBatch{b}, nil
}

func (v *validator) Close(context.Context) error { return nil }
