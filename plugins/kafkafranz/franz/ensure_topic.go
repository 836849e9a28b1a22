package franz

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicCreate is the output's `create_topic` setting: what to create when
// the target topic does not exist.
type TopicCreate struct {
	Enabled           bool
	Partitions        int32
	ReplicationFactor int16             // -1 = the broker's default.replication.factor
	Configs           map[string]string // topic configs, e.g. max.message.bytes
	// PartitionsOf, when set, names a topic whose partition count replaces
	// Partitions, and an existing topic with another count is refused
	// (*PartitionMismatchError): an internal topic that must match its
	// source, as the window's scale-out stages need (docs/scale-out.md).
	PartitionsOf string
}

// PartitionMismatchError says an existing topic does not have the
// partition count of the topic create_topic.partitions_of names. It is
// permanent: the job must not start.
type PartitionMismatchError struct {
	Topic, Of  string
	Have, Want int
}

func (e *PartitionMismatchError) Error() string {
	return fmt.Sprintf("create_topic.partitions_of: topic %s has %d partitions, topic %s has %d; they must be equal "+
		"(changing a partition count is a migration, see docs/scale-out.md)", e.Topic, e.Have, e.Of, e.Want)
}

// MissingTopicError says the target topic does not exist and will not be
// created. It is certain and permanent: a produce would fail with
// UNKNOWN_TOPIC_OR_PARTITION forever (the client never asks the broker to
// auto-create), so the job must not start.
type MissingTopicError struct {
	Topic  string
	Output string // the output's label, "" when unlabelled
	// Command creates the topic with the same connection settings.
	Command string
}

func (e *MissingTopicError) Error() string {
	who := "kafka_franz output"
	if e.Output != "" {
		who += " " + e.Output
	}
	return fmt.Sprintf("%s: topic %s does not exist on the brokers and create_topic.enabled is false; "+
		"create it with `%s`, or set create_topic.enabled: true", who, e.Topic, e.Command)
}

// CreateCommand is the `rides-connect kafka topic create` line for topic with
// this client's brokers and security; secrets stay in the environment
// (KAFKA_PASS, TRUSTSTORE_PASSWORD).
func (c ClientConfig) CreateCommand(topic string, create TopicCreate) string {
	parts := []string{"rides-connect kafka topic create",
		"--brokers " + strings.Join(c.SeedBrokers, ","),
		"--topic " + topic,
		fmt.Sprintf("--partitions %d", create.Partitions),
		fmt.Sprintf("--replication-factor %d", create.ReplicationFactor)}
	keys := make([]string, 0, len(create.Configs))
	for k := range create.Configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, "--config "+k+"="+create.Configs[k])
	}
	if c.TLS.Enabled {
		parts = append(parts, "--tls")
		if c.TLS.TruststoreFile != "" {
			parts = append(parts, "--truststore "+c.TLS.TruststoreFile)
		}
	}
	for _, s := range c.SASL {
		if s.Mechanism != "" && s.Mechanism != "none" {
			parts = append(parts, "--sasl-mechanism "+s.Mechanism)
			if s.Username != "" {
				parts = append(parts, "--sasl-user "+s.Username)
			}
			break
		}
	}
	return strings.Join(parts, " ")
}

