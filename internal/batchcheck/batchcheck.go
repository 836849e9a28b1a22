// Package batchcheck refuses a `batching` policy that Benthos would take
// without a word or refuse without naming the field: a negative count or
// byte_size is no trigger at all, a negative period likewise, and a period
// without unit fails as "failed to construct batch policy".
package batchcheck

import (
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Policy checks p, the policy of the field named field.
func Policy(field string, p service.BatchPolicy) error {
	switch {
	case p.Count < 0:
		return fmt.Errorf("%s.count: %d must not be negative (0: no count trigger)", field, p.Count)
	case p.ByteSize < 0:
		return fmt.Errorf("%s.byte_size: %d must not be negative (0: no size trigger)", field, p.ByteSize)
	}
	if p.Period != "" {
		d, err := time.ParseDuration(p.Period)
		if err != nil || d < 0 {
			return fmt.Errorf("%s.period: %q is not a duration such as 1s (empty: no period trigger)", field, p.Period)
		}
	}
	return nil
}

// Output reads an output's batching policy (field) and max_in_flight,
// refusing what Policy refuses and a max_in_flight below 1, which Benthos
// refuses as "invalid maxInFlight parameter" without naming the field.
func Output(conf *service.ParsedConfig, field string) (service.BatchPolicy, int, error) {
	pol, err := conf.FieldBatchPolicy(field)
	if err != nil {
		return pol, 0, err
	}
	if err := Policy(field, pol); err != nil {
		return pol, 0, err
	}
	inFlight, err := conf.FieldMaxInFlight()
	if err == nil && inFlight < 1 {
		err = fmt.Errorf("max_in_flight: %d must be at least 1", inFlight)
	}
	return pol, inFlight, err
}
