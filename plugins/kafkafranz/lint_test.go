package kafkafranz

import (
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/batchcheck"
	"github.com/miaradia/rides-connect/internal/lintrule"
)

func lint(t *testing.T, conf string) string {
	t.Helper()
	msgs, err := lintrule.Lint(conf)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(msgs, "\n")
}

func TestInputLintRules(t *testing.T) {
	cases := []lintCase{
		{"ok group", "topics: [ rides ]\n    consumer_group: g", ""},
		{"ok explicit", "topics: [ \"rides:0-5\" ]", ""},
		{"ok regexp", "regexp_topics_include: [ \"rides-.*\" ]\n    consumer_group: g", ""},
		{"group with explicit", "topics: [ \"rides:1\" ]\n    consumer_group: g", "consumer_group: cannot be used with explicit partitions"},
		{"no group", "topics: [ rides ]", "consumer_group: required"},
		{"both topic forms", "topics: [ rides ]\n    regexp_topics_include: [ x ]\n    consumer_group: g", "set one, not both"},
		{"no topics", "consumer_group: g", "topics: at least one topic"},
		{"exclude alone", "topics: [ rides ]\n    regexp_topics_exclude: [ x ]\n    consumer_group: g", "regexp_topics_exclude: only applies"},
		{"committed no group", "topics: [ \"rides:0\" ]\n    start_offset: committed", "start_offset: committed requires"},
		{"instance without group", "topics: [ \"rides:0\" ]\n    instance_id: a", "instance_id: static membership needs"},
		{"single owner without group", "topics: [ \"rides:0\" ]\n    group_balancer: single_owner", "group_balancer: single_owner needs a consumer_group"},
		{"unknown balancer", "topics: [ rides ]\n    consumer_group: g\n    group_balancer: range", "group_balancer"},
		{"ok single owner", "topics: [ rides ]\n    consumer_group: g\n    group_balancer: single_owner", ""},
		{"checkpoint 0", "topics: [ rides ]\n    consumer_group: g\n    checkpoint_limit: 0", "checkpoint_limit: must be at least 1"},
		{"commit period", "topics: [ rides ]\n    consumer_group: g\n    commit_period: 10ms", "commit_period: must be at least 100ms"},
		{"rebalance timeout 0", "topics: [ rides ]\n    consumer_group: g\n    rebalance_timeout: 0s", "rebalance_timeout: must be positive"},
		{"metadata max age negative", "topics: [ rides ]\n    consumer_group: g\n    metadata_max_age: -5s", "metadata_max_age: must be positive"},
		{"ok metadata max age", "topics: [ rides ]\n    consumer_group: g\n    metadata_max_age: 5s\n    rebalance_timeout: 1m", ""},
		{"tls off with truststore", "topics: [ rides ]\n    consumer_group: g\n    tls:\n      truststore_file: /x.jks", "tls.enabled is false"},
		{"scram without user", "topics: [ rides ]\n    consumer_group: g\n    sasl:\n      - mechanism: SCRAM-SHA-512\n        password: x", "need a username"},
		{"bad mechanism", "topics: [ rides ]\n    consumer_group: g\n    sasl:\n      - mechanism: GSSAPI", "GSSAPI"},
		{"aws msk iam", "topics: [ rides ]\n    consumer_group: g\n    sasl:\n      - mechanism: AWS_MSK_IAM", "AWS_MSK_IAM is not supported"},
		{"request overhead", "topics: [ rides ]\n    consumer_group: g\n    request_timeout_overhead: 10ms", "request_timeout_overhead: must be between"},
		{"conn idle", "topics: [ rides ]\n    consumer_group: g\n    conn_idle_timeout: 1h", "conn_idle_timeout: must be between"},
		{"isolation level", "topics: [ rides ]\n    consumer_group: g\n    transaction_isolation_level: serializable", "serializable"},
		{"ok poll scope", "topics: [ rides ]\n    consumer_group: g\n    batch_scope: poll\n    batching:\n      count: 1000\n      period: 1s", ""},
		{"poll scope count 1", "topics: [ rides ]\n    consumer_group: g\n    batch_scope: poll\n    batching:\n      count: 1", "batch_scope: poll with batching.count: 1"},
		{"bad scope", "topics: [ rides ]\n    consumer_group: g\n    batch_scope: topic", "topic"},
		{"ok metadata keys", "topics: [ rides ]\n    consumer_group: g\n    metadata_keys: [ kafka_key, kafka_offset ]", ""},
		{"unknown metadata key", "topics: [ rides ]\n    consumer_group: g\n    metadata_keys: [ kafka_offset, kafka_time ]", "metadata_keys: unknown key"},
		{"ok transaction", "topics: [ rides ]\n    consumer_group: g\n    transaction:\n      enabled: true\n      commit_period: 200ms", ""},
		{"transaction without group", "topics: [ \"rides:0\" ]\n    transaction:\n      enabled: true", "transaction.enabled: requires a consumer_group"},
		{"transaction period above timeout", "topics: [ rides ]\n    consumer_group: g\n    transaction:\n      enabled: true\n      commit_period: 2m", "transaction.commit_period: must be below transaction.timeout"},
		{"ok purge", "topics: [ rides ]\n    consumer_group: g\n    purge_committed: { enabled: true, interval: 30s }", ""},
		{"ok notices", "topics: [ rides ]\n    consumer_group: g\n    empty_partition_notices: true", ""},
		{"notices without group", "topics: [ \"rides:0\" ]\n    empty_partition_notices: true", "empty_partition_notices: requires a consumer_group"},
		{"purge without group", "topics: [ \"rides:0\" ]\n    purge_committed: { enabled: true }", "purge_committed.enabled: requires a consumer_group"},
		{"purge interval", "topics: [ rides ]\n    consumer_group: g\n    purge_committed: { enabled: true, interval: 100ms }", "purge_committed.interval: must be at least 1s"},
		{"session 0", "topics: [ rides ]\n    consumer_group: g\n    session_timeout: 0s", "session_timeout: must be at least 100ms"},
		{"session negative", "topics: [ rides ]\n    consumer_group: g\n    session_timeout: -10s", "session_timeout: must be at least 100ms"},
		{"heartbeat 0", "topics: [ rides ]\n    consumer_group: g\n    heartbeat_interval: 0s", "heartbeat_interval: must be positive"},
		{"heartbeat above session", "topics: [ rides ]\n    consumer_group: g\n    session_timeout: 10s\n    heartbeat_interval: 20s", "heartbeat_interval: must not be longer than session_timeout"},
		{"ok session and heartbeat", "topics: [ rides ]\n    consumer_group: g\n    session_timeout: 10s\n    heartbeat_interval: 1s", ""},
		{"session without unit", "topics: [ rides ]\n    consumer_group: g\n    session_timeout: 10", "session_timeout: not a duration"},
		{"fetch wait 0", "topics: [ rides ]\n    consumer_group: g\n    fetch_max_wait: 0s", "fetch_max_wait: must be at least 10ms"},
		{"fetch wait negative", "topics: [ rides ]\n    consumer_group: g\n    fetch_max_wait: -50ms", "fetch_max_wait: must be at least 10ms"},
		{"ok connect fields", "topics: [ rides ]\n    consumer_group: g\n    multi_header: true\n    fetch_min_bytes: 1KiB\n    transaction_isolation_level: read_committed", ""},
	}
	checkLint(t, "input:\n  kafka_franz:\n    seed_brokers: [ localhost:9092 ]\n    ", cases)
}

