package deltalake

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
)

// A scaled-out window's output: one appId per internal partition q, a
// fencing token per message, a writer id in every commit.
const fencedOutput = `
delta_lake:
  path: %s` + schemaYAML + `
  idempotency:
    mode: sequence
    app_id: 'rides_agg-${! @window_state_partition.not_null() }'
    fence_token: '${! @window_fence_token.not_null() }'
  commit_info: { writer_id: %s }
`

// runFencedOutput runs the output with its own metrics recorder.
func runFencedOutput(t *testing.T, dir, writer string) (send func(service.MessageBatch) error, rec *recorder, stop func()) {
	t.Helper()
	return runRecordedOutput(t, fmt.Sprintf(fencedOutput, dir, writer))
}

// runRecordedOutput runs the output yaml with its own metrics recorder.
func runRecordedOutput(t *testing.T, output string) (send func(service.MessageBatch) error, rec *recorder, stop func()) {
	t.Helper()
	rec = &recorder{vals: map[string]int64{}}
	env := service.NewEnvironment()
	if err := env.RegisterMetricsExporter("fence_test_recorder", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return rec, nil }); err != nil {
		t.Fatal(err)
	}
	b := env.NewStreamBuilder()
	yaml := "logger: { level: none }\nmetrics: { fence_test_recorder: {} }\noutput:" +
		strings.ReplaceAll(output, "\n", "\n  ")
	if err := b.SetYAML(yaml); err != nil {
		t.Fatal(err)
	}
	prod, strm := buildProducing(t, b)
	done := make(chan struct{})
	go func() { defer close(done); _ = strm.Run(context.Background()) }()
	return func(batch service.MessageBatch) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return prod(ctx, batch)
		}, rec, func() {
			_ = strm.Stop(context.Background())
			<-done
		}
}

// tokened is emission q/seq written by the owner holding token.
func tokened(q, seq, token int, cities ...string) service.MessageBatch {
	b := emissionOf(q, seq, cities...)
	for _, m := range b {
		m.MetaSetMut("window_fence_token", token)
	}
	return b
}

// fenceMsg is the message tumbling_window stage merge emits when it takes
// internal partition q over.
func fenceMsg(q, token int) service.MessageBatch {
	m := service.NewMessage([]byte(`{}`))
	m.MetaSetMut("window_kind", "fence")
	m.MetaSetMut("window_state_partition", q)
	m.MetaSetMut("window_fence_token", token)
	return service.MessageBatch{m}
}

// logCommits lists the table's commits as "writer: txns (adds)".
func logCommits(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "_delta_log", "*.json"))
	sort.Strings(files)
	var out []string
	for _, f := range files[1:] { // after the table creation
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		who, adds, txns := "", 0, []string{}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var a map[string]map[string]any
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Fatalf("%s: a line that is not a JSON object: %v", f, err)
			}
			switch {
			case a["commitInfo"] != nil:
				who, _ = a["commitInfo"]["writerId"].(string)
			case a["add"] != nil:
				adds++
			case a["txn"] != nil:
				tok, seq := delta.SplitTxnVersion(int64(a["txn"]["version"].(float64)))
				txns = append(txns, fmt.Sprintf("%s=%d/%d", a["txn"]["appId"], tok, seq))
			}
		}
		fh.Close()
		out = append(out, fmt.Sprintf("%s: %s (%d adds)", who, strings.Join(txns, " "), adds))
	}
	return out
}

