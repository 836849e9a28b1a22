package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/miaradia/rides-connect/internal/harness"
)

// rssRun is one drain of the prefilled topic by one variant.
type rssRun struct {
	Variant               string
	Rep                   int
	DrainS                float64
	RidesPerS             float64
	PeakHWMMB             float64 `json:"peak_vmhwm_mb"`
	PeakSampledRSSMB      float64 `json:"peak_sampled_vmrss_mb"`
	PeakAnonMB            float64 `json:"peak_sampled_rssanon_mb"` // heap, stacks: not the binary's mapped pages (RssFile)
	EndRSSMB              float64 `json:"end_vmrss_mb"`
	Timeline              []string
	HeapProfiles          []string
	HeapTop               string `json:"-"`
	LoadBefore, LoadAfter string
	Late, DeadLetters     float64
	CPUS                  float64 `json:"cpu_s"` // user+sys of the job from its start to the end of the drain
	CPUPerRideUs          float64 `json:"cpu_us_per_ride"`
	WindowRows            float64
}

type rssResult struct {
	Rides, Valid, Malformed int
	PrefillS                float64
	Runs                    []*rssRun
}

// variant is a binary and a config to measure; several are drained in turn
// from the same prefilled topic (an A/B in one run).
type variant struct{ Name, Bin, Config string }

// parseVariants reads "name=bin:config,name=bin:config"; empty gives def.
func parseVariants(s string, def variant) ([]variant, error) {
	if s == "" {
		return []variant{def}, nil
	}
	var vs []variant
	for _, item := range strings.Split(s, ",") {
		name, bc, ok1 := strings.Cut(item, "=")
		bin, conf, ok2 := strings.Cut(bc, ":")
		if !ok1 || !ok2 || name == "" || bin == "" || conf == "" {
			return nil, fmt.Errorf("-variants: %q is not name=bin:config", item)
		}
		vs = append(vs, variant{name, bin, conf})
	}
	return vs, nil
}

// runRSS prefills n DefaultBacklog rides once, then drains them reps times
// with each variant in turn (fresh consumer group, table and checkpoint each).
// cpuSeconds > 0 also takes a CPU profile of that length once 10 % of the rides
// are in (cpu.pb.gz) and an allocation profile at the end (allocs-end.pb.gz).
func runRSS(ctx context.Context, c common, vs []variant, reps, n, cpuSeconds int) (*rssResult, error) {
	topic := fmt.Sprintf("perf_rss_%d", os.Getpid())
	if err := createTopics(ctx, c.brokers, topic); err != nil {
		return nil, err
	}
	res := &rssResult{Rides: n}
	t0 := time.Now()
	spec := harness.DefaultBacklog(1, n)
	if c.malformed >= 0 {
		spec.Malformed = c.malformed
	}
	if err := prefill(ctx, c.brokers, topic, spec, res); err != nil {
		return nil, err
	}
	res.PrefillS = time.Since(t0).Seconds()
	fmt.Fprintf(os.Stderr, "perf rss: %d records prefilled in %.1f s (%d malformed); load %s\n", n, res.PrefillS, res.Malformed, loadavg())
	for rep := 1; rep <= reps; rep++ {
		for _, v := range vs {
			vc := c
			vc.bin, vc.config = v.Bin, v.Config
			if len(vs) > 1 || reps > 1 {
				vc.work = filepath.Join(c.work, fmt.Sprintf("%s-%d", v.Name, rep))
				if err := os.MkdirAll(vc.work, 0o755); err != nil {
					return res, err
				}
			}
			// Its own group and dead-letter topic: the dead-letter output reads its topic at
			// start (idempotency), so a topic left by an earlier run would change this one.
			id := fmt.Sprintf("%s-%d", v.Name, rep)
			dlq := topic + "_dlq_" + id
			if err := createTopics(ctx, c.brokers, "", dlq); err != nil {
				return res, err
			}
			r, err := drainRSS(ctx, vc, topic, "perf-"+topic+"-"+id, dlq, res, cpuSeconds)
			if r != nil {
				r.Variant, r.Rep = v.Name, rep
				res.Runs = append(res.Runs, r)
				fmt.Fprintf(os.Stderr, "perf rss: %s rep %d: drain %.1f s, peak VmHWM %.0f MB, %.2f µs CPU per ride\n", v.Name, rep, r.DrainS, r.PeakHWMMB, r.CPUPerRideUs)
			}
			if err != nil {
				return res, fmt.Errorf("%s rep %d: %w", v.Name, rep, err)
			}
		}
	}
	printRSS(res)
	return res, nil
}

