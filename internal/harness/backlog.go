package harness

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is one Kafka record of a generated topic: its key and value, and the
// ride it holds (nil for a malformed record, which goes to the dead-letter topic).
type Record struct {
	Key, Value []byte
	Ride       *Ride
}

// BacklogSpec shapes a generated rides topic.
type BacklogSpec struct {
	Seed       int64
	Rides      int           // records in all, malformed ones included
	Partitions int           // records are spread over them at random
	Start      time.Time     // event time of the first ride
	Span       time.Duration // event time covered
	Disorder   time.Duration // a ride is at most this far behind its partition's progress
	FarBehind  float64       // fraction of rides an hour or more behind (late)
	Malformed  float64       // fraction of records that are not valid rides
}

// DefaultBacklog is the realistic backlog the determinism issue describes:
// 3 h of rides on 6 partitions, disorder up to 5 min, ~0.06 % far behind,
// ~0.4 % malformed.
func DefaultBacklog(seed int64, rides int) BacklogSpec {
	return BacklogSpec{Seed: seed, Rides: rides, Partitions: 6,
		Start: time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), Span: 3 * time.Hour,
		Disorder: 5 * time.Minute, FarBehind: 0.0006, Malformed: 0.004}
}

var backlogCities = []string{"paris", "Lyon", "MARSEILLE", "lille", "nantes", "toulouse", "nice", "bordeaux"}

// Generate returns the records of each partition in offset order. Event time
// advances steadily over the whole topic; each record goes to a random
// partition and lies up to Disorder behind that progress, so no on-time ride
// is late against its own partition however the partitions interleave.
func (s BacklogSpec) Generate() [][]Record {
	parts := make([][]Record, s.Partitions)
	_ = s.Each(func(p int, rec Record) error {
		parts[p] = append(parts[p], rec)
		return nil
	})
	return parts
}

// Each yields the records of Generate one at a time, in generation order
// (each partition's in offset order), without holding them: for backlogs too
// big for memory (10 M rides). It stops at fn's first error and returns it.
func (s BacklogSpec) Each(fn func(partition int, rec Record) error) error {
	rng := rand.New(rand.NewSource(s.Seed))
	step := s.Span / time.Duration(max(s.Rides, 1))
	for i := 0; i < s.Rides; i++ {
		p := rng.Intn(s.Partitions)
		progress := s.Start.Add(time.Duration(i) * step)
		ts := progress.Add(-time.Duration(rng.Int63n(int64(s.Disorder) + 1)))
		if rng.Float64() < s.FarBehind {
			ts = ts.Add(-time.Hour - time.Duration(rng.Int63n(int64(30*time.Minute))))
		}
		ts = ts.Truncate(time.Millisecond)
		r := Ride{RideID: int64(i + 1), UserID: int64(rng.Intn(50000)), City: backlogCities[rng.Intn(len(backlogCities))],
			DistanceKm: float64(50+rng.Intn(3000)) / 100, Price: float64(300+rng.Intn(9000)) / 100,
			TS: ts.Format("2006-01-02T15:04:05.000Z")}
		rec := Record{Key: []byte(fmt.Sprint(r.RideID))}
		if rng.Float64() < s.Malformed {
			rec.Value = malformed(rng, r)
		} else {
			rec.Value, _ = json.Marshal(r)
			rec.Ride = &r
		}
		if err := fn(p, rec); err != nil {
			return err
		}
	}
	return nil
}

// malformed returns a record the parse rejects, of one of the dead-letter kinds.
func malformed(rng *rand.Rand, r Ride) []byte {
	switch rng.Intn(4) {
	case 0:
		return []byte(`{"rideId":` + fmt.Sprint(r.RideID) + `,"city":`) // bad_json
	case 1:
		return []byte(fmt.Sprintf(`{"rideId":%d,"userId":1,"city":"paris","price":3.5,"ts":%q}`, r.RideID, r.TS)) // missing_field
	case 2:
		return []byte(fmt.Sprintf(`{"rideId":%d,"userId":1,"city":"paris","distanceKm":"far","price":3.5,"ts":%q}`, r.RideID, r.TS)) // bad_type
	default:
		return []byte(fmt.Sprintf(`{"rideId":%d,"userId":1,"city":"paris","distanceKm":1.5,"price":3.5,"ts":"yesterday"}`, r.RideID)) // bad_timestamp
	}
}

// Rides returns each partition's valid rides in offset order.
func Rides(parts [][]Record) [][]Ride {
	out := make([][]Ride, len(parts))
	for p, recs := range parts {
		for _, r := range recs {
			if r.Ride != nil {
				out[p] = append(out[p], *r.Ride)
			}
		}
	}
	return out
}

// RidesByPartition groups the valid rides among records by partition, each
// in offset order, for PartitionedReference.
func RidesByPartition(records []*kgo.Record) [][]Ride {
	byPart := map[int32][]*kgo.Record{}
	var parts []int32
	for _, r := range records {
		if _, ok := byPart[r.Partition]; !ok {
			parts = append(parts, r.Partition)
		}
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	slices.Sort(parts)
	out := make([][]Ride, 0, len(parts))
	for _, p := range parts {
		recs := byPart[p]
		slices.SortFunc(recs, func(a, b *kgo.Record) int { return cmp.Compare(a.Offset, b.Offset) })
		values := make([][]byte, len(recs))
		for i, r := range recs {
			values[i] = r.Value
		}
		out = append(out, ParseRides(values))
	}
	return out
}
