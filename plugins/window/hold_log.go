package window

import (
	"sync"
	"time"
)

// holdLog rate-limits the ERROR line of a hold (the split guard's, the
// config hold's): at most one line per interval, saying how many holds it
// covers. Safe for concurrent use.
type holdLog struct {
	mu     sync.Mutex
	logged time.Time // last line (processing time)
	held   int       // holds since then
}

// note counts a hold at now and says whether to log a line now, and how
// many holds that line covers.
func (h *holdLog) note(now time.Time, every time.Duration) (log bool, holds int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held++
	if !h.logged.IsZero() && now.Sub(h.logged) < every {
		return false, 0
	}
	holds = h.held
	h.logged, h.held = now, 0
	return true, holds
}

// loggedAt is when the last line was logged (zero: never).
func (h *holdLog) loggedAt() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logged
}