// A kafka_changelog cache is built on its first use, by a window stage once
// a partition is assigned: lint is where its config is first checked.
func TestChangelogLintRules(t *testing.T) {
	cases := []lintCase{
		{"ok", "seed_brokers: [ localhost:9092 ]\n      topic: g-stage1-state", ""},
		{"no topic", "seed_brokers: [ localhost:9092 ]\n      topic: \"\"", "topic: must name the compacted changelog topic"},
		{"no brokers", "seed_brokers: []\n      topic: g-stage1-state", "seed_brokers: at least one broker address is required"},
		{"empty broker", "seed_brokers: [ \"\" ]\n      topic: g-stage1-state", "seed_brokers: at least one broker address is required"},
		{"broker URL", "seed_brokers: [ \"PLAINTEXT://kafka:9092\" ]\n      topic: g-stage1-state", "seed_brokers: want host:port addresses, not URLs"},
	}
	checkLint(t, "cache_resources:\n  - label: c\n    kafka_changelog:\n      ", cases)
}

func TestOutputLintRules(t *testing.T) {
	cases := []lintCase{
		{"ok", "topic: rides", ""},
		{"manual without partition", "topic: rides\n    partitioner: manual", "partition: required when partitioner is manual"},
		{"partition without manual", "topic: rides\n    partition: \"1\"", "partition: only used"},
		{"idempotent needs acks", "topic: rides\n    ack_replicas: false", "ack_replicas: must be true"},
		{"ok create topic", "topic: rides_dlq\n    create_topic:\n      enabled: true\n      partitions: 3\n      replication_factor: 3\n      configs: { max.message.bytes: \"8388608\" }", ""},
		{"create interpolated", "topic: ${! @t }-dlq\n    create_topic:\n      enabled: true", "create_topic.enabled: needs a static topic"},
		{"create 0 partitions", "topic: rides\n    create_topic:\n      partitions: 0", "create_topic.partitions: must be at least 1"},
		{"create rf 0", "topic: rides\n    create_topic:\n      replication_factor: 0", "create_topic.replication_factor: must be at least 1"},
		{"bad compression", "topic: rides\n    compression: brotli", "brotli"},
		{"output metadata max age 0", "topic: rides\n    metadata_max_age: 0s", "metadata_max_age: must be positive"},
		{"ok connect fields", "topic: rides\n    rack_id: a\n    broker_write_max_bytes: 128MiB", ""},
		{"ok transaction", "topic: rides\n    transaction: { input: src }\n    partitioner: manual\n    partition: ${! @p }", ""},
		{"transaction without input", "topic: rides\n    transaction: { input: \"\" }", "transaction.input: must name"},
		{"transaction round robin", "topic: rides\n    transaction: { input: src }\n    partitioner: round_robin", "partitioner: must be murmur2_hash or manual"},
		{"transaction and idempotency", "topic: rides\n    transaction: { input: src }\n    idempotency: { consumer_group: g }", "idempotency: not needed"},
		{"output aws msk iam", "topic: rides\n    sasl:\n      - mechanism: AWS_MSK_IAM", "AWS_MSK_IAM is not supported"},
	}
	checkLint(t, "output:\n  kafka_franz:\n    seed_brokers: [ localhost:9092 ]\n    ", cases)
}

