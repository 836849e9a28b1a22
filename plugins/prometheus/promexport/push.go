package promexport

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

// PushOptions configure pushes to a Prometheus push gateway, for runs too
// short-lived or too firewalled to be scraped.
type PushOptions struct {
	URL      string
	Job      string
	Interval time.Duration // 0: push only once, on Close
	Username string        // basic auth when not empty
	Password string
	// Timeout bounds each push (default 10s): a hung gateway must not stall
	// the loop or the shutdown.
	Timeout time.Duration
	// Tick replaces the interval ticker (tests drive pushes by hand).
	Tick <-chan time.Time
}

// Pusher pushes a gatherer's metrics on every tick and once more on Close.
type Pusher struct {
	p       *push.Pusher
	onError func(error)
	timeout time.Duration

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// StartPusher starts the push loop. Push errors go to onError (may be nil):
// a gateway outage must not stop the pipeline.
func StartPusher(g prometheus.Gatherer, o PushOptions, onError func(error)) *Pusher {
	p := push.New(o.URL, o.Job).Gatherer(g)
	if o.Username != "" {
		p = p.BasicAuth(o.Username, o.Password)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	ps := &Pusher{p: p, onError: onError, timeout: o.Timeout, stop: make(chan struct{}), done: make(chan struct{})}
	tick := o.Tick
	var ticker *time.Ticker
	if tick == nil && o.Interval > 0 {
		ticker = time.NewTicker(o.Interval)
		tick = ticker.C
	}
	go func() {
		defer close(ps.done)
		if ticker != nil {
			defer ticker.Stop()
		}
		for {
			select {
			case <-ps.stop:
				return
			case <-tick:
				if err := ps.pushOnce(context.Background()); err != nil && ps.onError != nil {
					ps.onError(err)
				}
			}
		}
	}()
	return ps
}

func (ps *Pusher) pushOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ps.timeout)
	defer cancel()
	// PUT replaces the whole group, so series that disappeared go too.
	if err := ps.p.PushContext(ctx); err != nil {
		return fmt.Errorf("push to gateway: %w", err)
	}
	return nil
}

// Close stops the loop and pushes the final values. Idempotent.
func (ps *Pusher) Close(ctx context.Context) error {
	ps.closeOnce.Do(func() {
		close(ps.stop)
		<-ps.done
		ps.closeErr = ps.pushOnce(ctx)
	})
	return ps.closeErr
}
