package ratelog

import (
	"testing"
	"time"
)

// One line per interval, covering every occurrence since the last line.
func TestOneLinePerIntervalCountingWhatItCovers(t *testing.T) {
	var l Limiter
	t0 := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	if log, n := l.Note(t0, time.Minute); !log || n != 1 {
		t.Fatalf("first occurrence: log %v covering %d, want a line covering 1", log, n)
	}
	for i := 1; i <= 3; i++ {
		if log, _ := l.Note(t0.Add(time.Duration(i)*time.Second), time.Minute); log {
			t.Fatalf("occurrence %d within the minute logged", i)
		}
	}
	if log, n := l.Note(t0.Add(time.Minute), time.Minute); !log || n != 4 {
		t.Fatalf("after a minute: log %v covering %d, want a line covering 4", log, n)
	}
	if got := l.LoggedAt(); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("LoggedAt %v", got)
	}
}
