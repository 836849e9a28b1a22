package prometheus

import (
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/plugins/prometheus/progress"
	"github.com/miaradia/rides-connect/plugins/prometheus/promexport"
)

// progressLoop emits started at once, progress on every tick, and a last
// progress plus terminated on Close.
type progressLoop struct {
	reg  *promexport.Registry
	rep  *progress.Reporter
	emit func(kind string, ev any)
	log  *service.Logger

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func startProgress(reg *promexport.Registry, rep *progress.Reporter, every time.Duration, tick <-chan time.Time, emit func(string, any), log *service.Logger) *progressLoop {
	l := &progressLoop{reg: reg, rep: rep, emit: emit, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	var ticker *time.Ticker
	if tick == nil {
		ticker = time.NewTicker(every)
		tick = ticker.C
	}
	l.emit("started", rep.Started(l.snapshot()))
	go func() {
		defer close(l.done)
		if ticker != nil {
			defer ticker.Stop()
		}
		for {
			select {
			case <-l.stop:
				return
			case <-tick:
				l.emit("progress", l.rep.Progress(l.snapshot()))
			}
		}
	}()
	return l
}

func (l *progressLoop) snapshot() progress.Snapshot {
	fams, err := l.reg.Gatherer().Gather()
	if err != nil {
		// Partial results are still useful; say what failed.
		l.log.Warnf("progress: gathering metrics: %v", err)
	}
	return progress.FromFamilies(fams)
}

// Close is idempotent and waits for the loop goroutine.
func (l *progressLoop) Close() {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		l.emit("progress", l.rep.Progress(l.snapshot()))
		l.emit("terminated", l.rep.Terminated(""))
	})
}
