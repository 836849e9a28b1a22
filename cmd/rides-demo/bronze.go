package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// summarizeBronze waits until the bronze table holds every simulated ride,
// stops the bronze job and prints rows and files per day and the version.
func summarizeBronze(ctx context.Context, job *harness.Process, table string, want int) error {
	st, err := objstore.NewLocal(table)
	if err != nil {
		return err
	}
	var rows []map[string]any
	for {
		if rows, err = delta.ReadAllRows(ctx, st); err == nil && len(rows) >= want {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bronze table %s has %d of %d rides (%v; job log: %s)", table, len(rows), want, err, job.Log)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := job.Stop(10 * time.Second); err != nil {
		return err
	}
	snap, err := delta.LoadSnapshot(ctx, st)
	if err != nil {
		return err
	}
	perDay, files := map[string]int{}, map[string]int{}
	for _, r := range rows {
		perDay[r["event_date"].(time.Time).Format("2006-01-02")]++
	}
	for _, a := range snap.Files {
		files[a.PartitionValues["event_date"]]++
	}
	days := make([]string, 0, len(perDay))
	for d := range perDay {
		days = append(days, d)
	}
	sort.Strings(days)
	fmt.Printf("\nBronze table %s (version %d, %d files, partitioned by event_date):\n\n", table, snap.Version, len(snap.Files))
	fmt.Printf("%-10s  %6s  %5s\n", "event_date", "rows", "files")
	for _, d := range days {
		fmt.Printf("%-10s  %6d  %5d\n", d, perDay[d], files[d])
	}
	if len(rows) != want {
		return fmt.Errorf("bronze table holds %d rows, want the %d simulated rides exactly once", len(rows), want)
	}
	fmt.Printf("%d raw rides, each once; compact a day with: rides-connect delta optimize --partition event_date=%s %s\n", len(rows), days[0], table)
	return nil
}