// EnsureTopic checks with a metadata request that topic exists. A missing
// topic is created when create.Enabled (a concurrent creation by someone
// else is fine), else reported as *MissingTopicError. Any other failure
// (broker down, not authorised to describe) is returned as is: it is not
// certain, so the caller retries.
func EnsureTopic(ctx context.Context, cl *kgo.Client, conf ClientConfig, topic, output string, create TopicCreate) (created bool, err error) {
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return false, fmt.Errorf("kafka: metadata of topic %s: %s", topic, redact(err.Error(), conf.SASL))
	}
	d, ok := details[topic]
	if create.PartitionsOf != "" {
		n, err := partitionCount(ctx, adm, create.PartitionsOf, conf)
		if err != nil {
			return false, err
		}
		if ok && d.Err == nil && len(d.Partitions) != n {
			return false, &PartitionMismatchError{Topic: topic, Of: create.PartitionsOf, Have: len(d.Partitions), Want: n}
		}
		create.Partitions = int32(n)
	}
	if ok && d.Err == nil {
		return false, nil
	}
	if ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return false, fmt.Errorf("kafka: metadata of topic %s: %w", topic, d.Err)
	}
	if !create.Enabled {
		return false, &MissingTopicError{Topic: topic, Output: output, Command: conf.CreateCommand(topic, create)}
	}
	var configs map[string]*string
	for k, v := range create.Configs {
		if configs == nil {
			configs = map[string]*string{}
		}
		configs[k] = &v
	}
	resp, err := adm.CreateTopic(ctx, create.Partitions, create.ReplicationFactor, configs, topic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		return true, awaitTopicReady(ctx, cl, topic, int(create.Partitions))
	case errors.Is(err, kerr.TopicAlreadyExists): // another replica created it just now
		return false, awaitTopicReady(ctx, cl, topic, int(create.Partitions))
	default:
		return false, fmt.Errorf("kafka: create topic %s (partitions %d, replication factor %d): %s",
			topic, create.Partitions, create.ReplicationFactor, redact(err.Error(), conf.SASL))
	}
}

// topicReadyPoll is the pause between two metadata reads while a topic the
// job just created gets its partitions' leaders.
const topicReadyPoll = 50 * time.Millisecond

// topicReadyTimeout bounds that wait; past it the connect fails and is
// retried, and the topic, which exists by then, is not waited for again.
const topicReadyTimeout = 30 * time.Second

// awaitTopicReady returns once the metadata shows topic with all its
// partitions led, then makes cl load that metadata. Right after
// CreateTopics a broker may list a topic with fewer partitions, or
// leaderless ones: a producer that cached that view fails every record
// for a partition past it at once ("invalid record partitioning choice"),
// and franz-go looks again only after its 5 s metadata min age. The job's
// first records would be nacked and replayed, and stage 2 would wait as
// long for them (session 22 saw 5 s starts in 2 of 8 drains).
func awaitTopicReady(ctx context.Context, cl *kgo.Client, topic string, partitions int) error {
	ctx, cancel := context.WithTimeout(ctx, topicReadyTimeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	for {
		// A direct request: kadm's metadata reads are cached for the
		// client's metadata min age (5 s), and would show the topic as it
		// was before it was created. franz-go stores this response as the
		// client's own view, the producer's included.
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && topicLed(resp, topic, partitions) {
			cl.ForceMetadataRefresh()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka: topic %s created, but its %d partitions have no leaders yet: %w", topic, partitions, ctx.Err())
		case <-time.After(topicReadyPoll):
		}
	}
}

// topicLed: resp lists topic with at least partitions partitions, each led.
func topicLed(resp *kmsg.MetadataResponse, topic string, partitions int) bool {
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if t.ErrorCode != 0 || len(t.Partitions) < partitions {
			return false
		}
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return false
			}
		}
		return true
	}
	return false
}

// partitionCount is the number of partitions of topic, which must exist.
func partitionCount(ctx context.Context, adm *kadm.Client, topic string, conf ClientConfig) (int, error) {
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("kafka: metadata of topic %s (create_topic.partitions_of): %s", topic, redact(err.Error(), conf.SASL))
	}
	d, ok := details[topic]
	if !ok || d.Err != nil || len(d.Partitions) == 0 {
		return 0, fmt.Errorf("kafka: create_topic.partitions_of: topic %s is not there yet (%v)", topic, d.Err)
	}
	return len(d.Partitions), nil
}

// Client returns the connected client, or nil before Connect / after Close.
func (p *Producer) Client() *kgo.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cl
}
