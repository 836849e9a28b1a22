package harness

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Behind lists the partitions of topic whose committed offset in group is
// below the partition's end, as "p (committed c of e)"; a partition with
// nothing in it never is.
func Behind(ctx context.Context, adm *kadm.Client, group, topic string) ([]string, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	var behind []string
	ends.Each(func(e kadm.ListedOffset) {
		if c, ok := committed.Lookup(topic, e.Partition); e.Offset > 0 && (!ok || c.At < e.Offset) {
			behind = append(behind, fmt.Sprintf("%d (committed %d of %d)", e.Partition, c.At, e.Offset))
		}
	})
	return behind, nil
}

// Drained reports whether group has committed the end of every partition
// of topic (false on an error).
func Drained(ctx context.Context, adm *kadm.Client, group, topic string) bool {
	behind, err := Behind(ctx, adm, group, topic)
	return err == nil && len(behind) == 0
}
