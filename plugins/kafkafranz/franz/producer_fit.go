package franz

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// FitBatchesTo lowers the producer's batch bound (MaxMessageBytes) to the
// topic's max.message.bytes when that is smaller, and reconnects with it. A
// batch larger than the topic takes is refused whole (MESSAGE_TOO_LARGE),
// and retried whole: records that each fit, many small dead letters say,
// would hold the output for good (red team of session 19: a dead-letter
// topic created with Kafka's default 1 MB under an output with
// max_message_bytes 8MiB stalled the job). A record larger than the topic
// takes is still refused. It returns the bound in force, or the error that
// kept it from reading the topic's config (the bound is then unchanged).
func (p *Producer) FitBatchesTo(ctx context.Context, topic string) (int32, error) {
	p.mu.Lock()
	cl, bound := p.cl, p.conf.MaxMessageBytes
	p.mu.Unlock()
	if cl == nil || bound <= 0 {
		return bound, nil
	}
	limit, err := topicMaxMessageBytes(ctx, cl, topic)
	if err != nil || limit <= 0 || limit >= int64(bound) {
		return bound, err
	}
	p.mu.Lock()
	p.conf.MaxMessageBytes = int32(limit)
	p.mu.Unlock()
	opts, err := p.options()
	if err != nil {
		return bound, err
	}
	ncl, err := kgo.NewClient(opts...)
	if err != nil {
		return bound, fmt.Errorf("kafka client: %w", err)
	}
	p.mu.Lock()
	old := p.cl
	if p.closed {
		p.mu.Unlock()
		ncl.Close()
		return bound, ErrClosed
	}
	p.cl = ncl
	p.mu.Unlock()
	old.Close()
	p.log.Warnf("kafka: topic %s takes record batches of at most %d bytes (max.message.bytes), below max_message_bytes %d: batches are bounded to %d bytes; a single record larger than that is refused (raise the topic's max.message.bytes)", topic, limit, bound, limit)
	return int32(limit), nil
}

// topicMaxMessageBytes reads the topic's max.message.bytes (its own or the
// broker's default); 0 when the broker does not say.
func topicMaxMessageBytes(ctx context.Context, cl *kgo.Client, topic string) (int64, error) {
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0, err
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return 0, err
	}
	if rc.Err != nil {
		return 0, rc.Err
	}
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" && c.Value != nil {
			return strconv.ParseInt(*c.Value, 10, 64)
		}
	}
	return 0, nil
}
