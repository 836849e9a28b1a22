package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// AwaitNoOpenTransaction returns topic's end offsets once every partition's
// last stable offset has reached its end, i.e. no transaction is open on it
// (the broker aborts those of killed processes after their timeout); it
// lists them every poll until ctx ends.
func AwaitNoOpenTransaction(ctx context.Context, adm *kadm.Client, topic string, poll time.Duration) (kadm.ListedOffsets, error) {
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return nil, err
		}
		stable, err := adm.ListCommittedOffsets(ctx, topic) // last stable offsets
		if err != nil {
			return nil, err
		}
		open := false
		ends.Each(func(o kadm.ListedOffset) {
			s, _ := stable.Lookup(topic, o.Partition)
			open = open || s.Offset != o.Offset
		})
		if !open {
			return ends, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("a transaction stays open on %s: %w", topic, ctx.Err())
		case <-time.After(poll): // waiting for the broker to end transactions
		}
	}
}

// ValuesUpTo polls cl until it has read every partition of ends to its end
// offset and returns the values of the data records in the order read. cl
// must consume the topic from its start with control records kept
// (kgo.KeepControlRecords): a transaction's commit marker can be a
// partition's last offset, and the reader must see it to know it is done.
func ValuesUpTo(ctx context.Context, cl *kgo.Client, ends kadm.ListedOffsets) ([]string, error) {
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	var vals []string
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return vals, fmt.Errorf("reading to the end offsets: %w (left: %v)", err, remaining)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			if !r.Attrs.IsControl() {
				vals = append(vals, string(r.Value))
			}
		})
	}
	return vals, nil
}

// AwaitTxnOpenedThenEnded polls the broker until transactional id has an
// open transaction ("Ongoing": records were produced in it) and then until
// that transaction has ended ("PrepareAbort", "CompleteAbort", "Empty", ...),
// or ctx ends. A test holding the transaction's batches sees the broker
// abort it on its own timeout.
func AwaitTxnOpenedThenEnded(ctx context.Context, adm *kadm.Client, id string, poll time.Duration) error {
	for _, open := range []bool{true, false} {
		for {
			d, err := adm.DescribeTransactions(ctx, id)
			if err == nil && (d[id].State == "Ongoing") == open {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("transaction %s: state %q (last error %v), waiting for it to be open=%v: %w", id, d[id].State, err, open, ctx.Err())
			case <-time.After(poll):
			}
		}
	}
	return nil
}

// CountsOff checks that got holds want(i), for each i in [0, n), exactly
// once: it returns one line ("V-7 seen 2 times, want 1") per value seen
// another number of times, in i order.
func CountsOff(got []string, n int, want func(i int) string) []string {
	seen := make(map[string]int, len(got))
	for _, v := range got {
		seen[v]++
	}
	var off []string
	for i := range n {
		if k := want(i); seen[k] != 1 {
			off = append(off, fmt.Sprintf("%s seen %d times, want 1", k, seen[k]))
		}
	}
	return off
}