// Construction re-checks what lint checks, naming the field, because lint
// is optional.
func TestInputConstructionRefusesBadConfig(t *testing.T) {
	for body, want := range map[string]string{
		"topics: [ rides ]":       "consumer_group",
		"topics: [ \"rides:x\" ]": "topics",
		"topics: [ rides ]\n  consumer_group: g\n  fetch_max_bytes: lots":                                                     "fetch_max_bytes",
		"topics: [ rides ]\n  consumer_group: g\n  tls:\n    enabled: true\n    truststore_file: /nonexistent/truststore.jks": "truststore_file",
		"regexp_topics_include: [ \"(\" ]\n  consumer_group: g":                                                               "regexp_topics_include",
		"topics: [ rides ]\n  consumer_group: g\n  batch_scope: poll\n  batching:\n    count: 1":                              "batch_scope",
		"topics: [ rides ]\n  consumer_group: g\n  batch_scope: everything":                                                   "batch_scope",
		"topics: [ rides ]\n  consumer_group: g\n  batching:\n    count: -1\n    period: 1s":                                  "batching.count",
		"topics: [ rides ]\n  consumer_group: g\n  batching:\n    count: 10\n    period: -1s":                                 "batching.period",
		// Every record was skipped, with an error logged, once they came.
		"topics: [ rides ]\n  consumer_group: g\n  batching:\n    count: 10\n    period: 1":         "batching",
		"topics: [ rides ]\n  consumer_group: g\n  batching:\n    check: this.x ==\n    period: 1s": "batching",
	} {
		err := constructInput("seed_brokers: [ localhost:9092 ]\n" + strings.ReplaceAll(body, "\n  ", "\n") + "\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v does not name %s", body, err, want)
		}
	}
}

