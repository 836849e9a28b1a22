package deltalake

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/miaradia/rides-connect/internal/clicmd"
	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

func init() {
	clicmd.Register(deltaCommand())
}

// s3Flags let the subcommands reach S3-compatible servers; credentials come
// from the AWS default chain (AWS_ACCESS_KEY_ID, profiles, roles).
func s3Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "s3-endpoint", Usage: "S3 endpoint override (MinIO, versitygw)", EnvVars: []string{"S3_ENDPOINT"}},
		&cli.StringFlag{Name: "s3-region", Usage: "S3 region", EnvVars: []string{"AWS_REGION"}},
		&cli.BoolFlag{Name: "s3-path-style", Usage: "path-style S3 addressing", EnvVars: []string{"S3_FORCE_PATH_STYLE"}},
		// Files written by optimize get the same encryption as the job's (S3_SSE / S3_KMS_KEY_ID).
		&cli.StringFlag{Name: "s3-sse", Usage: "server-side encryption of written files: AES256 or aws:kms", EnvVars: []string{"S3_SSE"}},
		&cli.StringFlag{Name: "s3-kms-key-id", Usage: "KMS key for --s3-sse aws:kms (empty = the bucket's AWS-managed key)", EnvVars: []string{"S3_KMS_KEY_ID"}},
	}
}

func openStore(c *cli.Context) (objstore.Store, error) {
	if c.NArg() != 1 {
		return nil, fmt.Errorf("want exactly one table path (directory, file://, s3:// or s3a://)")
	}
	return objstore.Open(c.Context, c.Args().First(), objstore.Options{S3: objstore.S3Options{
		Endpoint: c.String("s3-endpoint"), Region: c.String("s3-region"), ForcePathStyle: c.Bool("s3-path-style"),
		SSE: c.String("s3-sse"), KMSKeyID: c.String("s3-kms-key-id"),
	}})
}

func deltaCommand() *cli.Command {
	return &cli.Command{
		Name:  "delta",
		Usage: "Inspect and maintain Delta Lake tables (show, optimize, vacuum)",
		Subcommands: []*cli.Command{
			{
				Name:      "show",
				Usage:     "Print a table's protocol, schema, txn versions, history and rows",
				ArgsUsage: "<table>",
				Flags: append(s3Flags(),
					&cli.IntFlag{Name: "history", Value: 20, Usage: "number of commits to list"},
					&cli.IntFlag{Name: "rows", Value: 1000, Usage: "maximum rows to print (0 = none)"},
					&cli.StringFlag{Name: "sort", Usage: "comma-separated columns to sort rows by"},
				),
				Action: func(c *cli.Context) error {
					st, err := openStore(c)
					if err != nil {
						return err
					}
					return showTable(c.Context, os.Stdout, st, c.Int("history"), c.Int("rows"), c.String("sort"))
				},
			},
			{
				Name:      "optimize",
				Usage:     "Compact small files (remove+add with dataChange=false; safe while appends continue)",
				ArgsUsage: "<table>",
				Flags: append(s3Flags(),
					&cli.StringFlag{Name: "target-size", Value: "128MiB", Usage: "compact files smaller than this into files up to it"},
					&cli.StringFlag{Name: "compression", Value: "zstd", Usage: "zstd, snappy or uncompressed"},
					&cli.StringSliceFlag{Name: "partition", Usage: "only files of this partition, `column=value` (repeatable; several values of one column = any of them)"},
					&cli.StringSliceFlag{Name: "days-ago", Usage: "only files of the UTC day N days before today in date partition column, `column=N` (repeatable; for a daily job: event_date=1 is yesterday)"},
				),
				Action: func(c *cli.Context) error {
					st, err := openStore(c)
					if err != nil {
						return err
					}
					size, err := humanize.ParseBytes(c.String("target-size"))
					if err != nil {
						return fmt.Errorf("--target-size: %w", err)
					}
					codec, infix, err := delta.Codec(c.String("compression"))
					if err != nil {
						return err
					}
					parts, err := partitionFilter(c.StringSlice("partition"), c.StringSlice("days-ago"), time.Now())
					if err != nil {
						return err
					}
					res, err := delta.Optimize(c.Context, st, delta.OptimizeOptions{TargetSize: int64(size), Codec: codec, CodecName: infix, Partitions: parts})
					if err != nil {
						return err
					}
					if res.Version < 0 {
						fmt.Println("nothing to compact")
						return nil
					}
					fmt.Printf("version %d: %d files (%d rows) compacted into %d\n", res.Version, res.FilesRemoved, res.Rows, res.FilesAdded)
					return nil
				},
			},
			{
				Name:      "vacuum",
				Usage:     "Delete unreferenced data files older than the retention (dry run by default)",
				ArgsUsage: "<table>",
				Flags: append(s3Flags(),
					&cli.DurationFlag{Name: "retention", Value: 168 * time.Hour, Usage: "keep files removed or written more recently than this (not below delta.deletedFileRetentionDuration)"},
					&cli.BoolFlag{Name: "dry-run", Value: true, Usage: "only list the files; --dry-run=false deletes them"},
				),
				Action: func(c *cli.Context) error {
					st, err := openStore(c)
					if err != nil {
						return err
					}
					res, err := delta.Vacuum(c.Context, st, c.Duration("retention"), c.Bool("dry-run"), time.Now())
					if err != nil {
						return err
					}
					for _, f := range res.Files {
						fmt.Println(f)
					}
					verb := "would delete"
					if !c.Bool("dry-run") {
						verb = "deleted"
					}
					fmt.Printf("%s %d files (%s)\n", verb, len(res.Files), humanize.IBytes(uint64(res.Bytes)))
					return nil
				},
			},
		},
	}
}

