package health

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestNotReadyOnlyAfterContinuousFailureAndBackOnSuccess(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tr := New(Config{NotReadyAfter: 30 * time.Second, Now: c.Now})
	if s := tr.Status(); s.Failing || s.NotReady {
		t.Fatalf("new tracker: %+v", s)
	}
	boom := errors.New("store down")
	s := tr.Failure(boom)
	if !s.Failing || s.NotReady || s.FailingFor != 0 || s.Failures != 1 {
		t.Fatalf("first failure: %+v", s)
	}
	c.Advance(29 * time.Second)
	if s := tr.Failure(boom); s.NotReady || s.FailingFor != 29*time.Second {
		t.Fatalf("29 s of failures must still be ready: %+v", s)
	}
	c.Advance(time.Second)
	if s := tr.Failure(boom); !s.NotReady || s.Failures != 3 || s.LastErr != boom {
		t.Fatalf("30 s of failures: %+v", s)
	}
	before := tr.Success()
	if !before.NotReady || before.FailingFor != 30*time.Second {
		t.Fatalf("Success returns the status before it: %+v", before)
	}
	if s := tr.Status(); s.Failing || s.NotReady || s.LastErr != nil || s.Failures != 3 {
		t.Fatalf("after success: %+v", s)
	}
	// A new run of failures starts its own timer.
	c.Advance(time.Hour)
	if s := tr.Failure(boom); s.NotReady || s.FailingFor != 0 {
		t.Fatalf("a new failure after a success restarts the timer: %+v", s)
	}
}

func TestZeroNotReadyAfterFlipsAtTheFirstFailure(t *testing.T) {
	tr := New(Config{})
	if s := tr.Failure(errors.New("x")); !s.NotReady {
		t.Fatalf("%+v", s)
	}
}

func TestPaceSpacesRetriesWhileFailing(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var waited []time.Duration
	after := func(d time.Duration) <-chan time.Time {
		waited = append(waited, d)
		ch := make(chan time.Time, 1)
		ch <- c.Now().Add(d)
		return ch
	}
	tr := New(Config{RetryEvery: time.Second, Now: c.Now, After: after})
	ctx := context.Background()
	if err := tr.Pace(ctx); err != nil || len(waited) != 0 {
		t.Fatalf("delivering: no wait (%v, %v)", err, waited)
	}
	tr.Failure(errors.New("x"))
	c.Advance(300 * time.Millisecond)
	if err := tr.Pace(ctx); err != nil || len(waited) != 1 || waited[0] != 700*time.Millisecond {
		t.Fatalf("failing: wait the rest of RetryEvery (%v, %v)", err, waited)
	}
	c.Advance(2 * time.Second)
	if err := tr.Pace(ctx); err != nil || len(waited) != 1 {
		t.Fatalf("RetryEvery already passed: no wait (%v, %v)", err, waited)
	}
	// A cancelled context ends the wait.
	tr2 := New(Config{RetryEvery: time.Hour, Now: c.Now, After: func(time.Duration) <-chan time.Time { return nil }})
	tr2.Failure(errors.New("x"))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := tr2.Pace(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
