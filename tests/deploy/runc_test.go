package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/plugins/checkpoint/store"
	"github.com/miaradia/rides-connect/plugins/deltalake/delta"
	"github.com/miaradia/rides-connect/plugins/window/engine"
	"github.com/miaradia/rides-connect/tests/deploy/image"
)

// runcBinary returns runc, or skips (fails under DEPLOY_REQUIRE=1, as
// check.sh sets) when it cannot run containers here.
func runcBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("runc")
	reason := ""
	switch {
	case err != nil:
		reason = "runc is not installed (tests/deploy/check.sh installs Debian's runc)"
	case os.Geteuid() != 0:
		reason = "runc needs root here (the bundle is not rootless)"
	}
	if reason != "" {
		if os.Getenv("DEPLOY_REQUIRE") == "1" {
			t.Fatal(reason)
		}
		t.Skip(reason)
	}
	return bin
}

// testbed is one image, unpacked once per container into its own bundle.
type testbed struct {
	t                *testing.T
	runc, state, dir string
	broker           *harness.Broker
	data             string // the volume, mounted at <workdir>/data
	n                int
}

// startContainer runs the image under runc with env and the data volume;
// args (nil = the image's CMD) as a Kubernetes container's args.
func (b *testbed) startContainer(name string, args, env []string, memory int64) *image.Container {
	t := b.t
	t.Helper()
	b.n++
	dir := filepath.Join(b.dir, fmt.Sprintf("%s-%d", name, b.n))
	img := builtImage(t)
	if err := image.Bundle(b.runc, dir, img, image.Run{Args: args, Env: env,
		Mounts: map[string]string{image.NonrootHome + "/data": b.data}, Memory: memory}); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("rides-deploy-%d-%s-%d", os.Getpid(), name, b.n)
	c, err := image.Start(b.runc, b.state, dir, id, filepath.Join(b.dir, id+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Destroy)
	return c
}

func logOf(c *image.Container) string {
	b, _ := os.ReadFile(c.Log)
	return string(b)
}

// TestImageUnderRunc: the image runs the demo end to end under runc on the
// host network, configured by env as docker-compose.yml does, with a
// read-only root file system, as 65532, writing to a mounted volume; it is
// ready and exports metrics; SIGTERM stops it within the Kubernetes grace
// period with stage 1's state ahead of its offsets and every window stage 2
// emitted committed, its last transaction included (stateAfterStop);
// restarted on the same volume it completes the table without losing or
// doubling a window.
func TestImageUnderRunc(t *testing.T) {
	runc := runcBinary(t)
	grace := gracePeriod(t)
	memory := jobMemoryLimit(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	broker, err := harness.StartBroker(map[string]int32{"rides": 6, "rides_dlq": 1})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	b := &testbed{t: t, runc: runc, state: t.TempDir(), dir: t.TempDir(), broker: broker, data: filepath.Join(t.TempDir(), "data")}
	// The volume belongs to the pod's user, as fsGroup/an emptyDir would make it.
	if err := os.MkdirAll(b.data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(b.data, image.NonrootUID, image.NonrootUID); err != nil {
		t.Fatal(err)
	}

	// The simulator, from the same image with the producer config baked into it:
	// an hour of rides, one per event-time second.
	simulate := func(start string, count int) *image.Container {
		return b.startContainer("producer", []string{"-c", "/etc/rides-connect/producer.yaml"}, []string{
			"KAFKA_BOOTSTRAP=" + broker.Addr, "SIM_INTERVAL=1ms", "SIM_START=" + start, "SIM_STEP_MS=1000",
			"SIM_COUNT=" + strconv.Itoa(count)}, 0)
	}
	finished := func(p *image.Container) {
		t.Helper()
		if code, err := p.Wait(ctx); err != nil || code != 0 {
			t.Fatalf("simulator exited %d (%v):\n%s", code, err, logOf(p))
		}
	}
	finished(simulate("2026-03-14T08:00:00Z", 3600))

	httpAddr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// docker-compose.yml's job environment, pointed at 127.0.0.1; the table and
	// checkpoint stay at the config's defaults, ./data = the mounted volume.
	// Under the silver job's memory limit (statefulset.yaml), with GOMEMLIMIT as its resourceFieldRef sets it.
	jobEnv := []string{"KAFKA_BOOTSTRAP=" + broker.Addr, "KAFKA_START=earliest", "HTTP_ADDRESS=" + httpAddr, "AWS_REGION=us-east-1",
		"GOMEMLIMIT=" + strconv.FormatInt(memory, 10)}
	job := b.startContainer("job", nil, jobEnv, memory)
	waitHTTP(t, ctx, job, "http://"+httpAddr+"/ready", http.StatusOK)
	checkMemoryLimit(t, job, memory)
	want := reference(t, ctx, broker)
	table := filepath.Join(b.data, "silver", "rides_agg")
	if _, err := harness.WaitForRows(ctx, table, len(want)); err != nil {
		t.Fatalf("%v\n%s", err, logOf(job))
	}
	metrics := get(t, "http://"+httpAddr+"/metrics")
	for _, m := range []string{"input_received", "window_emitted_rows_total", "delta_commits_total"} {
		if !regexp.MustCompile(`(?m)^` + m + `\{[^}]*\} [1-9]`).MatchString(metrics) {
			t.Errorf("/metrics has no positive %s", m)
		}
	}
	if get(t, "http://"+httpAddr+"/ping") == "" {
		t.Error("/ping answered nothing")
	}

	// A second hour starts arriving (for 3.6 s at least); SIGTERM once the job is reading it.
	received := counter(metrics, "input_received")
	second := simulate("2026-03-14T09:00:00Z", 3600)
	for counter(get(t, "http://"+httpAddr+"/metrics"), "input_received") <= received {
		if ctx.Err() != nil {
			t.Fatal("the job did not read the second hour")
		}
		time.Sleep(20 * time.Millisecond) // poll the metric; the context bounds the wait
	}
	stopAt := time.Now()
	if err := job.Signal("TERM"); err != nil {
		t.Fatal(err)
	}
	graceCtx, cancelGrace := context.WithTimeout(ctx, grace)
	code, err := job.Wait(graceCtx)
	cancelGrace()
	took := time.Since(stopAt)
	if err != nil {
		t.Fatalf("not stopped %s after SIGTERM (terminationGracePeriodSeconds): Kubernetes would SIGKILL it\n%s", grace, logOf(job))
	}
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, logOf(job))
	}
	t.Logf("stopped %s after SIGTERM (grace period %s)", took.Round(time.Millisecond), grace)

	// What the drain left: stage 1's state before its offsets, and stage 2's
	// committed state equal to what Delta committed (stateAfterStop).
	emitted, version := stateAfterStop(t, ctx, b.data, broker)
	t.Logf("after SIGTERM: stage 2 emitted %v (internal partition: seq) = Delta's txns (table version %d); stage 1's commits each covered by a state", emitted, version)

	// Restarted on the same volume, it resumes from its committed offsets and
	// checkpoint: the table ends equal to the reference over both hours.
	finished(second)
	want = reference(t, ctx, broker)
	if rows, _, err := harness.TableRows(ctx, table); err != nil || len(rows) >= len(want) {
		t.Fatalf("the stop came too late to test a restart: %d of %d windows already written (%v)", len(rows), len(want), err)
	}
	job2 := b.startContainer("job", nil, jobEnv, memory)
	waitHTTP(t, ctx, job2, "http://"+httpAddr+"/ready", http.StatusOK)
	got, err := harness.WaitForRows(ctx, table, len(want))
	if err != nil {
		t.Fatalf("%v\n%s", err, logOf(job2))
	}
	if diff := harness.DiffRows(got, want); diff != "" {
		t.Fatalf("table after a SIGTERM and a restart differs from the reference:\n%s", diff)
	}
	if job2.Exited() {
		code, _ := job2.Wait(ctx)
		t.Fatalf("second run exited by itself (code %d) instead of running on\n%s", code, logOf(job2))
	}
	if err := job2.Signal("TERM"); err != nil {
		t.Fatalf("%v\n%s", err, logOf(job2))
	}
	if code, err := job2.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("second run: exit %d (%v)\n%s", code, err, logOf(job2))
	}
	if strings.Contains(logOf(job2), "level=error") {
		t.Errorf("second run logged errors:\n%s", logOf(job2))
	}
}