// drainRSS runs the job from earliest in its own group until the topic is drained.
func drainRSS(ctx context.Context, c common, topic, group, dlq string, in *rssResult, cpuSeconds int) (*rssRun, error) {
	res := &rssRun{LoadBefore: loadavg()}
	n := in.Rides
	j, err := startJob(c, topic, group, dlq, "--set", "http.debug_endpoints=true")
	if err != nil {
		return nil, err
	}
	defer j.stop()
	start := time.Now()
	nextMark := 1
	settling, lastRow := false, time.Time{}
	profiled, cpuStarted := false, false
	cpuDone := make(chan struct{})
	defer func() {
		if cpuStarted {
			<-cpuDone
		}
	}()
	var marks startMarks
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("drain not finished: %w (see %s)", ctx.Err(), j.p.Log)
		case <-tick.C:
		}
		if j.p.Exited() {
			return res, fmt.Errorf("rides-connect exited (see %s)", j.p.Log)
		}
		rss, hwm, anon := procMem(j.p.PID())
		res.PeakSampledRSSMB = max(res.PeakSampledRSSMB, rss)
		res.PeakAnonMB = max(res.PeakAnonMB, anon)
		res.PeakHWMMB = max(res.PeakHWMMB, hwm)
		if i%5 != 0 { // metrics every 0.5 s, memory every 0.1 s
			continue
		}
		m := j.metrics()
		if m == nil {
			continue
		}
		got := ridesIn(m)
		marks.see(m, got, time.Since(start))
		for nextMark <= 10 && got >= float64(in.Valid)*float64(nextMark)/10 {
			res.Timeline = append(res.Timeline, fmt.Sprintf("%3d %% of rides in at %5.1f s: VmRSS %.0f MB, VmHWM %.0f MB, CPU %.2f s",
				nextMark*10, time.Since(start).Seconds(), rss, hwm, procCPU(j.p.PID())))
			nextMark++
		}
		if cpuSeconds > 0 && !cpuStarted && got >= float64(in.Valid)/10 {
			cpuStarted = true
			go func() {
				defer close(cpuDone)
				p := filepath.Join(c.work, "cpu.pb.gz")
				if err := j.get(fmt.Sprintf("/debug/pprof/profile?seconds=%d", cpuSeconds), p); err != nil {
					fmt.Fprintln(os.Stderr, "perf rss: cpu profile:", err)
					return
				}
				fmt.Fprintf(os.Stderr, "perf rss: %d s CPU profile in %s\n", cpuSeconds, p)
			}()
		}
		if !profiled && got >= float64(in.Valid)/2 {
			profiled = true
			p := filepath.Join(c.work, "heap-mid.pb.gz")
			if err := j.get("/debug/pprof/heap", p); err != nil {
				fmt.Fprintln(os.Stderr, "perf rss: heap profile:", err)
			} else {
				res.HeapProfiles = append(res.HeapProfiles, p)
			}
		}
		done := c.ridesOnly && allIn(m, in.Valid, in.Malformed) || drained(m, in.Valid, in.Malformed)
		if !settling && !done {
			continue
		}
		// Drained, but a later stage (scale-out stage 2, behind stage 1 by a
		// transaction) may still write rows: the drain ends at the last new
		// Delta row, once none came for settleFor; CPU is read at that row.
		// With -rides-only it ends here, once every ride is in.
		rows := sum(m, "delta_rows_written_total")
		if !settling || rows > res.WindowRows {
			settling, lastRow = true, time.Now()
			res.DrainS = time.Since(start).Seconds()
			res.CPUS = procCPU(j.p.PID())
			res.Late, res.DeadLetters = ridesLate(m), sum(m, "dead_letter_rows_total")
			res.WindowRows = rows
		}
		if c.ridesOnly || time.Since(lastRow) >= settleFor {
			res.CPUPerRideUs = res.CPUS / float64(n) * 1e6
			res.RidesPerS = float64(n) / res.DrainS
			break
		}
	}
	p := filepath.Join(c.work, "heap-end.pb.gz")
	if err := j.get("/debug/pprof/heap", p); err == nil {
		res.HeapProfiles = append(res.HeapProfiles, p)
	}
	if cpuSeconds > 0 {
		// Allocations since the start: -sample_index=alloc_space / alloc_objects.
		if err := j.get("/debug/pprof/allocs", filepath.Join(c.work, "allocs-end.pb.gz")); err != nil {
			fmt.Fprintln(os.Stderr, "perf rss: allocs profile:", err)
		}
	}
	rss, hwm, _ := procMem(j.p.PID())
	res.EndRSSMB = rss
	res.PeakSampledRSSMB, res.PeakHWMMB = max(res.PeakSampledRSSMB, rss), max(res.PeakHWMMB, hwm)
	res.LoadAfter = loadavg()
	res.Timeline = append(marks.lines(), res.Timeline...)
	if len(res.HeapProfiles) > 0 {
		out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=15", "-sample_index=inuse_space",
			c.bin, res.HeapProfiles[0]).CombinedOutput()
		if err != nil {
			fmt.Fprintln(os.Stderr, "perf rss: go tool pprof:", err)
		}
		res.HeapTop = string(out)
	}
	return res, nil
}

