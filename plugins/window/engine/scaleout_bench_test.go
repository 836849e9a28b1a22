package engine

import "testing"

// BenchmarkStages compares, on the rows of BenchmarkEngineRides (6
// partitions, per_partition, after_batch), the full engine with the two
// stages in one process: stage 1, the partials and markers through their
// wire form (JSON), stage 2 on one internal partition. Kafka not included.
func BenchmarkStages(b *testing.B) {
	keys := []string{`["FR"]`, `["US"]`, `["DE"]`, `["MG"]`, `["UK"]`}
	const batch = 2048
	gen := func(rows []Row, ts, off *int64) {
		for i := range rows {
			*ts += 100_000
			*off++
			o := *off
			rows[i] = Row{TimeUs: *ts - (o%7)*1_000_000, Key: keys[o%5],
				Values: []Value{{F: float64(o % 50)}, {F: 7}, Null}, Pos: Position{"rides", int32(o % 6), o / 6}, HasPos: true, Partitions: 6}
		}
	}
	cfg := ridesConfig()
	cfg.Mode, cfg.Emit = ModePerPartition, EmitAfterBatch
	for _, two := range []bool{false, true} {
		name := "full"
		if two {
			name = "partial_wire_merge"
		}
		b.Run(name, func(b *testing.B) {
			full := cfg
			e := newEngine(b, full)
			p1cfg, p2cfg := cfg, cfg
			p1cfg.Stage, p2cfg.Stage = StagePartial, StageMerge
			p1, err := NewPartial(p1cfg)
			if err != nil {
				b.Fatal(err)
			}
			p2 := newEngine(b, p2cfg)
			rows := make([]Row, batch)
			ts := at(b, "2026-03-14T00:00:00Z")
			var off, internalOff int64
			var emitted int
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n += batch { // one op = one event
				gen(rows, &ts, &off)
				if !two {
					if r := e.Process(rows, epoch); r.New != nil {
						emitted += len(r.New.Rows)
					}
					continue
				}
				res := p1.Process(rows, epoch)
				in := make([]MergeInput, 0, len(res.Partials)+len(res.Markers))
				for i := range res.Partials {
					body, _ := EncodePartial(&res.Partials[i])
					p, err := DecodePartial(body)
					if err != nil {
						b.Fatal(err)
					}
					internalOff++
					in = append(in, MergeInput{Partial: p, Pos: Position{"internal", 0, internalOff}, HasPos: true})
				}
				for i := range res.Markers {
					body, _ := EncodeMarker(&res.Markers[i])
					m, err := DecodeMarker(body)
					if err != nil {
						b.Fatal(err)
					}
					internalOff++
					in = append(in, MergeInput{Marker: m, Pos: Position{"internal", 0, internalOff}, HasPos: true})
				}
				if r := p2.Merge(in, epoch); r.New != nil {
					emitted += len(r.New.Rows)
				}
			}
			b.StopTimer()
			if emitted == 0 && b.N > 100*batch { // 100 batches span 5.7 h of event time
				b.Fatal("nothing emitted")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