// checkMemoryLimit reads the memory limit of the container's cgroup (v2
// memory.max or v1 memory.limit_in_bytes).
func checkMemoryLimit(t *testing.T, c *image.Container, want int64) {
	t.Helper()
	pid, err := c.Pid()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			file = filepath.Join("/sys/fs/cgroup", parts[2], "memory.max")
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			file = filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes")
		default:
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		if got := strings.TrimSpace(string(b)); got != strconv.FormatInt(want, 10) {
			t.Fatalf("container memory limit %s (%s), want the StatefulSet's %d", got, file, want)
		}
		t.Logf("container memory limit %d bytes (%s)", want, file)
		return
	}
	t.Fatalf("no memory cgroup found for pid %d:\n%s", pid, raw)
}

// jobMemoryLimit is the memory limit of the rendered container that runs
// config/rides.yaml.
func jobMemoryLimit(t *testing.T) int64 {
	t.Helper()
	for _, w := range workloads(manifests(t)) {
		for _, c := range w.pod.Spec.Containers {
			if slices.Contains(c.Args, "/etc/rides-connect/rides.yaml") {
				if m := c.Resources.Limits.Memory().Value(); m > 0 {
					return m
				}
			}
		}
	}
	t.Fatal("no rendered container runs /etc/rides-connect/rides.yaml with a memory limit")
	return 0
}