// printRSS prints every run as Markdown, in the order they ran.
func printRSS(res *rssResult) {
	for _, r := range res.Runs {
		fmt.Printf("\n%s, rep %d: CPU of the job until drained %.1f s (%.2f µs per ride)\n", r.Variant, r.Rep, r.CPUS, r.CPUPerRideUs)
		for _, l := range r.Timeline {
			fmt.Println(l)
		}
		fmt.Printf("heap in use at 50 %% of the drain (go tool pprof -top -sample_index=inuse_space):\n%s\n", r.HeapTop)
	}
	fmt.Printf("\n%d rides (%d malformed), prefilled in %.1f s\n\n", res.Rides, res.Malformed, res.PrefillS)
	fmt.Printf("| variant | rep | drain s | rides/s | µs CPU per ride | peak RSS (VmHWM) | peak sampled VmRSS | of which RssAnon (peak) | VmRSS at the end | late / dead letters / window rows | load avg before / after |\n")
	fmt.Printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range res.Runs {
		fmt.Printf("| %s | %d | %.1f | %.0f | %.2f | %.0f MB | %.0f MB | %.0f MB | %.0f MB | %.0f / %.0f / %.0f | %s / %s |\n",
			r.Variant, r.Rep, r.DrainS, r.RidesPerS, r.CPUPerRideUs, r.PeakHWMMB, r.PeakSampledRSSMB, r.PeakAnonMB,
			r.EndRSSMB, r.Late, r.DeadLetters, r.WindowRows, r.LoadBefore, r.LoadAfter)
	}
}

// prefill produces the spec's records (streamed) and counts them.
func prefill(ctx context.Context, brokers, topic string, spec harness.BacklogSpec, res *rssResult) error {
	cl, err := producer(brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	errc := make(chan error, 1)
	err = spec.Each(func(p int, r harness.Record) error {
		if r.Ride != nil {
			res.Valid++
		} else {
			res.Malformed++
		}
		select {
		case err := <-errc:
			return err
		default:
		}
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(p), Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
		return nil
	})
	if err != nil {
		return err
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return fmt.Errorf("produce: %w", err)
	default:
		return nil
	}
}

// procCPU returns the user+sys CPU seconds of pid (0 if unreadable), from
// /proc/<pid>/stat in USER_HZ ticks (100 per second on Linux).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at state.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// procMem returns VmRSS, VmHWM and RssAnon of pid in MB (0 if unreadable).
func procMem(pid int) (rss, hwm, anon float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		mb := func() float64 {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
		switch k {
		case "VmRSS":
			rss = mb()
		case "VmHWM":
			hwm = mb()
		case "RssAnon":
			anon = mb()
		}
	}
	return rss, hwm, anon
}
