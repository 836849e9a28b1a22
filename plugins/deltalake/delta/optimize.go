package delta

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/parquet-go/parquet-go/compress"
)

// OptimizeOptions configure bin-packing.
type OptimizeOptions struct {
	TargetSize int64 // files below this are compacted into files up to it; default 128 MiB
	Codec      compress.Codec
	CodecName  string
	Now        func() time.Time
	Policy     CommitPolicy
	// Partitions limits the compaction to files whose value of each listed
	// partition column is one of the listed values (e.g. event_date: [one
	// day]); empty = every partition. A column that is not a partition
	// column is refused.
	Partitions map[string][]string
}

// OptimizeResult reports a compaction.
type OptimizeResult struct {
	Version      int64 // -1 if nothing to do
	FilesRemoved int
	FilesAdded   int
	Rows         int
}

// Optimize bin-packs small files per partition: it rewrites them into
// larger ones and commits remove+add with dataChange=false (streaming
// readers ignore it). Concurrent appends do not conflict; a concurrent
// removal of one of the same files does.
func Optimize(ctx context.Context, st objstore.Store, o OptimizeOptions) (OptimizeResult, error) {
	res := OptimizeResult{Version: -1}
	if o.TargetSize <= 0 {
		o.TargetSize = 128 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	snap, err := LoadSnapshot(ctx, st)
	if err != nil {
		return res, err
	}
	if err := CheckProtocol(snap.Protocol); err != nil {
		return res, err
	}
	match, err := partitionMatcher(snap.Metadata.PartitionColumns, o.Partitions)
	if err != nil {
		return res, err
	}
	// Group small files by partition.
	groups := map[string][]string{}
	for p, a := range snap.Files {
		if a.Size < o.TargetSize && match(a.PartitionValues) {
			k := partitionKey(snap.Metadata.PartitionColumns, a.PartitionValues)
			groups[k] = append(groups[k], p)
		}
	}
	var removes []Remove
	var adds []Add
	now := o.Now().UnixMilli()
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		paths := groups[k]
		sort.Strings(paths)
		for _, bin := range binPack(snap, paths, o.TargetSize) {
			if len(bin) < 2 {
				continue
			}
			var rows []Row
			for _, p := range bin {
				a := snap.Files[p]
				pub, err := snap.ReadFile(ctx, st, a)
				if err != nil {
					return res, err
				}
				for _, m := range pub {
					r, err := internalRow(snap.Schema, m)
					if err != nil {
						return res, fmt.Errorf("delta: optimize %s: %w", p, err)
					}
					rows = append(rows, r)
				}
				size := a.Size
				removes = append(removes, Remove{Path: a.Path, DeletionTimestamp: &now, DataChange: false,
					ExtendedFileMetadata: true, PartitionValues: a.PartitionValues, Size: &size})
			}
			first := snap.Files[bin[0]]
			data, stats, err := WriteParquet(snap.Schema, snap.Metadata.PartitionColumns, rows, o.Codec, statsColumns(snap.Metadata.Configuration))
			if err != nil {
				return res, err
			}
			dir := ""
			if key, _ := DecodePath(first.Path); strings.Contains(key, "/") {
				dir = key[:strings.LastIndex(key, "/")+1]
			}
			name := dir + "part-00000-" + uuid.NewString() + "-c000"
			if o.CodecName != "" {
				name += "." + o.CodecName
			}
			name += ".parquet"
			if err := st.Put(ctx, name, data); err != nil {
				return res, err
			}
			adds = append(adds, Add{Path: EncodePath(name), PartitionValues: first.PartitionValues, Size: int64(len(data)),
				ModificationTime: now, DataChange: false, Stats: stats.JSON()})
			res.Rows += len(rows)
		}
	}
	if len(adds) == 0 {
		return res, nil
	}
	rs := ReadSet{}
	for _, r := range removes {
		p, _ := DecodePath(r.Path)
		rs.RemovedPaths = append(rs.RemovedPaths, p)
	}
	txnID := uuid.NewString()
	v, err := commitLoop(ctx, st, snap, rs, txnID, func(version int64) ([]Action, error) {
		acts := []Action{{CommitInfo: CommitInfo{
			"timestamp": now, "operation": "OPTIMIZE", "engineInfo": EngineInfo, "txnId": txnID,
			"operationParameters": map[string]any{"predicate": predicateText(o.Partitions), "targetSize": fmt.Sprint(o.TargetSize)},
			"readVersion":         version - 1, "isBlindAppend": false,
			"operationMetrics": map[string]any{"numRemovedFiles": fmt.Sprint(len(removes)), "numAddedFiles": fmt.Sprint(len(adds))},
		}}}
		for i := range removes {
			acts = append(acts, Action{Remove: &removes[i]})
		}
		for i := range adds {
			acts = append(acts, Action{Add: &adds[i]})
		}
		return acts, nil
	}, o.Policy, CommitEvents{})
	if err != nil {
		return res, err
	}
	res.Version, res.FilesRemoved, res.FilesAdded = v, len(removes), len(adds)
	if v%checkpointInterval(snap.Metadata.Configuration) == 0 {
		_ = WriteCheckpoint(ctx, st, snap, now)
	}
	return res, nil
}

// partitionMatcher returns whether a file's partition values pass the
// filter; filter columns match the table's partition columns
// case-insensitively, as column names do.
func partitionMatcher(cols []string, filter map[string][]string) (func(PartitionValues) bool, error) {
	type cond struct {
		col    string
		values map[string]bool
	}
	var conds []cond
	for k, vs := range filter {
		col := ""
		for _, c := range cols {
			if strings.EqualFold(c, k) {
				col = c
			}
		}
		if col == "" {
			return nil, fmt.Errorf("delta: optimize: %q is not a partition column (the table is partitioned by %v)", k, cols)
		}
		set := map[string]bool{}
		for _, v := range vs {
			set[v] = true
		}
		conds = append(conds, cond{col, set})
	}
	return func(pv PartitionValues) bool {
		for _, c := range conds {
			if !c.values[pv[c.col]] {
				return false
			}
		}
		return true
	}, nil
}

// predicateText renders the filter for commitInfo, like Spark's
// OPTIMIZE … WHERE predicate list.
func predicateText(filter map[string][]string) string {
	keys := make([]string, 0, len(filter))
	for k := range filter {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), filter[k]...)
		sort.Strings(vs)
		parts = append(parts, fmt.Sprintf("%q", fmt.Sprintf("%s IN ('%s')", k, strings.Join(vs, "', '"))))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func partitionKey(cols []string, pv PartitionValues) string {
	var b strings.Builder
	for _, c := range cols {
		b.WriteString(c + "=" + pv[c] + "\x00")
	}
	return b.String()
}

// binPack groups paths (sorted) greedily into bins whose total stays under target.
func binPack(s *Snapshot, paths []string, target int64) [][]string {
	var bins [][]string
	var cur []string
	var size int64
	for _, p := range paths {
		sz := s.Files[p].Size
		if len(cur) > 0 && size+sz > target {
			bins = append(bins, cur)
			cur, size = nil, 0
		}
		cur = append(cur, p)
		size += sz
	}
	if len(cur) > 0 {
		bins = append(bins, cur)
	}
	return bins
}

// internalRow converts a ReadRows map back to a Row.
func internalRow(s Schema, m map[string]any) (Row, error) {
	r := make(Row, len(s.Fields))
	for i, f := range s.Fields {
		v := m[f.Name]
		if v == nil {
			continue
		}
		cv, err := ConvertValue(f.Type, v)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		r[i] = cv
	}
	return r, nil
}