// Replica a owns q = 0 and 1 with token 1; b takes both over with token 2.
// q = 0: a committed seq 5, b's fence lands, a's seq 6 is refused (nacked,
// counted) and b writes seq 6. q = 1: a commits seq 2 before b's fence; b's
// seq 2 (the same window) is skipped, its seq 3 written. Each window once.
func TestOutputFencesAnOlderOwnerOfAnInternalPartition(t *testing.T) {
	dir := t.TempDir()
	sendA, recA, stopA := runFencedOutput(t, dir, "replica-a")
	defer stopA()
	sendB, recB, stopB := runFencedOutput(t, dir, "replica-b")
	defer stopB()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for seq := 1; seq <= 5; seq++ {
		must(sendA(tokened(0, seq, 1, "PARIS")))
	}
	must(sendA(tokened(1, 1, 1, "NICE")))
	must(sendA(tokened(1, 2, 1, "NICE"))) // before b's fence
	must(sendB(append(fenceMsg(0, 2), fenceMsg(1, 2)...)))
	if err := sendA(tokened(0, 6, 1, "PARIS", "LYON")); err == nil || !strings.Contains(err.Error(), "fenced") {
		t.Fatalf("a's seq 6 after b's fence: %v, want a fenced error", err)
	}
	if err := sendA(tokened(1, 2, 1, "NICE")); err == nil { // a replay: refused too, not acked as written
		t.Fatal("a's replay of q1 seq 2 after b's fence was accepted")
	}
	if got := recA.get("delta_fenced_total"); got != 2 {
		t.Fatalf("delta_fenced_total of a = %d, want 2", got)
	}
	must(sendB(tokened(0, 6, 2, "PARIS", "LYON")))
	must(sendB(tokened(1, 2, 2, "NICE")))
	must(sendB(tokened(1, 3, 2, "NICE")))
	must(sendB(fenceMsg(0, 2))) // again (a rewind): nothing to do
	if got := recB.get("delta_fenced_total"); got != 0 {
		t.Fatalf("delta_fenced_total of b = %d, want 0", got)
	}

	want := []string{
		"replica-a: rides_agg-0=1/1 (1 adds)", "replica-a: rides_agg-0=1/2 (1 adds)", "replica-a: rides_agg-0=1/3 (1 adds)",
		"replica-a: rides_agg-0=1/4 (1 adds)", "replica-a: rides_agg-0=1/5 (1 adds)",
		"replica-a: rides_agg-1=1/1 (1 adds)", "replica-a: rides_agg-1=1/2 (1 adds)",
		"replica-b: rides_agg-0=2/5 rides_agg-1=2/2 (0 adds)",
		"replica-b: rides_agg-0=2/6 (1 adds)", "replica-b: rides_agg-1=2/3 (1 adds)",
	}
	if got := logCommits(t, dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log:\n got %q\nwant %q", got, want)
	}
	st, _ := objstore.NewLocal(dir)
	rows, err := delta.ReadAllRows(context.Background(), st)
	must(err)
	seen := map[string]int{}
	for _, r := range rows {
		seen[fmt.Sprint(r["win_start"], " ", r["cnt"], " ", r["city"])]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s written %d times", k, n)
		}
	}
	if len(seen) != 10 { // q0: 1..5 PARIS, 6 PARIS+LYON; q1: 1..3 NICE
		t.Fatalf("%d distinct rows, want 10: %v", len(seen), seen)
	}
}

// Without fence_token the versions are the sequences, as before fencing;
// a fence message is then acknowledged without a commit.
func TestOutputWithoutFenceTokenWritesSequencesAsVersions(t *testing.T) {
	dir := t.TempDir()
	send, stop := runStream(t, fmt.Sprintf(perPartitionOutput, dir))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(send(tokened(0, 1, 5, "PARIS")))
	must(send(fenceMsg(0, 9)))
	must(send(tokened(0, 2, 5, "PARIS")))
	stop()
	st, _ := objstore.NewLocal(dir)
	snap, err := delta.LoadSnapshot(context.Background(), st)
	must(err)
	if v := snap.TxnVersion("rides_agg-0"); v != 2 || snap.Version != 2 {
		t.Fatalf("txn version %d at table version %d, want 2 at 2 (no fence commit, no token)", v, snap.Version)
	}
}

