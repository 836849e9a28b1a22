// Package health follows whether one output is delivering: since when every
// attempt has failed, how many failures, the last error. The outputs turn it
// into /ready (Benthos marks an output not connected when its write answers
// service.ErrNotConnected), a metric and log lines; see healthsvc.
//
// It does not import Benthos; time comes from an injected clock.
package health

import (
	"context"
	"sync"
	"time"
)

// Status is a snapshot of a Tracker.
type Status struct {
	Failing    bool          // the last attempt failed
	FailingFor time.Duration // since the first failure of the current run of failures
	NotReady   bool          // failing for at least the tracker's NotReadyAfter
	Failures   int64         // failed attempts since start
	LastErr    error         // the last failure's error (nil when delivering)
}

// Tracker records delivery attempts. Safe for concurrent use.
type Tracker struct {
	notReadyAfter time.Duration
	retryEvery    time.Duration
	now           func() time.Time
	after         func(time.Duration) <-chan time.Time

	mu       sync.Mutex
	since    time.Time // first failure of the current run; zero when delivering
	last     time.Time // last failure
	failures int64
	lastErr  error
}

// Config configures a Tracker.
type Config struct {
	// NotReadyAfter: how long failures must last before the output reports
	// itself not ready. 0 means at the first failure.
	NotReadyAfter time.Duration
	// RetryEvery spaces attempts while failing (Pace); 1s when zero.
	RetryEvery time.Duration
	// Now and After are the clock; time.Now and time.After when nil.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// New returns a tracker of an output that has not failed yet.
func New(c Config) *Tracker {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.RetryEvery <= 0 {
		c.RetryEvery = time.Second
	}
	return &Tracker{notReadyAfter: c.NotReadyAfter, retryEvery: c.RetryEvery, now: c.Now, after: c.After}
}

// Failure records a failed attempt and returns the new status.
func (t *Tracker) Failure(err error) Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.since.IsZero() {
		t.since = now
	}
	t.last, t.lastErr = now, err
	t.failures++
	return t.statusLocked(now)
}

// Success records a delivered attempt and returns the status before it, so
// the caller can tell a recovery (Failing) from the usual case.
func (t *Tracker) Success() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	before := t.statusLocked(t.now())
	t.since, t.lastErr = time.Time{}, nil
	return before
}

// Status returns the current status.
func (t *Tracker) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.statusLocked(t.now())
}

func (t *Tracker) statusLocked(now time.Time) Status {
	s := Status{Failures: t.failures, LastErr: t.lastErr}
	if !t.since.IsZero() {
		s.Failing = true
		s.FailingFor = now.Sub(t.since)
		s.NotReady = s.FailingFor >= t.notReadyAfter
	}
	return s
}

// Pace waits, while failing, until RetryEvery has passed since the last
// failure, so a store that fails fast is not retried in a busy loop. It
// returns at once when delivering, and ctx's error if ctx ends first.
func (t *Tracker) Pace(ctx context.Context) error {
	t.mu.Lock()
	var wait time.Duration
	if !t.since.IsZero() {
		wait = t.retryEvery - t.now().Sub(t.last)
	}
	t.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.after(wait):
		return nil
	}
}
