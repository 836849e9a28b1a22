package franz

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Validate checks the configuration without connecting: TLS material is
// loaded, SASL built and franz-go's own limits checked. Call it at start so a
// bad config is refused instead of retried forever.
func (c *Consumer) Validate() error {
	if c.conf.Txn != nil && c.conf.Group == "" {
		return errors.New("transaction: requires a consumer_group")
	}
	if c.conf.Group != "" && c.conf.CommitPeriod > 0 && c.conf.CommitPeriod < 100*time.Millisecond {
		return fmt.Errorf("commit_period: %v is below the 100ms minimum", c.conf.CommitPeriod)
	}
	opts, err := c.options()
	if err != nil {
		return err
	}
	if err := kgo.ValidateOpts(opts...); err != nil {
		return fmt.Errorf("kafka client options: %w", err)
	}
	return nil
}

// options maps the configuration to franz-go options: start/reset offsets,
// what to consume, the group with mark-based autocommit and its callbacks.
func (c *Consumer) options() ([]kgo.Opt, error) {
	opts, err := c.conf.Client.Options(c.log)
	if err != nil {
		return nil, err
	}
	start, reset := kgo.NewOffset().AtStart(), kgo.NewOffset().AtStart()
	switch c.conf.StartOffset {
	case "", "earliest":
	case "latest":
		start, reset = kgo.NewOffset().AtEnd(), kgo.NewOffset().AtEnd()
	case "committed":
		// Consume only partitions with a commit (auto.offset.reset=none).
		start = kgo.NewOffset().AtCommitted()
	default:
		return nil, fmt.Errorf("start_offset: %q is not one of earliest, latest, committed", c.conf.StartOffset)
	}
	opts = append(opts, kgo.ConsumeStartOffset(start), kgo.ConsumeResetOffset(reset))

	switch {
	case c.conf.Topics.Explicit():
		parts := map[string]map[int32]kgo.Offset{}
		for t, ps := range c.conf.Topics.Partitions {
			parts[t] = map[int32]kgo.Offset{}
			for p, o := range ps {
				if o >= 0 {
					parts[t][p] = kgo.NewOffset().At(o)
				} else {
					parts[t][p] = start
				}
			}
		}
		opts = append(opts, kgo.ConsumePartitions(parts))
	case len(c.conf.RegexpInclude) > 0:
		opts = append(opts, kgo.ConsumeTopics(c.conf.RegexpInclude...), kgo.ConsumeRegex())
		if len(c.conf.RegexpExclude) > 0 {
			opts = append(opts, kgo.ConsumeExcludeTopics(c.conf.RegexpExclude...))
		}
	default:
		if len(c.conf.Topics.Topics) == 0 {
			return nil, errors.New("topics: at least one topic (or regexp_topics_include) is required")
		}
		opts = append(opts, kgo.ConsumeTopics(c.conf.Topics.Topics...))
	}

	if c.conf.Group != "" {
		opts = append(opts,
			kgo.ConsumerGroup(c.conf.Group),
			kgo.OnPartitionsAssigned(c.onAssigned),
			kgo.OnPartitionsRevoked(c.onRevoked),
			kgo.OnPartitionsLost(c.onLost),
			kgo.OnOffsetsFetched(c.onFetched),
			kgo.AdjustFetchOffsetsFn(c.adjustOffsets),
			kgo.BlockRebalanceOnPoll(),
		)
		if c.conf.Txn != nil {
			opts = append(opts, c.txnOptions()...)
		} else {
			opts = append(opts, kgo.AutoCommitMarks(), kgo.AutoCommitCallback(c.onAutoCommit))
		}
		if c.conf.CommitPeriod > 0 && c.conf.Txn == nil {
			opts = append(opts, kgo.AutoCommitInterval(c.conf.CommitPeriod))
		}
		if c.conf.InstanceID != "" {
			opts = append(opts, kgo.InstanceID(c.conf.InstanceID), kgo.WithHooks(groupErrorHook{c}))
		}
		if c.conf.SessionTimeout > 0 {
			opts = append(opts, kgo.SessionTimeout(c.conf.SessionTimeout))
		}
		if c.conf.RebalanceTimeout > 0 {
			opts = append(opts, kgo.RebalanceTimeout(c.conf.RebalanceTimeout))
		}
		if c.conf.HeartbeatInterval > 0 {
			opts = append(opts, kgo.HeartbeatInterval(c.conf.HeartbeatInterval))
		}
		switch c.conf.Balancer {
		case "", BalancerCooperativeSticky:
		case BalancerSingleOwner:
			// cooperative-sticky second: a group with a member that does
			// not know single-owner (an older version in a rolling
			// update) falls back to it rather than refusing the member.
			opts = append(opts, kgo.Balancers(SingleOwnerBalancer(), kgo.CooperativeStickyBalancer()))
		default:
			return nil, fmt.Errorf("group_balancer: %q is not one of %s, %s", c.conf.Balancer, BalancerCooperativeSticky, BalancerSingleOwner)
		}
	}
	if c.conf.FetchMaxBytes > 0 {
		opts = append(opts, kgo.FetchMaxBytes(c.conf.FetchMaxBytes))
	}
	if c.conf.FetchMaxPartitionBytes > 0 {
		opts = append(opts, kgo.FetchMaxPartitionBytes(c.conf.FetchMaxPartitionBytes))
	}
	if c.conf.FetchMaxWait > 0 {
		opts = append(opts, kgo.FetchMaxWait(c.conf.FetchMaxWait))
	}
	if c.conf.FetchMinBytes > 0 {
		opts = append(opts, kgo.FetchMinBytes(c.conf.FetchMinBytes))
	}
	switch c.conf.IsolationLevel {
	case "", "read_uncommitted":
	case "read_committed":
		// Records of aborted transactions are skipped, and records of open
		// transactions wait until they commit (the last stable offset).
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	default:
		return nil, fmt.Errorf("transaction_isolation_level: %q is not one of read_uncommitted, read_committed", c.conf.IsolationLevel)
	}
	if c.conf.RackID != "" {
		opts = append(opts, kgo.Rack(c.conf.RackID))
	}
	return opts, nil
}
