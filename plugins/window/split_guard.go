package window

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/kafkarecord"
	"github.com/miaradia/rides-connect/internal/ownership"
	"github.com/miaradia/rides-connect/internal/ratelog"
	"github.com/miaradia/rides-connect/plugins/window/engine"
)

// Stage full keeps every window of a topic in one process. Started twice in
// one consumer group, each replica would see part of every window, take the
// partitions it does not own for idle, close windows with partial data and
// overwrite the other's checkpoint. So stage full holds each batch, applying
// nothing, while the kafka_franz group consumers of this process own fewer
// partitions of the batch's topic than the topic has (kafka_topic_partitions).
//
// It holds instead of failing the batch: a processor error does not nack in
// Benthos, it marks every message errored, and a config's errored() branch
// (the dead-letter topic in config/rides.yaml) would take and ack them. A
// held batch is neither acked nor committed; the consumer keeps heartbeating
// and rebalancing (franz-go lets rebalances run once Poll returns), so when
// the other replicas leave the group this one owns every partition again and
// the held batch goes on. No group consumer in the process (generate input,
// direct partitions, tests): the record is unknown and nothing is held.

// splitLogEvery limits the log to one line per this long while held.
const splitLogEvery = time.Minute

// splitGuard is the stage-full hold. owners nil: no guard.
type splitGuard struct {
	owners *ownership.Record
	held   ratelog.Limiter
}

// splitTopic is a topic of a batch this process does not wholly own.
type splitTopic struct {
	topic        string
	owned, total int
}

func (s splitTopic) String() string {
	return fmt.Sprintf("tumbling_window: stage full needs every partition of topic %s in this process, it owns %d of %d "+
		"(another process consumes in the same consumer group): run one replica of this config, "+
		"or scale out with stage partial/merge (config/rides-scaleout.yaml, docs/scale-out.md)", s.topic, s.owned, s.total)
}

// split returns the first topic of batch with a known partition count that
// this process's group consumers own only part of.
func (g *splitGuard) split(batch service.MessageBatch) (splitTopic, bool) {
	var last string
	for _, m := range batch {
		topic, ok := metaString(m, "kafka_topic")
		if !ok || topic == last {
			continue
		}
		last = topic
		total, ok := metaInt(m, partitionsMeta)
		if !ok || total <= 0 {
			continue
		}
		if owned, known := g.owners.Owned(topic); known && owned < int(total) {
			return splitTopic{topic, owned, int(total)}, true
		}
	}
	return splitTopic{}, false
}

// awaitWhole returns once this process owns every partition of the batch's
// topics, or with an error when ctx ends (shutdown) first. Each held batch
// is counted once. The batch comes back without the records of partitions
// lost since they were read (dropNotLive): the group reads them again.
func (p *processor) awaitWhole(ctx context.Context, batch service.MessageBatch) (service.MessageBatch, error) {
	g := p.guard
	if g == nil || g.owners == nil {
		return batch, nil
	}
	held := false
	for {
		changed := g.owners.Changed() // before reading, so no change is missed
		s, split := g.split(batch)
		if !split {
			return p.dropNotLive(batch), nil
		}
		if !held {
			held = true
			p.m.splitBatches.Incr(1)
			g.logHeld(p.log, s, p.now())
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", s, ctx.Err())
		}
	}
}

// dropNotLive removes from a batch the records whose partition was revoked
// or lost since they were read: they are read again in a new assignment (by
// another process, then maybe by this one), so applying them now could only
// apply them out of their partition's order, and their dead letters would be
// written a second time (red team rt19a: a replica paused past its session
// timeout while it held a batch wrote 50 dead letters twice once it owned
// the topic again; rt19c: 42 to 46 more from a batch that waited for a
// pipeline thread meanwhile). Their acks do nothing. A message without a
// carried Kafka record is kept. One liveness check per fetched chunk.
func (p *processor) dropNotLive(batch service.MessageBatch) service.MessageBatch {
	var kept service.MessageBatch // nil until a record is dropped
	var last kafkarecord.Record
	have, live := false, true
	for i, m := range batch {
		if r, ok := kafkarecord.Of(m); ok {
			if !have || !r.SameSource(last) {
				last, have, live = r, true, r.Live()
			}
			if !live {
				if kept == nil {
					kept = append(make(service.MessageBatch, 0, len(batch)), batch[:i]...)
				}
				continue
			}
		}
		if kept != nil {
			kept = append(kept, m)
		}
	}
	if kept == nil {
		return batch
	}
	n := len(batch) - len(kept)
	p.m.staleRecordsDropped.Incr(int64(n))
	p.log.Infof("tumbling_window: %d records dropped: their partition was reassigned since they were read, and they are read again", n)
	return kept
}

