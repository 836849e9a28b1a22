package healthsvc

import (
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

func notReadyAfter(t *testing.T, v string) (time.Duration, error) {
	t.Helper()
	conf, err := service.NewConfigSpec().Field(NotReadyAfterField()).ParseYAML("not_ready_after: "+v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return NotReadyAfter(conf)
}

// A negative value passed lint and start, and meant 0s.
func TestNotReadyAfterMustNotBeNegative(t *testing.T) {
	if _, err := notReadyAfter(t, "-1s"); err == nil || !strings.Contains(err.Error(), "not_ready_after") {
		t.Fatalf("got %v, want not_ready_after refused", err)
	}
	for v, want := range map[string]time.Duration{"0s": 0, "30s": 30 * time.Second} {
		if d, err := notReadyAfter(t, v); err != nil || d != want {
			t.Errorf("%s: got %v, %v", v, d, err)
		}
	}
}
