// Package ownership records which partitions of each topic the Kafka group
// consumers of this process own, so a component that needs every partition
// of a topic (tumbling_window stage full) can tell it is not alone in its
// consumer group. Each consumer reports through its own Owner; the record is
// the union over the owners. It does not import Benthos or franz-go.
package ownership

import "sync"

// Record is the union of what its owners own. Safe for concurrent use.
type Record struct {
	mu     sync.Mutex
	owners map[*Owner]struct{}
	// changed is closed and replaced at every change, so a waiter wakes
	// when ownership moves instead of polling on a timer.
	changed chan struct{}
	// gains counts the times a topic went from no partition owned here to
	// some: only while this process owned none of a topic can another
	// process have been alone with it (and written its state).
	gains uint64
}

// Process is the record of this process: the kafka_franz group consumers
// report to it.
var Process = New()

// New returns an empty record.
func New() *Record {
	return &Record{owners: map[*Owner]struct{}{}, changed: make(chan struct{})}
}

// Changed returns a channel closed at the next change of the record. Take it
// before reading Owned, so no change between the two is missed.
func (r *Record) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

func (r *Record) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Owner is what one consumer reports: the partitions it owns and the topics
// it has reported about (a topic is known from its first report, even one
// that owns nothing).
type Owner struct {
	r     *Record
	owned map[string]map[int32]bool // topic -> partitions owned
	parts map[string]int32          // topic -> its partition count, as reported
}

// Owner registers a new, empty owner.
func (r *Record) Owner() *Owner {
	o := &Owner{r: r, owned: map[string]map[int32]bool{}, parts: map[string]int32{}}
	r.mu.Lock()
	r.owners[o] = struct{}{}
	r.mu.Unlock()
	return o
}

// Set records that the owner owns (owned=true) or no longer owns a
// partition. Idempotent.
func (o *Owner) Set(topic string, partition int32, owned bool) {
	o.r.mu.Lock()
	defer o.r.mu.Unlock()
	before, _ := o.r.ownedLocked(topic)
	ps := o.owned[topic]
	if ps == nil {
		ps = map[int32]bool{}
		o.owned[topic] = ps
	}
	if owned {
		ps[partition] = true
	} else {
		delete(ps, partition)
	}
	if after, _ := o.r.ownedLocked(topic); before == 0 && after > 0 {
		o.r.gains++
	}
	o.r.notifyLocked()
}

// Watch makes topic known to the record as one this owner consumes, owning
// none of it yet: a consumer registers its topics when it connects, so that
// a process whose consumer joined the group and got nothing (a hot
// standby) reads as owning 0 partitions, not as unknown.
func (o *Owner) Watch(topic string) {
	o.r.mu.Lock()
	defer o.r.mu.Unlock()
	if o.owned[topic] == nil {
		o.owned[topic] = map[int32]bool{}
		o.r.notifyLocked()
	}
}

// SetPartitions records how many partitions topic has, as the owner's
// consumer learnt at its assignment.
func (o *Owner) SetPartitions(topic string, n int32) {
	o.r.mu.Lock()
	defer o.r.mu.Unlock()
	o.parts[topic] = n
}

// Siblings calls fn with every topic, and its partition count, that an owner
// reporting about topic has the count of: the topics one consumer (one
// input) reads together with topic, topic included.
func (r *Record) Siblings(topic string, fn func(topic string, partitions int32)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for o := range r.owners {
		if _, ok := o.owned[topic]; !ok {
			continue
		}
		for t, n := range o.parts {
			fn(t, n)
		}
	}
}

// Release forgets the owner (its consumer closed): its partitions and its
// topics no longer count. Idempotent.
func (o *Owner) Release() {
	o.r.mu.Lock()
	defer o.r.mu.Unlock()
	if _, ok := o.r.owners[o]; ok {
		delete(o.r.owners, o)
		o.r.notifyLocked()
	}
}

// Owned returns how many distinct partitions of topic the owners own
// together, and whether any owner has reported about topic. Unknown means
// no group consumer of topic runs here: nothing can be said.
func (r *Record) Owned(topic string) (n int, known bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ownedLocked(topic)
}

// Gains returns how many times a topic went from none of its partitions
// owned in this process to some. A state loaded before the last gain may
// be older than what another process wrote meanwhile.
func (r *Record) Gains() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gains
}

// Owns reports whether an owner owns partition of topic, and whether any
// owner has reported about topic (unknown: nothing can be said).
func (r *Record) Owns(topic string, partition int32) (owned, known bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for o := range r.owners {
		ps, ok := o.owned[topic]
		if !ok {
			continue
		}
		known = true
		if ps[partition] {
			return true, true
		}
	}
	return false, known
}

func (r *Record) ownedLocked(topic string) (n int, known bool) {
	var union map[int32]bool
	for o := range r.owners {
		ps, ok := o.owned[topic]
		if !ok {
			continue
		}
		known = true
		if len(r.owners) == 1 {
			return len(ps), true
		}
		if union == nil {
			union = map[int32]bool{}
		}
		for p := range ps {
			union[p] = true
		}
	}
	return len(union), known
}
