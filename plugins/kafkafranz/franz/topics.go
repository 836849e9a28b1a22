package franz

import (
	"fmt"
	"strconv"
	"strings"
)

// TopicSpec is the parsed form of the `topics` field.
type TopicSpec struct {
	// Topics consumed through the group or as a whole (no partition given).
	Topics []string
	// Partitions explicitly requested: topic -> partition -> start offset
	// (-1 = use the start_offset policy).
	Partitions map[string]map[int32]int64
}

// Explicit reports whether any entry named partitions.
func (s TopicSpec) Explicit() bool { return len(s.Partitions) > 0 }

// ParseTopics expands comma-separated entries and parses the explicit forms
// `topic:partition`, `topic:first-last` and `topic:partition:offset`.
// Mixing plain topics and explicit partitions is refused, as in Redpanda
// Connect: the two need different consumption modes.
func ParseTopics(entries []string) (TopicSpec, error) {
	var spec TopicSpec
	for _, entry := range entries {
		for _, item := range strings.Split(entry, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			parts := strings.Split(item, ":")
			if parts[0] == "" {
				return spec, fmt.Errorf("topics: entry %q has an empty topic name", item)
			}
			switch len(parts) {
			case 1:
				spec.Topics = append(spec.Topics, item)
			case 2, 3:
				offset := int64(-1)
				if len(parts) == 3 {
					o, err := strconv.ParseInt(parts[2], 10, 64)
					if err != nil || o < 0 {
						return spec, fmt.Errorf("topics: entry %q: offset %q is not a non-negative integer (form topic:partition:offset)", item, parts[2])
					}
					offset = o
				}
				first, last, err := parsePartitionRange(parts[1])
				if err != nil {
					return spec, fmt.Errorf("topics: entry %q: %w", item, err)
				}
				if len(parts) == 3 && first != last {
					return spec, fmt.Errorf("topics: entry %q: an offset can only be given for a single partition", item)
				}
				if spec.Partitions == nil {
					spec.Partitions = map[string]map[int32]int64{}
				}
				if spec.Partitions[parts[0]] == nil {
					spec.Partitions[parts[0]] = map[int32]int64{}
				}
				for p := first; p <= last; p++ {
					spec.Partitions[parts[0]][p] = offset
				}
			default:
				return spec, fmt.Errorf("topics: entry %q has too many ':' (forms: topic, topic:partition, topic:first-last, topic:partition:offset)", item)
			}
		}
	}
	if len(spec.Topics) > 0 && len(spec.Partitions) > 0 {
		return spec, fmt.Errorf("topics: cannot mix plain topics %v with explicit partitions", spec.Topics)
	}
	return spec, nil
}

func parsePartitionRange(s string) (first, last int32, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	f, err := strconv.ParseInt(lo, 10, 32)
	if err != nil || f < 0 {
		return 0, 0, fmt.Errorf("partition %q is not a non-negative integer", lo)
	}
	if !isRange {
		return int32(f), int32(f), nil
	}
	l, err := strconv.ParseInt(hi, 10, 32)
	if err != nil || l < f {
		return 0, 0, fmt.Errorf("partition range %q must be first-last with first <= last", s)
	}
	return int32(f), int32(l), nil
}

// ExpandList splits every entry on commas and drops blanks, as Redpanda
// Connect does for `seed_brokers`.
func ExpandList(entries []string) []string {
	var out []string
	for _, e := range entries {
		for _, s := range strings.Split(e, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
