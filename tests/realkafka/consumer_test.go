package realkafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// consumer is one of our kafka_franz inputs in a consumer group, over
// SASL_SSL, handing each record's index to a handler. The handler's return
// value is the ack (nil) or nack (error).
type consumer struct {
	t      *testing.T
	stream *service.Stream
	logs   *lockedBuffer
	rec    *counters // the stream's counters (input_received, ...)
	runErr chan error
	cancel context.CancelFunc

	mu       sync.Mutex
	problems []string
}

func startConsumer(t *testing.T, be brokerEnv, topic, group string, n int,
	handle func(ctx context.Context, i int) error) *consumer {
	t.Helper()
	return startConsumerWith(t, be, topic, group, func(c *consumer, sb *service.StreamBuilder) error {
		return sb.AddConsumerFunc(func(ctx context.Context, m *service.Message) error {
			i, ok := c.index(m, n)
			if !ok {
				return nil // reported at the end; acked so it is not replayed forever
			}
			return handle(ctx, i)
		})
	})
}

// startBatchConsumer hands the handler each batch the input produced; its
// return value acks or nacks the whole batch, the unit the input commits.
func startBatchConsumer(t *testing.T, be brokerEnv, topic, group string, n int,
	handle func(ctx context.Context, idx []int) error) *consumer {
	t.Helper()
	return startConsumerWith(t, be, topic, group, func(c *consumer, sb *service.StreamBuilder) error {
		return sb.AddBatchConsumerFunc(func(ctx context.Context, b service.MessageBatch) error {
			idx := make([]int, 0, len(b))
			for _, m := range b {
				if i, ok := c.index(m, n); ok {
					idx = append(idx, i)
				}
			}
			return handle(ctx, idx)
		})
	})
}

func startConsumerWith(t *testing.T, be brokerEnv, topic, group string,
	addSink func(*consumer, *service.StreamBuilder) error) *consumer {
	t.Helper()
	sb, rec, logs := observedBuilder(t)
	sb.SetEnvVarLookupFunc(envLookup(be.user, be.pass))
	err := sb.AddInputYAML(fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %s ]
  topics: [ %s ]
  consumer_group: %s
  start_offset: earliest
%s
`, be.saslSSL, topic, group, be.securityYAML("  ")))
	if err != nil {
		t.Fatal(err)
	}
	c := &consumer{t: t, logs: logs, rec: rec, runErr: make(chan error, 1)}
	if err = addSink(c, sb); err != nil {
		t.Fatal(err)
	}
	if c.stream, err = sb.Build(); err != nil {
		t.Fatal(err)
	}
	var ctx context.Context
	ctx, c.cancel = context.WithTimeout(context.Background(), 10*time.Minute)
	go func() { c.runErr <- c.stream.Run(ctx) }()
	return c
}

// index returns the record's index, recording a wrong key or value as a
// problem reported at stop.
func (c *consumer) index(m *service.Message, n int) (int, bool) {
	i, err := rideIndex(m, n)
	if err != nil {
		c.mu.Lock()
		c.problems = append(c.problems, err.Error())
		c.mu.Unlock()
		return 0, false
	}
	return i, true
}

// wait blocks until done is closed, failing the test if the stream ends or
// the deadline passes first.
func (c *consumer) wait(done <-chan struct{}, deadline time.Duration, what string) {
	c.t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	select {
	case <-done:
	case err := <-c.runErr:
		c.t.Fatalf("consumer stream ended before %s: %v\nlogs:\n%s", what, err, tail(c.logs.String(), 40))
	case <-timer.C:
		c.t.Fatalf("no %s within %v\nlogs:\n%s", what, deadline, tail(c.logs.String(), 40))
	}
}

// stop stops the stream within timeout (graceful first, then unordered) and
// reports records whose key or value were wrong.
func (c *consumer) stop(timeout time.Duration) {
	c.t.Helper()
	if err := c.stream.StopWithin(timeout); err != nil {
		c.t.Errorf("stopping consumer stream: %v", err)
	}
	c.cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems[:min(len(c.problems), 10)] {
		c.t.Error(p)
	}
	if len(c.problems) > 0 {
		c.t.Errorf("%d records with a wrong key or value", len(c.problems))
	}
}

// tally records which indexes were delivered and how often.
type tally struct {
	mu    sync.Mutex
	count []int
	seen  int
	dups  int
}

func newTally(n int) *tally { return &tally{count: make([]int, n)} }

// add counts one delivery of i and reports whether it was the first.
func (tl *tally) add(i int) bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.count[i]++
	if tl.count[i] > 1 {
		tl.dups++
		return false
	}
	tl.seen++
	return true
}

func (tl *tally) has(i int) bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.count[i] > 0
}

// missing counts the indexes in want never delivered and lists up to limit in want that were never delivered.
func (tl *tally) missing(want func(i int) bool, limit int) (n int, first []string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for i, c := range tl.count {
		if c == 0 && want(i) {
			n++
			if len(first) < limit {
				first = append(first, rideKey(i))
			}
		}
	}
	return n, first
}

func (tl *tally) seenCount() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.seen
}

func (tl *tally) dupCount() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.dups
}
