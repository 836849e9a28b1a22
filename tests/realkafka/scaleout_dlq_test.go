package realkafka

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// checkDeadLettersOnce reads the backlog's dead-letter topic read_committed
// and checks that every malformed record of it is there exactly once, with
// its own key, value and source, and nothing else: config/rides-scaleout.yaml
// produces each stage's dead letters in its input's Kafka transaction, so
// neither a killed replica nor one paused past its session timeout (its
// transaction aborts) can add one twice. (The dead-letter output used to
// deduplicate by source coordinates outside the transactions: a resumed
// replica wrote hundreds of dead letters again, red team of session 18.)
func checkDeadLettersOnce(t *testing.T, be brokerEnv, bl backlog) {
	t.Helper()
	checkDeadLetters(t, be, bl, true)
}

// checkDeadLetters is checkDeadLettersOnce; with once false a malformed
// record may have several dead letters (logged, not failed), none missing:
// config/rides.yaml's stage 1 writes its dead letters outside
// any transaction, and a replica resumed after a pause past its session
// timeout delivers those its producer held before the pause, which the
// partition's new owner writes too (docs/scale-out.md, "Local stage 1").
func checkDeadLetters(t *testing.T, be brokerEnv, bl backlog, once bool) {
	t.Helper()
	type source struct {
		partition int32
		offset    int64
	}
	want := map[source]int{}
	for p, recs := range bl.parts {
		for i, r := range recs {
			if r.Ride == nil {
				want[source{int32(p), int64(i)}] = 0 // produced in order: offset i
			}
		}
	}
	var extra []string
	dlq := bl.topic + "-dlq"
	readCommittedToEnd(t, be, map[string]map[int32]kgo.Offset{dlq: nil}, func(r *kgo.Record) bool {
		var env struct {
			Value  string `json:"value"`
			Source struct {
				Topic     string          `json:"topic"`
				Partition json.RawMessage `json:"partition"`
				Offset    json.RawMessage `json:"offset"`
			} `json:"source"`
		}
		if err := json.Unmarshal(r.Value, &env); err != nil {
			extra = append(extra, fmt.Sprintf("offset %d: not an envelope: %v", r.Offset, err))
			return true
		}
		var s source
		if env.Source.Topic != bl.topic || json.Unmarshal(unquote(env.Source.Partition), &s.partition) != nil ||
			json.Unmarshal(unquote(env.Source.Offset), &s.offset) != nil {
			extra = append(extra, fmt.Sprintf("offset %d: source %s/%s/%s", r.Offset, env.Source.Topic, env.Source.Partition, env.Source.Offset))
			return true
		}
		n, ok := want[s]
		if !ok {
			extra = append(extra, fmt.Sprintf("offset %d: source %+v is not a malformed record", r.Offset, s))
			return true
		}
		want[s] = n + 1
		if rec := bl.parts[s.partition][s.offset]; env.Value != string(rec.Value) || string(r.Key) != string(rec.Key) {
			t.Errorf("dead letter of %+v: key %q value %q, want the record's key %q and value %q", s, r.Key, env.Value, rec.Key, rec.Value)
		}
		return true
	})
	missing, twice := 0, 0
	for s, n := range want {
		switch {
		case n == 0:
			missing++
			if missing <= 5 {
				t.Errorf("malformed record %+v has no dead letter", s)
			}
		case n > 1:
			twice++
			if twice <= 5 && once {
				t.Errorf("malformed record %+v has %d dead letters", s, n)
			}
		}
	}
	for i, e := range extra {
		if i < 5 {
			t.Errorf("dead-letter topic %s: %s", dlq, e)
		}
	}
	t.Logf("dead letters: %d malformed records, %d missing, %d more than once, %d others", len(want), missing, twice, len(extra))
}

// unquote takes a JSON number out of a string ("3" -> 3): metadata values
// reach the envelope as strings or numbers.
func unquote(raw json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return json.RawMessage(s)
	}
	return raw
}
