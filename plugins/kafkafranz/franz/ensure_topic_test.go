package franz

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCreateCommandCarriesConnectionAndConfigsButNoSecret(t *testing.T) {
	c := ClientConfig{
		SeedBrokers: []string{"b1:9093", "b2:9093"},
		TLS:         TLSConfig{Enabled: true, TruststoreFile: "/opt/certs/truststore.jks", TruststorePassword: "tspw"},
		SASL:        []SASLConfig{{Mechanism: "SCRAM-SHA-512", Username: "rides", Password: "s3cret"}},
	}
	got := c.CreateCommand("rides_dlq", TopicCreate{Partitions: 3, ReplicationFactor: 3,
		Configs: map[string]string{"retention.ms": "604800000", "max.message.bytes": "8388608"}})
	want := "rides-connect kafka topic create --brokers b1:9093,b2:9093 --topic rides_dlq --partitions 3 --replication-factor 3" +
		" --config max.message.bytes=8388608 --config retention.ms=604800000" +
		" --tls --truststore /opt/certs/truststore.jks --sasl-mechanism SCRAM-SHA-512 --sasl-user rides"
	if got != want {
		t.Fatalf("command\n got %s\nwant %s", got, want)
	}
	if strings.Contains(got, "s3cret") || strings.Contains(got, "tspw") {
		t.Fatal("the command must not carry a password")
	}
}

// Against kfake (no auto-creation): a missing topic is a MissingTopicError
// unless creation is enabled; then it is created with the partitions and
// configs asked for, and a second call finds it.
func TestEnsureTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "there"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conf := ClientConfig{SeedBrokers: c.ListenAddrs()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()

	if created, err := EnsureTopic(ctx, cl, conf, "there", "out", TopicCreate{}); err != nil || created {
		t.Fatalf("existing topic: created %v, %v", created, err)
	}
	_, err = EnsureTopic(ctx, cl, conf, "missing", "dead_letter", TopicCreate{Partitions: 1, ReplicationFactor: -1})
	var missing *MissingTopicError
	if !errors.As(err, &missing) || missing.Topic != "missing" || missing.Output != "dead_letter" ||
		!strings.Contains(err.Error(), "kafka_franz output dead_letter: topic missing does not exist") {
		t.Fatalf("missing topic: %v", err)
	}
	create := TopicCreate{Enabled: true, Partitions: 4, ReplicationFactor: -1, Configs: map[string]string{"max.message.bytes": "8388608"}}
	if created, err := EnsureTopic(ctx, cl, conf, "missing", "dead_letter", create); err != nil || !created {
		t.Fatalf("create: created %v, %v", created, err)
	}
	if created, err := EnsureTopic(ctx, cl, conf, "missing", "dead_letter", create); err != nil || created {
		t.Fatalf("second call: created %v, %v", created, err)
	}
	// A fresh client: the first one cached "unknown topic" for a few seconds.
	cl2, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	adm := kadm.NewClient(cl2)
	td, err := adm.ListTopics(ctx, "missing")
	if err != nil || len(td["missing"].Partitions) != 4 {
		t.Fatalf("created topic: %v partitions, %v", len(td["missing"].Partitions), err)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "missing")
	if err != nil {
		t.Fatal(err)
	}
	v, err := rc.On("missing", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, cfg := range v.Configs {
		found = found || (cfg.Key == "max.message.bytes" && cfg.MaybeValue() == "8388608")
	}
	if !found {
		t.Fatalf("max.message.bytes not set on the created topic: %+v", v.Configs)
	}
}

// partitions_of: a missing internal topic is created with its source's
// partition count (not create.Partitions); an existing one with another
// count is refused with a message naming the field.
func TestEnsureTopicPartitionsOf(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "rides"), kfake.SeedTopics(3, "g-wrong"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conf := ClientConfig{SeedBrokers: c.ListenAddrs()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	create := TopicCreate{Enabled: true, Partitions: 1, ReplicationFactor: -1, PartitionsOf: "rides"}

	if created, err := EnsureTopic(ctx, cl, conf, "g-repartition", "repartition", create); err != nil || !created {
		t.Fatalf("create: created %v, %v", created, err)
	}
	cl2, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...)) // cl cached "unknown topic"
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	td, err := kadm.NewClient(cl2).ListTopics(ctx, "g-repartition")
	if err != nil || len(td["g-repartition"].Partitions) != 6 {
		t.Fatalf("created topic: %d partitions (want rides' 6), %v", len(td["g-repartition"].Partitions), err)
	}
	if _, err := EnsureTopic(ctx, cl, conf, "g-repartition", "repartition", create); err != nil {
		t.Fatalf("existing topic with the right count: %v", err)
	}
	_, err = EnsureTopic(ctx, cl, conf, "g-wrong", "repartition", create)
	var mismatch *PartitionMismatchError
	if !errors.As(err, &mismatch) || mismatch.Have != 3 || mismatch.Want != 6 ||
		!strings.Contains(err.Error(), "create_topic.partitions_of: topic g-wrong has 3 partitions, topic rides has 6") {
		t.Fatalf("mismatched count: %v", err)
	}
	create.Enabled = false
	_, err = EnsureTopic(ctx, cl, conf, "g-absent", "repartition", create)
	var missing *MissingTopicError
	if !errors.As(err, &missing) || !strings.Contains(missing.Command, "--partitions 6") {
		t.Fatalf("missing topic without creation: %v", err)
	}
}
