package engine

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkEngineRides measures the engine alone on rides-shaped rows (5
// cities, event time advancing 100 ms per event, so windows keep closing) in
// batches of 2048. Queries and JSON parsing are not included. Sub-benchmarks:
//   - interleaved: global watermark, every row from the next of 6 partitions;
//   - fetch_runs: per_partition (config/rides.yaml), rows in runs of 256 from
//     one partition with consecutive offsets, as a Kafka fetch delivers them;
//   - per_partition_interleaved: per_partition, every row from the next of 6
//     partitions, as config/rides.yaml's input orders a poll (batch_scope: poll).
func BenchmarkEngineRides(b *testing.B) {
	for _, kind := range []string{"interleaved", "fetch_runs", "per_partition_interleaved"} {
		b.Run(kind, func(b *testing.B) {
			cfg := ridesConfig()
			run := int64(1)
			switch kind {
			case "fetch_runs":
				cfg.Mode, cfg.Emit, run = ModePerPartition, EmitAfterBatch, 256
			case "per_partition_interleaved":
				cfg.Mode, cfg.Emit = ModePerPartition, EmitAfterBatch
			}
			e := newEngine(b, cfg)
			keys := []string{`["FR"]`, `["US"]`, `["DE"]`, `["MG"]`, `["UK"]`}
			const batch = 2048
			rows := make([]Row, batch)
			ts := at(b, "2026-03-14T00:00:00Z")
			var off int64
			b.ReportAllocs()
			b.ResetTimer()
			var events int
			for n := 0; n < b.N; n += batch { // one op = one event
				events += batch
				for i := range rows {
					ts += 100_000
					off++
					part := (off / run) % 6
					rows[i] = Row{TimeUs: ts - (off%7)*1_000_000, Key: keys[off%5],
						Values: []Value{{F: float64(off % 50)}, {F: 7}, Null},
						Pos:    Position{"rides", int32(part), off/(6*run)*run + off%run}, HasPos: true, Partitions: 6}
				}
				e.Process(rows, epoch)
			}
			b.StopTimer()
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkSnapshot is the encoding part of a checkpoint for the rides state
// (about 3 open windows × 5 cities, 6 partitions, 16 retained emissions).
func BenchmarkSnapshot(b *testing.B) {
	e := newEngine(b, ridesConfig())
	cfgRows := make([]Row, 0, 1000)
	ts := at(b, "2026-03-14T00:00:00Z")
	for i := 0; i < 200_000; i++ {
		ts += 100_000
		cfgRows = append(cfgRows, Row{TimeUs: ts, Key: fmt.Sprintf(`["C%d"]`, i%5), Values: []Value{{F: 1}, {F: 2}, Null},
			Pos: Position{"rides", int32(i % 6), int64(i)}, HasPos: true})
		if len(cfgRows) == cap(cfgRows) {
			e.Process(cfgRows, time.Now())
			cfgRows = cfgRows[:0]
		}
	}
	var size int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := e.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		size = len(s)
	}
	b.ReportMetric(float64(size), "state_bytes")
}

// BenchmarkSnapshotManyKeys: a state of 4 open windows of 20 000 keys each
// and 16 retained emissions of 20 000 rows (config/rides.yaml grouped by
// city and userId holds about that), snapshotted after a batch that added
// to the newest window only, as a backlog does between two writes. kept:
// the encodings of the unchanged windows and emissions are reused; afresh:
// everything is encoded again (what every snapshot did before).
//
//	go test ./plugins/window/engine/ -run '^$' -bench SnapshotManyKeys -benchmem
func BenchmarkSnapshotManyKeys(b *testing.B) {
	cfg := ridesConfig()
	cfg.RetainEmissions = 16
	e := newEngine(b, cfg)
	const keys = 20_000
	t0 := at(b, "2026-03-14T00:00:00Z")
	step := cfg.Size.Microseconds()
	batch := func(w int64, n int) []Row {
		rows := make([]Row, n)
		for i := range rows {
			rows[i] = Row{TimeUs: t0 + w*step + int64(i%1000), Key: fmt.Sprintf(`["C%d",%d]`, i%5, i), Values: []Value{{F: 1.25}, {F: 2.5}, Null}}
		}
		return rows
	}
	// 20 windows: 16 emitted (retained), 4 open behind the 10-minute delay.
	for w := int64(0); w < 20; w++ {
		e.Process(batch(w, keys), time.Now())
	}
	if e.OpenGroups() < 2*keys || len(e.pending) != 16 {
		b.Fatalf("setup: %d open groups, %d retained emissions", e.OpenGroups(), len(e.pending))
	}
	newest := batch(19, 1000)
	for _, mode := range []string{"kept", "afresh"} {
		b.Run(mode, func(b *testing.B) {
			var size int
			for i := 0; i < b.N; i++ {
				e.Process(newest, time.Now())
				if mode == "afresh" {
					e.openEnc, e.pendingBin, e.pendingEnc = nil, nil, make([][]byte, len(e.pending))
				}
				s, err := e.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				size = len(s)
			}
			b.ReportMetric(float64(size), "state_bytes")
		})
	}
}