// partitionFilter turns --partition column=value and --days-ago column=N
// into OPTIMIZE's partition filter; days are UTC dates (yyyy-MM-dd, the
// serialised form of a date partition value).
func partitionFilter(exact, daysAgo []string, now time.Time) (map[string][]string, error) {
	f := map[string][]string{}
	for _, kv := range exact {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--partition %q: want column=value", kv)
		}
		f[k] = append(f[k], v)
	}
	for _, kv := range daysAgo {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || k == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("--days-ago %q: want column=N with N >= 0", kv)
		}
		f[k] = append(f[k], now.UTC().AddDate(0, 0, -n).Format("2006-01-02"))
	}
	return f, nil
}

func showTable(ctx context.Context, out io.Writer, st objstore.Store, historyN, rowsN int, sortBy string) error {
	snap, err := delta.LoadSnapshot(ctx, st)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "table %s\nversion %d  protocol (%d,%d)  files %d  partition by %v\n",
		st.URL(), snap.Version, snap.Protocol.MinReaderVersion, snap.Protocol.MinWriterVersion, len(snap.Files), snap.Metadata.PartitionColumns)
	var cols []string
	for _, f := range snap.Schema.Fields {
		null := ""
		if !f.Nullable {
			null = " not null"
		}
		cols = append(cols, f.Name+" "+f.Type.String()+null)
	}
	fmt.Fprintf(out, "schema: %s\n", strings.Join(cols, ", "))
	apps := make([]string, 0, len(snap.Txns))
	for a := range snap.Txns {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	for _, a := range apps {
		fmt.Fprintf(out, "txn %s = %s\n", a, txnVersionText(a, snap.Txns[a].Version))
	}
	hist, err := delta.History(ctx, st, historyN)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nhistory:")
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "version\ttimestamp\toperation\tadds\tremoves\ttxn")
	for _, h := range hist {
		ts := ""
		if n, ok := h.CommitInfo["timestamp"].(json.Number); ok {
			ms, _ := n.Int64()
			ts = time.UnixMilli(ms).UTC().Format(time.RFC3339)
		} else if f, ok := h.CommitInfo["timestamp"].(float64); ok {
			ts = time.UnixMilli(int64(f)).UTC().Format(time.RFC3339)
		}
		var txns []string
		for _, t := range h.Txns {
			txns = append(txns, fmt.Sprintf("%s=%s", t.AppID, txnVersionText(t.AppID, t.Version)))
		}
		if w, ok := h.CommitInfo["writerId"].(string); ok && w != "" {
			txns = append(txns, "by "+w)
		}
		fmt.Fprintf(tw, "%d\t%s\t%v\t%d\t%d\t%s\n", h.Version, ts, h.CommitInfo["operation"], h.Adds, h.Removes, strings.Join(txns, " "))
	}
	tw.Flush()
	if rowsN == 0 {
		return nil
	}
	rows, err := snap.ReadRows(ctx, st)
	if err != nil {
		return err
	}
	sortRows(rows, snap.Schema, sortBy)
	fmt.Fprintf(out, "\nrows (%d):\n", len(rows))
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	var names []string
	for _, f := range snap.Schema.Fields {
		names = append(names, f.Name)
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	for i, r := range rows {
		if i == rowsN {
			fmt.Fprintf(tw, "... %d more\n", len(rows)-rowsN)
			break
		}
		vals := make([]string, len(names))
		for j, n := range names {
			vals[j] = delta.FormatValue(r[n])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

// sortRows orders rows by the given columns (default: all, in schema order)
// so the output is stable.
func sortRows(rows []map[string]any, s delta.Schema, by string) {
	var keys []string
	for _, k := range strings.Split(by, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		for _, f := range s.Fields {
			keys = append(keys, f.Name)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, k := range keys {
			if c := compareValues(rows[i][k], rows[j][k]); c != 0 {
				return c < 0
			}
		}
		return false
	})
}

// compareValues orders numbers and times by value, the rest by text.
func compareValues(a, b any) int {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return cmp.Compare(x, y)
		}
	case float64:
		if y, ok := b.(float64); ok {
			return cmp.Compare(x, y)
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	}
	return strings.Compare(delta.FormatValue(a), delta.FormatValue(b))
}

// txnVersionText shows a txn version, split into fencing token and
// sequence when it carries a token (idempotency.fence_token).
func txnVersionText(appID string, v int64) string {
	if s, ok := delta.HoleText(appID, v); ok {
		return s
	}
	if tok, seq := delta.SplitTxnVersion(v); tok > 0 {
		return fmt.Sprintf("%d (token %d, seq %d)", v, tok, seq)
	}
	return fmt.Sprint(v)
}
