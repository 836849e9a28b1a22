// Command bareconsumer is the benchmark's ceiling: a franz-go consumer that only reads a topic.
// It joins a consumer group, starts from the earliest offsets, counts records until it has -n of
// them, commits, and exits; bench.py times it like the engines (GNU time over the process).
// It uses the same client library and consumer-group path as rides-connect's kafka_franz input,
// and nothing else: no parse, no window, no output.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", os.Getenv("KAFKA_BOOTSTRAP"), "comma-separated seed brokers")
	topic := flag.String("topic", "", "topic to read")
	group := flag.String("group", "", "consumer group (a new one reads from earliest)")
	n := flag.Int64("n", 0, "records to read before exiting")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up (exit 1) after this long")
	flag.Parse()
	if *brokers == "" || *topic == "" || *group == "" || *n <= 0 {
		fmt.Fprintln(os.Stderr, "bareconsumer: -brokers, -topic, -group and -n > 0 are required")
		os.Exit(2)
	}
	if err := run(strings.Split(*brokers, ","), *topic, *group, *n, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "bareconsumer:", err)
		os.Exit(1)
	}
}

func run(brokers []string, topic, group string, n int64, timeout time.Duration) error {
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var count, bytes int64
	for count < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %d of %d records: %w", count, n, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return fmt.Errorf("fetch: %v", errs[0].Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			count++
			bytes += int64(len(r.Value))
		})
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	fmt.Printf(`{"records":%d,"bytes":%d,"seconds":%.3f}`+"\n", count, bytes, time.Since(start).Seconds())
	return nil
}
