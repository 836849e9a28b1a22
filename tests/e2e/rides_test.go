// End-to-end test of config/rides.yaml through the rides-connect binary: known
// rides into an in-process Kafka-protocol broker, the job killed and restarted
// mid-stream, and the exact closed windows asserted in the Delta table.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
)

var (
	repoRoot string
	binary   string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		var err error
		if repoRoot, err = harness.RepoRoot(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir, err := os.MkdirTemp("", "rides-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if binary, err = harness.BuildBinary(repoRoot, dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

// knownRides: one ride every 20 event-seconds from 08:00 for 40 minutes, cities
// in turn (lower-case ones too, to exercise upper()), prices and distances that
// sum exactly in binary floating point.
func knownRides(from time.Time, n int) []harness.Ride {
	cities := []string{"FR", "us", "DE", "MG", "uk"}
	rides := make([]harness.Ride, n)
	for i := range rides {
		rides[i] = harness.Ride{
			RideID:     int64(i + 1),
			UserID:     int64(1000 + i%37),
			City:       cities[i%len(cities)],
			DistanceKm: 5 + float64(i%16)*1.25,
			Price:      4 + float64(i%8)*2.5,
			TS:         from.Add(time.Duration(i) * 20 * time.Second).Format(time.RFC3339Nano),
		}
	}
	return rides
}

func encode(t *testing.T, rides []harness.Ride) [][]byte {
	t.Helper()
	out := make([][]byte, len(rides))
	for i, r := range rides {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func TestRidesJobExactWindowsThroughACrash(t *testing.T) {
	t.Parallel()
	layout := harness.NewLayout(t.TempDir())
	if err := layout.Reset(); err != nil {
		t.Fatal(err)
	}
	table, err := objstore.Open(context.Background(), layout.Table, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runCrashScenario(t, layout, nil, table)
}

// The seed's deployment: the Delta table and the window checkpoint both on S3
// (an S3 API server on 127.0.0.1), s3a:// URLs as in the seed.
func TestRidesJobOnS3ThroughACrash(t *testing.T) {
	t.Parallel()
	srv := s3fake.Start(t, "miaradia-lake", "miaradia-ckpt")
	layout := harness.NewLayout(t.TempDir())
	if err := layout.Reset(); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"OUT_DELTA=s3a://miaradia-lake/silver/rides_agg",
		"CHECKPOINT=s3a://miaradia-ckpt/rides/",
		"S3_ENDPOINT=" + srv.Endpoint,
		"S3_FORCE_PATH_STYLE=true",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
	}
	opts := objstore.Options{S3: objstore.S3Options{Endpoint: srv.Endpoint, Region: "us-east-1",
		ForcePathStyle: true, AccessKeyID: "test", SecretAccessKey: "test"}}
	table, err := objstore.Open(context.Background(), "s3a://miaradia-lake/silver/rides_agg", opts)
	if err != nil {
		t.Fatal(err)
	}
	runCrashScenario(t, layout, env, table)
	ckpt, err := objstore.Open(context.Background(), "s3a://miaradia-ckpt/rides/", opts)
	if err != nil {
		t.Fatal(err)
	}
	if objs, err := ckpt.List(context.Background(), "", ""); err != nil || len(objs) == 0 {
		t.Fatalf("no window checkpoint on S3 (%v): the state must live beside the table, as the seed's checkpointLocation", err)
	}
	if _, err := os.Stat(layout.Checkpoint); !os.IsNotExist(err) {
		t.Fatalf("a local checkpoint was written at %s (%v)", layout.Checkpoint, err)
	}
}

// runCrashScenario runs config/rides.yaml through the binary (extra
// environment on top of the layout's), SIGKILLs it after the first windows
// reach the table, restarts it, and asserts the exact closed windows in table.
func runCrashScenario(t *testing.T, layout harness.Layout, extraEnv []string, table objstore.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// One partition keeps event time in order, so the expected result is exactly
	// the reference model with no late rows; the window unit tests cover disorder.
	broker, err := harness.StartBroker(map[string]int32{"rides": 1, "rides_dlq": 1})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	start := func() *harness.Process {
		httpAddr, err := harness.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		env := append(layout.JobEnv(broker.Addr, httpAddr), extraEnv...) // later entries win
		p, err := harness.Start(binary, []string{"-c", filepath.Join(repoRoot, "config", "rides.yaml")},
			env, filepath.Join(layout.Logs, fmt.Sprintf("rides-%d.log", time.Now().UnixNano())))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Kill)
		return p
	}

	from := time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)
	rides := knownRides(from, 120) // 08:00:00 .. 08:39:40
	first, second := rides[:60], rides[60:]

	// Phase 1: the first 20 minutes; windows up to 08:05 close (watermark 08:09:40).
	job := start()
	if err := broker.Produce(ctx, "rides", encode(t, first), nil); err != nil {
		t.Fatal(err)
	}
	wantFirst, err := harness.ReferenceWindows(first, 5*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitForStoreRows(ctx, table, len(wantFirst)); err != nil {
		t.Fatalf("%v\njob log: %s", err, readFile(job.Log))
	}

	// A crash: no shutdown, no final commit of offsets or state.
	job.Kill()

	// Phase 2: the rest, plus records the job must dead-letter, then a restart.
	bad := [][]byte{[]byte(`{"rideId":`), []byte(`{"rideId":9,"userId":1,"city":"FR","distanceKm":1,"price":1,"ts":"noon"}`)}
	if err := broker.Produce(ctx, "rides", append(encode(t, second), bad...), nil); err != nil {
		t.Fatal(err)
	}
	job = start()
	want, err := harness.ReferenceWindows(rides, 5*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitForStoreRows(ctx, table, len(want)); err != nil {
		t.Fatalf("%v\njob log: %s", err, readFile(job.Log))
	}
	if err := job.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _, err := harness.StoreRows(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	if diff := harness.DiffRows(got, want); diff != "" {
		t.Fatalf("Delta table differs from the reference (duplicates or losses across the crash):\n%s", diff)
	}

	// Hand-checked anchors, independent of the reference model: [08:00, 08:05)
	// holds rides 0..14 (15 rides, 3 per city); FR gets rides 0, 5, 10.
	fr := findRow(got, "FR", "2026-03-14 08:00:00")
	if fr == nil || fr.Cnt != 3 || fr.WinEnd != "2026-03-14 08:05:00" ||
		fr.Revenue != 4+(4+5*2.5)+(4+2*2.5) || fr.AvgDistance != (5+(5+5*1.25)+(5+10*1.25))/3 {
		t.Fatalf("FR 08:00 window = %+v", fr)
	}
	if findRow(got, "UK", "2026-03-14 08:20:00") == nil || findRow(got, "uk", "2026-03-14 08:20:00") != nil {
		t.Fatal("cities must be upper-cased")
	}
	// The last ride is at 08:39:40, so the watermark is 08:29:40: [08:20, 08:25)
	// is the last closed window and [08:25, 08:30) must still be open.
	if last := got[len(got)-1]; last.WinStart != "2026-03-14 08:20:00" {
		t.Fatalf("last closed window starts at %s", last.WinStart)
	}
	if findRow(got, "FR", "2026-03-14 08:25:00") != nil {
		t.Fatal("[08:25, 08:30) ends after the watermark and must still be open")
	}

	dlq, err := broker.ReadAll(ctx, "rides_dlq")
	if err != nil {
		t.Fatal(err)
	}
	if len(dlq) != len(bad) {
		t.Fatalf("dead-letter topic holds %d records, want %d", len(dlq), len(bad))
	}
}

func findRow(rows []harness.WindowRow, city, start string) *harness.WindowRow {
	for i := range rows {
		if rows[i].City == city && rows[i].WinStart == start {
			return &rows[i]
		}
	}
	return nil
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