func reference(t *testing.T, ctx context.Context, broker *harness.Broker) []harness.WindowRow {
	t.Helper()
	recs, err := broker.ReadAll(ctx, "rides")
	if err != nil {
		t.Fatal(err)
	}
	// The job's rule over each partition's rides in offset order.
	want, _, err := harness.PartitionedReference(harness.RidesByPartition(recs), 5*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// The identity config/rides.yaml runs under in the image (KAFKA_GROUP,
// KAFKA_TOPIC and the state key at their defaults).
const (
	jobGroup    = "rides-connect-rides"
	jobTopic    = "rides"
	jobStateKey = "rides_agg"
)

// stateAfterStop checks what a clean stop of config/rides.yaml left, from the
// volume and the broker, and returns stage 2's emission sequence per internal
// partition q and the table's version:
//   - stage 1: each offset the group committed on the source topic names the
//     state covering it in the checkpoint on the volume (key
//     rides_agg-<topic>-<p>@<offset>): the state went before the offsets;
//   - stage 2: for every q, the sequence of q's state committed in
//     <group>-merge-state equals the sequence of Delta's txn rides_agg-<q>:
//     every row it emitted is in the table, and its last transaction
//     (offsets and state) was committed on close, not left to abort. At least
//     one q emitted something.
func stateAfterStop(t *testing.T, ctx context.Context, data string, broker *harness.Broker) (map[int]int64, int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	committed, err := adm.FetchOffsets(ctx, jobGroup)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := store.Open(ctx, filepath.Join(data, "checkpoints", "rides"), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	commits := 0
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Topic != jobTopic || o.At < 0 {
			return
		}
		commits++
		key := fmt.Sprintf("%s-%s-%d@%d", jobStateKey, o.Topic, o.Partition, o.At)
		if _, err := kv.Get(ctx, key); err != nil {
			t.Errorf("stage 1: group %s committed %s/%d at %d, but the checkpoint has no state %s: %v", jobGroup, o.Topic, o.Partition, o.At, key, err)
		}
	})
	if commits == 0 {
		t.Errorf("stage 1: group %s committed no offset of %s", jobGroup, jobTopic)
	}

	st, err := objstore.Open(ctx, filepath.Join(data, "silver", "rides_agg"), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := delta.LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	table := map[int]int64{}
	for app, txn := range snap.Txns {
		var q int
		if n, _ := fmt.Sscanf(app, jobStateKey+"-%d", &q); n == 1 && app == fmt.Sprintf("%s-%d", jobStateKey, q) {
			_, table[q] = delta.SplitTxnVersion(txn.Version)
		}
	}
	states := map[int]int64{}
	for key, raw := range committedStates(t, ctx, broker, jobGroup+"-merge-state") {
		var q int
		if n, _ := fmt.Sscanf(key, jobStateKey+"-%d", &q); n != 1 || key != fmt.Sprintf("%s-%d", jobStateKey, q) {
			t.Errorf("stage 2: %s-merge-state holds key %q, not a state %s-<q>", jobGroup, key, jobStateKey)
			continue
		}
		if states[q], err = engine.StateSeq(raw); err != nil {
			t.Errorf("stage 2: state %s: %v", key, err)
		}
	}
	emitted := 0
	for q := range 64 {
		s, okS := states[q]
		d, okD := table[q]
		if !okS && !okD {
			continue
		}
		if s != d {
			t.Errorf("stage 2: internal partition %d: its committed state emitted up to seq %d, Delta (version %d) committed txn %s-%d seq %d", q, s, snap.Version, jobStateKey, q, d)
		}
		if s > 0 {
			emitted++
		}
	}
	if emitted == 0 {
		t.Errorf("stage 2 emitted nothing before the stop (states %v, Delta txns %v)", states, table)
	}
	if t.Failed() {
		t.FailNow()
	}
	return states, snap.Version
}

// committedStates reads a changelog topic with read_committed to its end
// and returns the latest value of each key (the broker has no open
// transaction on it once its writer stopped cleanly; one left open stalls
// the read, which then fails naming the partitions).
func committedStates(t *testing.T, ctx context.Context, broker *harness.Broker, topic string) map[string][]byte {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{} // partition -> end offset, until read to it
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("%s/%d: %v", topic, o.Partition, o.Err)
		}
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	latest := map[string][]byte{}
	for len(left) > 0 {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("%s: partitions (end offsets) %v not read to their end with read_committed: a transaction left open?", topic, left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				latest[string(r.Key)] = r.Value
			}
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return latest
}

func waitHTTP(t *testing.T, ctx context.Context, c *image.Container, url string, status int) {
	t.Helper()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
		}
		if c.Exited() || ctx.Err() != nil {
			t.Fatalf("%s did not answer %d (last: %v)\n%s", url, status, err, logOf(c))
		}
		time.Sleep(100 * time.Millisecond) // poll until ready; ctx bounds it
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// counter sums a metric family's samples in a Prometheus text exposition.
func counter(text, name string) float64 {
	var sum float64
	for _, m := range regexp.MustCompile(`(?m)^`+name+`(?:\{[^}]*\})? ([0-9.e+]+)$`).FindAllStringSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		sum += v
	}
	return sum
}