// logHeld logs a held batch at most once per splitLogEvery.
func (g *splitGuard) logHeld(log *service.Logger, s splitTopic, now time.Time) {
	if ok, n := g.held.Note(now, splitLogEvery); ok {
		log.Errorf("%s; holding the batch, nothing applied or committed (%d batches held since the last such line)", s, n)
	}
}

// reloadIfTakenOver makes the in-memory state the checkpointed one again
// when this process has gained a topic it owned none of since the state was
// loaded: meanwhile another process could have been alone with the topic,
// applied records, written the checkpoint and committed their offsets, and
// this process resumes from those offsets. (While it owns part of the
// topic no other process is alone with it, so nobody else writes.) Steps
// applied here but not yet durable are written first; then the durable
// state is read back under both locks, so no step or write runs between.
func (p *processor) reloadIfTakenOver(ctx context.Context) error {
	g := p.guard
	if g == nil || g.owners == nil || p.conf.cache == "" {
		return nil
	}
	gains := g.owners.Gains()
	for {
		p.mu.Lock()
		if p.gains == gains {
			p.mu.Unlock()
			return nil
		}
		v := p.ver
		p.dmu.Lock()
		stale := p.stale.Load()
		if p.writing || (p.durable < v && !stale) {
			p.dmu.Unlock()
			p.mu.Unlock()
			if err := p.makeDurable(ctx, v); err != nil {
				return err
			}
			continue
		}
		// A stale state (stale_state.go) is not written first: its steps
		// since the last durable state are discarded, their records come
		// again from the committed offsets.
		err := p.reloadLocked(ctx, stale)
		if err == nil {
			p.gains = gains
			p.stale.Store(false)
		}
		p.dmu.Unlock()
		p.mu.Unlock()
		return err
	}
}

// reloadLocked (mu and dmu held, no write in flight) restores the state in
// the cache if it differs from the one this process last wrote or loaded,
// or in any case when the in-memory state is stale (none in the cache: an
// empty state).
func (p *processor) reloadLocked(ctx context.Context, stale bool) error {
	var data []byte
	var eng *engine.Engine
	for tries := 0; ; tries++ {
		var err error
		data, err = p.getKey(ctx, p.conf.key)
		if err != nil || (!stale && (data == nil || bytes.Equal(data, p.persisted))) {
			return err
		}
		if eng, err = engine.New(p.conf.engine); err != nil {
			return err
		}
		if data == nil {
			break
		}
		if err = eng.Restore(data); err == nil {
			break
		}
		// Written by a process with another window config (or damaged):
		// held and read again, not failed (config_hold.go).
		cause := fmt.Errorf("reloading state %q after taking the topic over: %w", p.conf.key, err)
		if err := p.holdForConfig(ctx, cause, p.holdPause, tries); err != nil {
			return err
		}
	}
	p.eng, p.persisted = eng, data
	p.fresh.Store(data == nil)
	p.lostGuard.reset() // judged again: this state may be behind the group's commit
	p.ver++             // the engine changed: a step's version never names two states
	p.durable = p.ver
	p.m.splitReloads.Incr(1)
	p.log.Infof("tumbling_window: took the topic over from another process: reloaded state %q (%d bytes, %d open windows, last emission %d)",
		p.conf.key, len(data), p.eng.OpenGroups(), p.eng.Seq())
	return nil
}

// idleStandby says whether batch is only heartbeats (no Kafka record) and
// this process owns no partition of any topic its state knows: a hot
// standby (kafka_franz group_balancer: single_owner). It applies nothing:
// its state, restored from the active process's checkpoint, would re-emit
// that process's retained rows and close windows on processing time that
// the active process closes. It reloads the checkpoint when it takes over.
func (p *processor) idleStandby(batch service.MessageBatch) bool {
	g := p.guard
	if g == nil || g.owners == nil {
		return false
	}
	for _, m := range batch {
		if isKafkaRecord(m) {
			return false
		}
	}
	p.mu.Lock()
	topics := p.eng.Topics()
	p.mu.Unlock()
	for _, topic := range topics {
		if owned, known := g.owners.Owned(topic); !known || owned > 0 {
			return false
		}
	}
	return len(topics) > 0
}