func TestOutputBatchingAndMaxInFlightAreRefusedNamingTheField(t *testing.T) {
	for extra, want := range map[string]string{
		"batching: { count: -1 }":             "batching.count",
		"batching: { count: 10, period: 60 }": "batching.period",
		"max_in_flight: 0":                    "max_in_flight",
	} {
		conf, err := outputSpec().ParseYAML("seed_brokers: [ localhost:9092 ]\ntopic: t\n"+extra+"\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := batchcheck.Output(conf, fieldBatching); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %s named", extra, err, want)
		}
	}
}

// A Kafka listener given as a broker address was dialled as a host name,
// retried forever.
func TestInputConstructionRefusesABrokerURL(t *testing.T) {
	err := constructInput("seed_brokers: [ \"PLAINTEXT://kafka:9092\" ]\ntopics: [ rides ]\nconsumer_group: g\n")
	if err == nil || !strings.Contains(err.Error(), `seed_brokers: "PLAINTEXT://kafka:9092": want host:port`) {
		t.Fatalf("got %v, want seed_brokers refused", err)
	}
}

func constructInput(yamlConf string) error {
	parsed, err := inputSpec().ParseYAML(yamlConf, nil)
	if err != nil {
		return err
	}
	cc, err := consumerConfigFromParsed(parsed)
	if err != nil {
		return err
	}
	policy, err := parsed.FieldBatchPolicy(fieldBatching)
	if err != nil {
		return err
	}
	scope, err := batchScopeFromParsed(parsed, policy)
	if err != nil {
		return err
	}
	_, err = newReader(cc, policy, false, metaOptions{}, scope, service.MockResources())
	return err
}

// lintCase is one config body under a prefix and the lint it must give
// (empty: none).
type lintCase struct{ name, body, want string }

// checkLint lints prefix+body+"\n" for every case.
func checkLint(t *testing.T, prefix string, cases []lintCase) {
	t.Helper()
	for _, c := range cases {
		got := lint(t, prefix+c.body+"\n")
		if c.want == "" && got != "" {
			t.Errorf("%s: unexpected lint: %s", c.name, got)
		}
		if c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: lint %q does not contain %q", c.name, got, c.want)
		}
	}
}

// A static empty topic made every write fail ("interpolated to an empty topic
// name"), retried for ever; it is refused at start instead. An interpolated
// topic is checked per message, as before.
func TestOutputConstructionRefusesAnEmptyTopic(t *testing.T) {
	build := func(topic string) error {
		parsed, err := outputSpec().ParseYAML("seed_brokers: [ localhost:9092 ]\ntopic: "+topic+"\n", nil)
		if err != nil {
			return err
		}
		_, err = writerFromParsed(parsed, service.MockResources())
		return err
	}
	for _, topic := range []string{`""`, `"  "`} {
		if err := build(topic); err == nil || !strings.Contains(err.Error(), "topic: required") {
			t.Errorf("topic %s: got %v, want topic refused", topic, err)
		}
	}
	if err := build(`'${! @t }'`); err != nil {
		t.Errorf("interpolated topic: %v", err)
	}
}
