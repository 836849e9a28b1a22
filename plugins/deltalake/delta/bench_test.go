package delta

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
)

// BenchmarkAppend measures rows/s and commits/s of Append (parquet encode +
// upload + put-if-absent commit + a checkpoint every 10 commits) on a local
// directory and on gofakes3 over HTTP on 127.0.0.1.
//
//	go test ./plugins/deltalake/delta -run '^$' -bench Append -benchtime 3s
func BenchmarkAppend(b *testing.B) {
	stores := map[string]func(b *testing.B) objstore.Store{
		"local": func(b *testing.B) objstore.Store {
			st, err := objstore.NewLocal(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
		"s3": func(b *testing.B) objstore.Store {
			fake := s3fake.Start(b, "lake")
			st, err := objstore.Open(context.Background(), "s3://lake/t", objstore.Options{S3: objstore.S3Options{
				Endpoint: fake.Endpoint, Region: "us-east-1", ForcePathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"}})
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
	}
	for _, store := range []string{"local", "s3"} {
		for _, rows := range []int{5, 10000} {
			b.Run(fmt.Sprintf("%s/rows_per_commit=%d", store, rows), func(b *testing.B) {
				ctx := context.Background()
				st := stores[store](b)
				s := ridesSchema()
				clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
				w := newTestWriter(b, st, TableConfig{Schema: s}, clock)
				recs := make([]Record, rows)
				for i := range recs {
					recs[i] = ridesRecord(b, s, fmt.Sprintf("CITY-%d", i%50), i%60, int64(i), "app", 0)
				}
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					for j := range recs {
						recs[j].Version = int64(i + 1)
					}
					if _, err := w.Append(ctx, recs); err != nil {
						b.Fatal(err)
					}
				}
				el := time.Since(start).Seconds()
				b.ReportMetric(float64(b.N*rows)/el, "rows/s")
				b.ReportMetric(float64(b.N)/el, "commits/s")
			})
		}
	}
}