func TestFenceTokenNeedsSequenceMode(t *testing.T) {
	conf, err := outputSpec().ParseYAML(`
  path: /tmp/x`+schemaYAML+`
  idempotency: { mode: kafka, app_id: b, fence_token: '${! @window_fence_token }' }
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := outputConfigFromParsed(conf); err == nil || !strings.Contains(err.Error(), "idempotency.fence_token") {
		t.Fatalf("fence_token with mode kafka: %v, want an error naming idempotency.fence_token", err)
	}
}

// `rides-connect delta show` splits a fenced txn version into its parts and
// reads hole slots.
func TestShowSplitsAFencedTxnVersion(t *testing.T) {
	if got := txnVersionText("rides_agg-0", 5<<32|7); got != "21474836487 (token 5, seq 7)" {
		t.Fatalf("fenced: %q", got)
	}
	if got := txnVersionText("rides", 7); got != "7" {
		t.Fatalf("no token: %q", got)
	}
	if got := txnVersionText("rides#hole0", 3<<32|9); got != "12884901897 (missing sequences 7..9)" {
		t.Fatalf("hole slot: %q", got)
	}
	if got := txnVersionText("rides#hole1", 0); got != "0 (empty)" {
		t.Fatalf("emptied hole slot: %q", got)
	}
}

// A process that gets its partition back after another one wrote
// sequences of its appId meanwhile (config/rides.yaml: a replica paused past
// its session timeout while another took the topic over) does not count
// them as missing: before calling a gap, the output reads the table (red
// team rt19a: "committing window_emit_seq 48 before 42..47 arrived" although
// the table had them).
func TestOutputTakingAnAppIdBackSeesTheSequencesWrittenMeanwhile(t *testing.T) {
	dir := t.TempDir()
	sendA, recA, stopA := runRecordedOutput(t, fmt.Sprintf(perPartitionOutput, dir))
	defer stopA()
	sendB, _, stopB := runRecordedOutput(t, fmt.Sprintf(perPartitionOutput, dir))
	defer stopB()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sendA(emissionOf(0, 1, "PARIS")))
	must(sendA(emissionOf(0, 2, "PARIS")))
	for seq := 3; seq <= 5; seq++ {
		must(sendB(emissionOf(0, seq, "PARIS")))
	}
	must(sendA(emissionOf(0, 6, "PARIS")))
	if got := recA.get("delta_sequence_gaps_total"); got != 0 {
		t.Fatalf("delta_sequence_gaps_total of a = %d, want 0: b's sequences 3..5 were in the table", got)
	}
	st, _ := objstore.NewLocal(dir)
	rows, err := delta.ReadAllRows(context.Background(), st)
	must(err)
	if len(rows) != 6 {
		t.Fatalf("%d rows, want 6 (sequences 1..6)", len(rows))
	}
}

// Stage merge's batch shape since session 25: one batch holds the fences of
// the internal partitions it took over, their rows of several windows
// (sequences) and several q's. The sink raises the fences, then commits
// every row in one commit with one txn per appId at its highest version; a
// replay of the same batch writes nothing.
func TestOutputCommitsAStageMergeBatchOfSeveralPartitionsAndWindowsOnce(t *testing.T) {
	dir := t.TempDir()
	send, _, stop := runFencedOutput(t, dir, "replica-a")
	defer stop()
	var batch service.MessageBatch
	batch = append(batch, fenceMsg(0, 3)...)
	batch = append(batch, tokened(0, 1, 3, "PARIS")...)
	batch = append(batch, tokened(0, 2, 3, "PARIS", "LYON")...)
	batch = append(batch, fenceMsg(1, 3)...)
	batch = append(batch, tokened(1, 1, 3, "NICE")...)
	for range 2 { // the second time, a replay
		if err := send(batch); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"replica-a: rides_agg-0=3/0 rides_agg-1=3/0 (0 adds)",
		"replica-a: rides_agg-0=3/2 rides_agg-1=3/1 (1 adds)", // one file
	}
	if got := logCommits(t, dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log:\n got %q\nwant %q", got, want)
	}
	st, _ := objstore.NewLocal(dir)
	rows, err := delta.ReadAllRows(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4 (PARIS twice, LYON, NICE)", len(rows))
	}
}
