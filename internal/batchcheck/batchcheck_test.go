package batchcheck

import (
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

func TestPolicyNamesTheFieldOfWhatItRefuses(t *testing.T) {
	for _, c := range []struct {
		p    service.BatchPolicy
		want string
	}{
		{service.BatchPolicy{Count: -1}, "batching.count"},
		{service.BatchPolicy{ByteSize: -5}, "batching.byte_size"},
		{service.BatchPolicy{Count: 10, Period: "60"}, `batching.period: "60"`},
		{service.BatchPolicy{Count: 10, Period: "-1m"}, `batching.period: "-1m"`},
	} {
		if err := Policy("batching", c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %s named", c.p, err, c.want)
		}
	}
	for _, p := range []service.BatchPolicy{{}, {Count: 100000, Period: "1m"}, {ByteSize: 1 << 20}, {Period: "0s"}} {
		if err := Policy("batching", p); err != nil {
			t.Errorf("%+v refused: %v", p, err)
		}
	}
}
