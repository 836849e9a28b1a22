package franz

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicInfo describes a topic for `kafka topic list`.
type TopicInfo struct {
	Name              string
	Partitions        int
	ReplicationFactor int
}

// Admin wraps kadm for the topic subcommands.
type Admin struct {
	cl   *kgo.Client
	adm  *kadm.Client
	conf ClientConfig
}

// NewAdmin connects (and authenticates) to the brokers.
func NewAdmin(ctx context.Context, conf ClientConfig) (*Admin, error) {
	opts, err := conf.Options(nil)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	if err := Ping(ctx, cl, conf); err != nil {
		cl.Close()
		return nil, err
	}
	return &Admin{cl: cl, adm: kadm.NewClient(cl), conf: conf}, nil
}

// Close releases the connection.
func (a *Admin) Close() { a.cl.Close() }

// ErrTopicExists is returned by CreateTopic when the topic already exists.
var ErrTopicExists = errors.New("topic already exists")

// CreateTopic creates a topic; replicationFactor -1 uses the broker default.
func (a *Admin) CreateTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, configs map[string]*string) error {
	resp, err := a.adm.CreateTopic(ctx, partitions, replicationFactor, configs, name)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return fmt.Errorf("%w: %s", ErrTopicExists, name)
	default:
		return fmt.Errorf("create topic %s (partitions %d, replication factor %d): %s", name, partitions, replicationFactor, redact(err.Error(), a.conf.SASL))
	}
}

// ListTopics returns the non-internal topics, sorted by name.
func (a *Admin) ListTopics(ctx context.Context) ([]TopicInfo, error) {
	details, err := a.adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %s", redact(err.Error(), a.conf.SASL))
	}
	var out []TopicInfo
	for _, d := range details.Sorted() {
		if d.Err != nil {
			return nil, fmt.Errorf("list topics: %s: %w", d.Topic, d.Err)
		}
		out = append(out, TopicInfo{Name: d.Topic, Partitions: len(d.Partitions), ReplicationFactor: d.Partitions.NumReplicas()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
