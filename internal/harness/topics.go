package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// CreateServedTopic creates a topic (replication factor 1, as the test
// brokers have one node) and waits until the broker serves it.
func CreateServedTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32) error {
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	_, err = WaitTopicServed(ctx, adm, topic)
	return err
}

// WaitTopicServed polls metadata until the topic is listed and every
// partition has a leader (creation returns before metadata propagates).
func WaitTopicServed(ctx context.Context, adm *kadm.Client, topic string) (kadm.TopicDetail, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		topics, err := adm.ListTopics(ctx, topic)
		if err == nil && topics.Has(topic) && topics[topic].Err == nil && len(topics[topic].Partitions) > 0 {
			served := true
			for _, p := range topics[topic].Partitions {
				served = served && p.Leader >= 0 && p.Err == nil
			}
			if served {
				return topics[topic], nil
			}
		}
		select {
		case <-ctx.Done():
			return kadm.TopicDetail{}, fmt.Errorf("topic %s not served by the broker in time (last error %v)", topic, err)
		case <-tick.C:
		}
	}
}
