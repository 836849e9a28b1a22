package deltalake

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

const schemaYAML = `
  schema:
    - { name: city, type: string, nullable: false }
    - { name: win_start, type: string }
    - { name: revenue, type: double }
    - { name: cnt, type: long, nullable: false }`

// runStream builds a stream with our output and returns a send function that
// blocks until the batch is acknowledged.
func runStream(t *testing.T, outputYAML string) (send func(service.MessageBatch) error, stop func()) {
	t.Helper()
	b := service.NewStreamBuilder()
	if err := b.SetLoggerYAML("level: warn"); err != nil {
		t.Fatal(err)
	}
	if err := b.AddOutputYAML(outputYAML); err != nil {
		t.Fatal(err)
	}
	prod, strm := buildProducing(t, b)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = strm.Run(context.Background())
	}()
	return func(batch service.MessageBatch) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return prod(ctx, batch)
		}, func() {
			_ = strm.Stop(context.Background())
			wg.Wait()
		}
}

func emission(seq int, cities ...string) service.MessageBatch {
	var b service.MessageBatch
	for i, c := range cities {
		m := service.NewMessage([]byte(fmt.Sprintf(`{"city":%q,"win_start":"2026-01-01 00:%02d:00","revenue":%d.5,"cnt":%d}`, c, seq*5, seq*10+i, seq*100+i)))
		m.MetaSetMut("window_emit_seq", fmt.Sprint(seq))
		b = append(b, m)
	}
	return b
}

func TestOutputSequenceExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	send, stop := runStream(t, `
delta_lake:
  path: `+dir+schemaYAML+`
  idempotency: { mode: sequence, app_id: rides_agg }
`)
	for seq := 1; seq <= 3; seq++ {
		if err := send(emission(seq, "PARIS", "LYON")); err != nil {
			t.Fatal(err)
		}
	}
	// A replayed emission (same sequence) and a row that does not fit.
	if err := send(emission(2, "PARIS", "LYON")); err != nil {
		t.Fatal(err)
	}
	bad := service.NewMessage([]byte(`{"city":"NICE","cnt":"many"}`))
	bad.MetaSetMut("window_emit_seq", "4")
	if err := send(service.MessageBatch{bad}); err != nil {
		t.Fatal(err)
	}
	stop()

	ctx := context.Background()
	st, _ := objstore.NewLocal(dir)
	rows, err := delta.ReadAllRows(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("table has %d rows, want 6 (3 emissions x 2 cities, replay and invalid row not written)", len(rows))
	}
	seen := map[string]int{}
	for _, r := range rows {
		seen[fmt.Sprint(r["city"], r["cnt"])]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("row %s written %d times", k, n)
		}
	}
	snap, err := delta.LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if snap.TxnVersion("rides_agg") != 3 || snap.Version != 3 {
		t.Fatalf("table version %d, txn version %d; want 3 and 3", snap.Version, snap.TxnVersion("rides_agg"))
	}
}

func TestOutputConfigRefused(t *testing.T) {
	cases := map[string]string{
		"app_id required": `
delta_lake:
  path: /tmp/x` + schemaYAML + `
  idempotency: { mode: sequence }
`,
		"partition column": `
delta_lake:
  path: /tmp/x` + schemaYAML + `
  partition_columns: [ day ]
`,
		"kafka in flight": `
delta_lake:
  path: /tmp/x` + schemaYAML + `
  idempotency: { mode: kafka, app_id: bronze }
  max_in_flight: 4
`,
		"bad type": `
delta_lake:
  path: /tmp/x
  schema: [ { name: a, type: varchar } ]
`,
	}
	for name, y := range cases {
		t.Run(name, func(t *testing.T) {
			b := service.NewStreamBuilder()
			err := b.AddOutputYAML(y)
			if err == nil {
				_, err = b.Build()
			}
			if err == nil {
				prod, _ := b.AddBatchProducerFunc()
				_ = prod
				t.Fatalf("config accepted:\n%s", y)
			}
			t.Logf("refused: %v", err)
		})
	}
}

func TestOutputRefusesMismatchedTable(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, _ := objstore.NewLocal(dir)
	_, err := delta.CreateOrOpen(ctx, st, delta.TableConfig{Schema: delta.Schema{Fields: []delta.Field{
		{Name: "city", Type: delta.Type{Name: "string"}}, {Name: "cnt", Type: delta.Type{Name: "integer"}},
	}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := outputSpec().ParseYAML(strings.ReplaceAll(`
  path: `+dir+schemaYAML, "\n  ", "\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := outputConfigFromParsed(conf)
	if err != nil {
		t.Fatal(err)
	}
	o := newOutput(c, 1, nil, nil)
	err = o.Connect(ctx)
	if err == nil || !strings.Contains(err.Error(), `"cnt" is integer in the table but long in the config`) {
		t.Fatalf("Connect = %v, want a refusal naming column cnt", err)
	}
}

func TestOutputInvalidRowFail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := startOutput(t, dir, "sequence", delta.Hooks{})
	o.conf.OnInvalidRow = "fail"
	b := emission(1, "PARIS", "LYON")
	b[1] = service.NewMessage([]byte(`{"city":"LYON","cnt":1.5}`))
	b[1].MetaSetMut("window_emit_seq", "1")
	err := o.WriteBatch(ctx, b)
	var be *service.BatchError
	if !errors.As(err, &be) || be.IndexedErrors() != 1 {
		t.Fatalf("WriteBatch = %v, want a batch error for exactly the bad message", err)
	}
	st, _ := objstore.NewLocal(dir)
	rows, _ := delta.ReadAllRows(ctx, st)
	if len(rows) != 1 || rows[0]["city"] != "PARIS" {
		t.Fatalf("rows %v: the good message must be committed", rows)
	}
}

func TestOutputToS3(t *testing.T) {
	fake := s3fake.Start(t, "lake")
	send, stop := runStream(t, `
delta_lake:
  path: s3a://lake/silver/rides_agg`+schemaYAML+`
  idempotency: { mode: sequence, app_id: rides_agg }
  compression: snappy
  s3: { endpoint: "`+fake.Endpoint+`", region: eu-west-3, force_path_style: true, access_key_id: k, secret_access_key: s, sse: AES256 }
`)
	for seq := 1; seq <= 2; seq++ {
		if err := send(emission(seq, "PARIS", "LYON")); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	ctx := context.Background()
	st, err := objstore.Open(ctx, "s3://lake/silver/rides_agg", objstore.Options{S3: objstore.S3Options{
		Endpoint: fake.Endpoint, ForcePathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := delta.LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := snap.ReadRows(ctx, st)
	if err != nil || len(rows) != 4 || snap.TxnVersion("rides_agg") != 2 {
		t.Fatalf("S3 table: %d rows, txn %d, %v", len(rows), snap.TxnVersion("rides_agg"), err)
	}
	for _, a := range snap.Files {
		if !strings.HasSuffix(a.Path, ".snappy.parquet") {
			t.Fatalf("file %s: compression setting not applied", a.Path)
		}
	}
}

// buildProducing builds b's stream with a batch producer for its input.
func buildProducing(t *testing.T, b *service.StreamBuilder) (service.MessageBatchHandlerFunc, *service.Stream) {
	t.Helper()
	prod, err := b.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	strm, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return prod, strm
}
