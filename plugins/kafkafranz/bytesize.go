package kafkafranz

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseBytes reads sizes such as "50MiB", "1MB", "4096" into bytes (as the
// int32 franz-go wants). Binary (KiB, MiB, GiB) and decimal (KB, MB, GB)
// units are accepted.
func parseBytes(field, s string) (int32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
	}
	mult := 1.0
	num := s
	for _, u := range units {
		if strings.HasSuffix(strings.ToLower(s), strings.ToLower(u.suffix)) {
			num, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive size such as 1MiB, 500KB or 4096", field, s)
	}
	n := v * mult
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("%s: %q is larger than 2GiB", field, s)
	}
	return int32(n), nil
}
