// Package ratelog rate-limits a repeated log line: at most one line per
// interval, saying how many occurrences it covers (a hold of the window, a
// consumer refused by its group). It imports neither Benthos nor franz-go.
package ratelog

import (
	"sync"
	"time"
)

// Limiter counts occurrences and says when to log one. The zero value is
// ready; safe for concurrent use.
type Limiter struct {
	mu     sync.Mutex
	logged time.Time // last line (processing time)
	count  int       // occurrences since then
}

// Note counts an occurrence at now and says whether to log a line now, and
// how many occurrences that line covers.
func (l *Limiter) Note(now time.Time, every time.Duration) (log bool, count int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count++
	if !l.logged.IsZero() && now.Sub(l.logged) < every {
		return false, 0
	}
	count = l.count
	l.logged, l.count = now, 0
	return true, count
}

// LoggedAt is when the last line was logged (zero: never).
func (l *Limiter) LoggedAt() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.logged
}
