package kafkafranz

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/kafkarecord"
)

func metadataProcessorSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Categories("Utility").
		Summary("Sets the Kafka metadata of messages whose `kafka_franz` input was told `set_metadata: false`.").
		Description(`
A `+"`kafka_franz`"+` input with `+"`set_metadata: false`"+` hands out record messages without metadata: the
record travels in the message's context instead, and rides-connect's components read it from there. Put this
processor before anything that reads `+"`@kafka_*`"+` (a Bloblang mapping, an output's `+"`key`"+` or
idempotency key): it sets every key the input sets with `+"`set_metadata: true`"+` (its `+"`metadata_keys`"+`,
plus `+"`kafka_topic`"+`, `+"`kafka_partition`"+` and the record's headers), with the same values and types,
except keys the message already has: what the pipeline set after the input wins, as it does over
metadata the input sets (a producer's header cannot replace the parser's `+"`dlq_reason`"+`). config/templates/dead_letter_envelope.yaml starts with it, so a job can drop the
metadata of the records it aggregates and still dead-letter a rejected record with its key and source.

A message that carries no record (another input, `+"`set_metadata: true`"+`, a `+"`tumbling_window`"+` emission)
passes unchanged. It changes no delivery guarantee: a pure function of each message.`).
		Example("Dead letters of a job without metadata", "Only the rejected records get their metadata back.", `
input:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topics: [ rides ]
    consumer_group: rides
    set_metadata: false
output:
  switch:
    cases:
      - check: errored()
        output:
          kafka_franz:
            seed_brokers: [ localhost:9092 ]
            topic: rides_dlq
            key: ${! @kafka_key }
          processors:
            - kafka_metadata: {}
      - output:
          drop: {}
`)
}

func init() {
	err := service.RegisterProcessor("kafka_metadata", metadataProcessorSpec(),
		func(*service.ParsedConfig, *service.Resources) (service.Processor, error) {
			return metadataProcessor{}, nil
		})
	if err != nil {
		panic(err)
	}
}

// metadataProcessor is kafka_metadata: stateless, so safe on every pipeline
// thread, and Close has nothing to release.
type metadataProcessor struct{}

func (metadataProcessor) Process(_ context.Context, msg *service.Message) (service.MessageBatch, error) {
	r, ok := kafkarecord.Of(msg)
	if !ok {
		return service.MessageBatch{msg}, nil
	}
	// What the pipeline set since the input wins over the record, as it
	// does when the input sets the metadata first: a producer's header
	// named dlq_reason must not replace the parser's reason.
	set := map[string]any{}
	_ = msg.MetaWalkMut(func(k string, v any) error { set[k] = v; return nil })
	r.SetMetadata(msg)
	for k, v := range set {
		msg.MetaSetMut(k, v)
	}
	return service.MessageBatch{msg}, nil
}

func (metadataProcessor) Close(context.Context) error { return nil }
