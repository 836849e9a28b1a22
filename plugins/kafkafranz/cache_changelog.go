package kafkafranz

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

const fieldChangelogTopic = "topic"

func changelogSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Reads the latest committed value of a key from a compacted Kafka topic (a changelog written in Kafka transactions).").
		Description(`
A read-only cache over a compacted topic, for state that a job writes in the same Kafka transaction as
its output and its consumed offsets (a `+"`kafka_franz`"+` output with `+"`transaction.input`"+`), and reads back
when a partition is assigned to it (see `+"`kafka_assignment_epoch`"+` in the `+"`kafka_franz`"+` input).

`+"`get`"+` returns the value of the key's latest record among committed transactions (`+"`read_committed`"+`):
records of aborted or still open transactions are never returned, and a tombstone (null value) deletes the key.
Before answering, each `+"`get`"+` reads the topic up to its last stable offsets as of the call, so a
transaction whose commit markers Kafka has not yet written to a partition of this topic is not seen yet:
the markers reach the partitions one by one, and a consumer group's offsets may be stable a moment before
them. A caller that needs the state as of a known offset stores that offset in the value and calls
`+"`get`"+` again until it matches.

A key that has a record past its partition's last stable offset (written in a transaction still open, or
committed behind one) is **pending**: `+"`get`"+` fails with "a newer value of the key may be committed behind a
transaction still open on its partition", naming the offset and producer, instead of returning a value that
may be stale. A replica killed with its transaction open holds the partitions it wrote to that way until
the broker aborts the transaction (`+"`transaction.timeout`"+`) or the same transactional id starts again; the
next owner's newer values lie behind it. Retry the `+"`get`"+`: it answers once the transaction has ended.

Cost: the first `+"`get`"+` reads the whole topic (one record per key once compacted); later ones read only
what was appended since, after two ListOffsets requests; while a partition has an open transaction, each
`+"`get`"+` also reads that partition from its last stable offset to its end. Memory: the latest value of every
key.

`+"`set`"+`, `+"`add`"+` and `+"`delete`"+` are refused: writes go through the transactional output, so that they
commit with the output and the offsets or not at all.
`).
		Fields(clientFields()...).
		Fields(service.NewStringField(fieldChangelogTopic).
			Description("The compacted topic to read.").
			Example("rides-agg-stage1-state")).
		LintRule(lintrule.Lazy("kafka_changelog", lintRule(append([]lintCheck{
			{`this.topic.or("").trim() == ""`, "topic: must name the compacted changelog topic"},
			// Not for the input and output, which are built at start and
			// refuse it then: lint does not see seed_brokers given through a
			// YAML merge key (tests/e2e TestJobThatCannotStartSaysWhy).
			{`this.seed_brokers.or([]).filter(b -> b.string().trim() != "").length() == 0`,
				"seed_brokers: at least one broker address is required"},
		}, clientRule)...), clientEnums...)).
		Example("Stage-1 state of a scaled-out window", "Read back per source partition state written in the input's transactions.", `
cache_resources:
  - label: stage1_state
    kafka_changelog:
      seed_brokers: [ "${KAFKA_BOOTSTRAP}" ]
      topic: rides-agg-stage1-state
`)
}

func init() {
	service.MustRegisterCache("kafka_changelog", changelogSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.Cache, error) {
			return newChangelogCache(conf, mgr)
		})
}

func newChangelogCache(conf *service.ParsedConfig, mgr *service.Resources) (*changelogCache, error) {
	client, err := clientConfigFromParsed(conf)
	if err != nil {
		return nil, err
	}
	topic, err := conf.FieldString(fieldChangelogTopic)
	if err != nil {
		return nil, err
	}
	if topic == "" {
		return nil, fmt.Errorf("%s: must not be empty", fieldChangelogTopic)
	}
	return &changelogCache{cl: franz.NewChangelog(client, topic, mgr.Logger()), topic: topic}, nil
}

// changelogCache adapts franz.Changelog to service.Cache.
type changelogCache struct {
	cl    *franz.Changelog
	topic string
}

func (c *changelogCache) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := c.cl.Get(ctx, key)
	if errors.Is(err, franz.ErrChangelogKeyNotFound) {
		return nil, service.ErrKeyNotFound
	}
	return v, err
}

func (c *changelogCache) refuse(op string) error {
	return fmt.Errorf("kafka_changelog %s: %s refused, the cache is read-only: write the record to the topic with a kafka_franz output in the input's transaction (transaction.input)", c.topic, op)
}

func (c *changelogCache) Set(context.Context, string, []byte, *time.Duration) error {
	return c.refuse("set")
}

func (c *changelogCache) Add(context.Context, string, []byte, *time.Duration) error {
	return c.refuse("add")
}

func (c *changelogCache) Delete(context.Context, string) error { return c.refuse("delete") }

func (c *changelogCache) Close(context.Context) error {
	c.cl.Close()
	return nil
}
