package harness

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Ride is one record of the seed's rideSchema.
type Ride struct {
	RideID     int64   `json:"rideId"`
	UserID     int64   `json:"userId"`
	City       string  `json:"city"`
	DistanceKm float64 `json:"distanceKm"`
	Price      float64 `json:"price"`
	TS         string  `json:"ts"`
}

// WindowRow is one row of the seed's output table.
type WindowRow struct {
	City        string
	WinStart    string
	WinEnd      string
	Revenue     float64
	AvgDistance float64
	Cnt         int64
}

func (r WindowRow) String() string {
	return fmt.Sprintf("%-4s %s  %s  %10.2f  %8.3f  %5d", r.City, r.WinStart, r.WinEnd, r.Revenue, r.AvgDistance, r.Cnt)
}

const seedTimeLayout = "2006-01-02 15:04:05"

// ReferenceWindows is the seed query over rides taken as one ordered input
// (one partition): see PartitionedReference.
func ReferenceWindows(rides []Ride, size, delay time.Duration) ([]WindowRow, error) {
	rows, _, err := PartitionedReference([][]Ride{rides}, size, delay)
	return rows, err
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// SortRows orders rows by window start, then city.
func SortRows(rows []WindowRow) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].WinStart != rows[j].WinStart {
			return rows[i].WinStart < rows[j].WinStart
		}
		return rows[i].City < rows[j].City
	})
}

// DiffRows compares two sorted row sets exactly, the doubles bit for bit:
// both sides sum exactly (correctly rounded), so no tolerance is needed.
// It returns "" when equal.
func DiffRows(got, want []WindowRow) string {
	var b strings.Builder
	if len(got) != len(want) {
		fmt.Fprintf(&b, "%d rows, want %d\n", len(got), len(want))
	}
	n := 0
	for i := 0; i < len(got) && i < len(want); i++ {
		g, w := got[i], want[i]
		if g.City != w.City || g.WinStart != w.WinStart || g.WinEnd != w.WinEnd || g.Cnt != w.Cnt ||
			math.Float64bits(g.Revenue) != math.Float64bits(w.Revenue) || math.Float64bits(g.AvgDistance) != math.Float64bits(w.AvgDistance) {
			if n++; n <= 10 {
				fmt.Fprintf(&b, "row %d:\n  got  %v (%v, %v)\n  want %v (%v, %v)\n", i, g, g.Revenue, g.AvgDistance, w, w.Revenue, w.AvgDistance)
			}
		}
	}
	if n > 10 {
		fmt.Fprintf(&b, "… %d rows differ in all\n", n)
	}
	return b.String()
}

// RowsFromMaps converts rows read from the Delta table (column name → value).
func RowsFromMaps(maps []map[string]any) ([]WindowRow, error) {
	out := make([]WindowRow, 0, len(maps))
	for _, m := range maps {
		raw, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		var r struct {
			City        string  `json:"city"`
			WinStart    string  `json:"win_start"`
			WinEnd      string  `json:"win_end"`
			Revenue     float64 `json:"revenue"`
			AvgDistance float64 `json:"avg_distance"`
			Cnt         int64   `json:"cnt"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("row %v: %w", m, err)
		}
		out = append(out, WindowRow(r))
	}
	SortRows(out)
	return out, nil
}
