// Command rides-demo runs the seed job end to end on a machine with nothing
// installed: an embedded Kafka-protocol broker on 127.0.0.1, the ride simulator
// (config/producer.yaml) replaying an hour of rides in seconds, the job itself
// (config/rides.yaml) writing a Delta table under ./data, and at the end the
// closed windows read back from that table, checked against a reference
// computation over the same rides. The bronze job (config/bronze.yaml) runs
// beside it and its table of raw rides is summarised (rows per day, files,
// version). `make demo` runs it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/miaradia/rides-connect/internal/harness"
)

func main() {
	var (
		bin      = flag.String("bin", "./bin/rides-connect", "rides-connect binary")
		confDir  = flag.String("config", "./config", "directory holding rides.yaml and producer.yaml")
		dataDir  = flag.String("data", "./data", "where the Delta table, checkpoint and logs go")
		rides    = flag.Int("rides", 3600, "rides to simulate (one per event-time second)")
		start    = flag.String("start", "2026-03-14T08:00:00Z", "event time of the first ride")
		interval = flag.String("interval", "3ms", "wall-clock time between simulated rides")
		timeout  = flag.Duration("timeout", 60*time.Second, "give up after this long")
	)
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *bin, *confDir, harness.NewLayout(*dataDir), *rides, *start, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin, confDir string, layout harness.Layout, rides int, start, interval string) error {
	began := time.Now()
	if err := layout.Reset(); err != nil {
		return err
	}
	bronzeTable := filepath.Join(layout.Root, "bronze", "rides")
	if err := os.RemoveAll(bronzeTable); err != nil {
		return err
	}
	broker, err := harness.StartBroker(map[string]int32{"rides": 6, "rides_dlq": 1, "rides_bronze_dlq": 1})
	if err != nil {
		return err
	}
	defer broker.Close()
	fmt.Printf("embedded Kafka broker on %s (topic rides, 6 partitions)\n", broker.Addr)

	httpAddr, err := harness.FreeAddr()
	if err != nil {
		return err
	}
	job, err := harness.Start(bin, []string{"-c", filepath.Join(confDir, "rides.yaml")},
		layout.JobEnv(broker.Addr, httpAddr), filepath.Join(layout.Logs, "rides.log"))
	if err != nil {
		return err
	}
	defer job.Stop(10 * time.Second)
	fmt.Printf("job config/rides.yaml running (pid %d, metrics http://%s/metrics, log %s)\n", job.PID(), httpAddr, job.Log)

	bronzeHTTP, err := harness.FreeAddr()
	if err != nil {
		return err
	}
	bronze, err := harness.Start(bin, []string{"-c", filepath.Join(confDir, "bronze.yaml")}, []string{
		"KAFKA_BOOTSTRAP=" + broker.Addr,
		"OUT_BRONZE=" + bronzeTable,
		"HTTP_ADDRESS=" + bronzeHTTP,
		"BRONZE_COMMIT_PERIOD=1s",
	}, filepath.Join(layout.Logs, "bronze.log"))
	if err != nil {
		return err
	}
	defer bronze.Stop(10 * time.Second)
	fmt.Printf("job config/bronze.yaml running (pid %d, metrics http://%s/metrics, log %s)\n", bronze.PID(), bronzeHTTP, bronze.Log)

	producer, err := harness.Start(bin, []string{"-c", filepath.Join(confDir, "producer.yaml")}, []string{
		"KAFKA_BOOTSTRAP=" + broker.Addr,
		"SIM_START=" + start,
		"SIM_STEP_MS=1000",
		"SIM_COUNT=" + strconv.Itoa(rides),
		"SIM_INTERVAL=" + interval,
	}, filepath.Join(layout.Logs, "producer.log"))
	if err != nil {
		return err
	}
	if err := producer.Wait(ctx); err != nil {
		return fmt.Errorf("simulator (log %s): %w", producer.Log, err)
	}
	// Three records the job must reject to the dead-letter topic, not drop.
	bad := [][]byte{
		[]byte(`{"rideId":1,"userId":2,`),
		[]byte(`{"rideId":2,"userId":2,"city":"FR","distanceKm":5,"ts":"` + start + `"}`),
		[]byte(`{"rideId":3,"userId":2,"city":"FR","distanceKm":5,"price":3,"ts":"not a time"}`),
	}
	if err := broker.Produce(ctx, "rides", bad, nil); err != nil {
		return err
	}
	fmt.Printf("simulator sent %d rides from %s, one per event-time second, plus %d malformed records\n", rides, start, len(bad))

	records, err := broker.ReadAll(ctx, "rides")
	if err != nil {
		return err
	}
	// The reference applies the job's rule to each partition's rides in offset order.
	want, _, err := harness.PartitionedReference(harness.RidesByPartition(records), 5*time.Minute, 10*time.Minute)
	if err != nil {
		return err
	}
	got, err := harness.WaitForRows(ctx, layout.Table, len(want))
	if err != nil {
		return fmt.Errorf("%w (job log: %s)", err, job.Log)
	}
	// The malformed records may sit behind the last window's rides: wait for
	// both jobs to dead-letter them before stopping.
	for _, dlq := range []string{"rides_dlq", "rides_bronze_dlq"} {
		if err := waitRecords(ctx, broker, dlq, len(bad)); err != nil {
			return err
		}
	}
	if err := job.Stop(10 * time.Second); err != nil {
		return err
	}
	_, version, err := harness.TableRows(ctx, layout.Table)
	if err != nil {
		return err
	}

	fmt.Printf("\nClosed windows in the Delta table %s (version %d):\n\n", layout.Table, version)
	fmt.Printf("%-4s %-19s  %-19s  %10s  %8s  %5s\n", "city", "win_start", "win_end", "revenue", "avg_dist", "cnt")
	for _, r := range got {
		fmt.Println(r)
	}
	if err := printDeadLetters(ctx, broker, "rides_dlq"); err != nil {
		return err
	}
	if err := summarizeBronze(ctx, bronze, bronzeTable, rides); err != nil {
		return err
	}
	if err := printDeadLetters(ctx, broker, "rides_bronze_dlq"); err != nil {
		return err
	}
	if diff := harness.DiffRows(got, want); diff != "" {
		return fmt.Errorf("the table differs from the reference computation:\n%s", diff)
	}
	fmt.Printf("\n%d windows, equal to a reference computation over the same rides; windows ending after the watermark stay open, as in Spark. Done in %s.\n",
		len(got), time.Since(began).Round(100*time.Millisecond))
	return nil
}

func waitRecords(ctx context.Context, broker *harness.Broker, topic string, n int) error {
	for {
		recs, err := broker.ReadAll(ctx, topic)
		if err != nil || len(recs) >= n {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s holds %d records, want %d: %w", topic, len(recs), n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func printDeadLetters(ctx context.Context, broker *harness.Broker, topic string) error {
	recs, err := broker.ReadAll(ctx, topic)
	if err != nil {
		return err
	}
	reasons := map[string]int{}
	for _, r := range recs {
		var envelope struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal(r.Value, &envelope) != nil || envelope.Reason == "" {
			envelope.Reason = "?"
		}
		reasons[envelope.Reason]++
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("\nDead-letter topic %s: %d records", topic, len(recs))
	for _, k := range keys {
		fmt.Printf(", %s=%d", k, reasons[k])
	}
	fmt.Println()
	return nil
}
