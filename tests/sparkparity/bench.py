"""The bare franz-go consumer (the ceiling), rides-connect (config/rides.yaml, env only) and
Spark 4 (the seed job, local[2]) each drain one prefilled topic, alone, and are measured: wall
time, CPU seconds and peak RSS of the process tree. Run by bench.sh (which starts the broker);
prints a JSON summary, then the table of issue 11 and the ratios.

Workload: N seed-shaped rides (~121 B JSON) in a 6-partition topic, round-robin, event times
over --span-min minutes (3 h by default), in order per partition with ±2 s disorder (nothing is
ever late), every partition ending at the same event time (see generate).
Repetitions: --reps (3) rounds of bare, ours, Spark in turn (A B C A B C A B C); each engine's
row is the median of its runs, per column. Before them, --warmup (1) unmeasured rounds of the Go
engines (bare, baseline, ours): the broker is a fresh JVM on the same cores, and its JIT compiles
each code path the first runs touch (idempotent and transactional produce, transaction markers,
compacted topics) at a cost of seconds of CPU (session 26: 2-5 CPU-s of compiler threads in each
of the first runs of the two-stage job, ~1 once warm), which was charged to the wall of whichever
engine touched the path first. Every run gets a new consumer group / output /
checkpoint. Correctness gate, per run, before any number counts: each table equals the reference
aggregates computed while generating (keys and cnt exact, doubles within 1e-9 relative; ours also
0 late rows); the bare consumer read exactly N records. An engine with one failed run is FAILED
and every ratio that would use it prints FAILED.

Measurement: each engine runs under GNU `time -v` (user+sys CPU of the process tree as the
kernel accounts reaped children; peak RSS of its largest process). Spark runs as `spark-submit
seed_job.py` (java → python child); its wall time is the whole process: the table is final when
it exits. The bare consumer exits once it has read N records (and committed). rides-connect does
not exit by itself: its wall time ends when /metrics shows every row aggregated and every emitted
row committed to Delta (polled every 0.2 s); it is then stopped with SIGTERM, so its CPU also
includes the shutdown. The 1-minute load average before each run is printed with the table, and
each run records the broker's CPU seconds over it (broker_cpu_s; not counted in any engine's).
A config with internal topics (the scale-out jobs) creates them at its first start, in every run
here (a new group each run); --precreate-internal creates them before the timer instead, with the
`rides-connect kafka topic create` lines the config's header documents for a deployment.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import engines  # noqa: E402
import rides  # noqa: E402

VENV = engines.REPO / ".cache" / "venv"
BARE = Path(os.environ.get("BARECONSUMER_BIN", engines.REPO / "bin" / "bareconsumer"))


def generate(n: int, partitions: int, span_min: int, seed: int, by_user: bool = False):
    """Returns the (partition, value) records, the reference aggregates per (city, window start)
    and the closing time in ms: the minimum over partitions of their max event time.

    Round-robin over the partitions, event time steady over span_min minutes with ±2 s disorder;
    the last record of every partition is at the same event time, after all others, so the
    per-partition watermark (ours: min over partitions of max − 10 min) and Spark's global one
    (max − 10 min) close the same windows. The reference applies the per-partition rule as the Go
    harness does (internal/harness PartitionedReference): a ride is late if its window ended at or
    before its partition's max so far − 10 min; the generator asserts there are none."""
    rnd = random.Random(seed)
    t0_us = rides.epoch_us(rides.T0)
    step_us = span_min * 60_000_000 / n
    end_us = int(t0_us + n * step_us + 2e6)
    ref: dict = {}
    recs = []
    part_max = [None] * partitions
    late = 0
    for i in range(n):
        us = int(t0_us + i * step_us + rnd.uniform(-2e6, 2e6)) if i < n - partitions else end_us
        us -= us % 1000  # the value carries ms
        city = rides.CITIES[rnd.randrange(5)]
        dist = 5 + rnd.random() * 20
        price = round(dist * (0.8 + rnd.random()) * 100) / 100.0
        ts = rides.fmt_iso_ms(us)
        p = i % partitions
        ride_id, user = rnd.randrange(1_000_000), rnd.randrange(100_000)
        recs.append((p, (
            f'{{"rideId":{ride_id},"userId":{user},"city":"{city}",'
            f'"distanceKm":{dist!r},"price":{price!r},"ts":"{ts}"}}').encode()))
        start = us - us % rides.WINDOW_US
        if part_max[p] is not None and start + rides.WINDOW_US <= part_max[p] - rides.DELAY_MS * 1000:
            late += 1
            continue
        part_max[p] = us if part_max[p] is None else max(part_max[p], us)
        a = ref.setdefault((city, user, start) if by_user else (city, start), [0, [], 0.0])
        a[0] += 1
        a[1].append(price)
        a[2] += dist
    if late or len(set(part_max)) != 1:
        raise AssertionError(f"generate: {late} late rides, partition max event times {set(part_max)}: "
                             "the workload must close the same windows under both watermark rules")
    return recs, ref, min(part_max) // 1000


def expected_table(ref: dict, close_ms: int) -> dict:
    """Windows closed by the final watermark (close_ms − 10 min): end <= watermark. Keys are
    (city[, userId], window start) → (city[, userId], win_start, win_end)."""
    wm_us = (close_ms - rides.DELAY_MS) * 1000
    return {(*k[:-1], rides.fmt(k[-1]), rides.fmt(k[-1] + rides.WINDOW_US)): (math.fsum(p), d / n, n)
            for k, (n, p, d) in ref.items() if k[-1] + rides.WINDOW_US <= wm_us}


def parse_time_v(path: Path) -> dict:
    t = path.read_text()

    def num(label):
        m = re.search(re.escape(label) + r":\s*([\d.:]+)", t)
        return m.group(1) if m else None

    return {"user_s": float(num("User time (seconds)")), "sys_s": float(num("System time (seconds)")),
            "max_rss_mb": int(num("Maximum resident set size (kbytes)")) / 1024}


def spark_packages() -> str:
    """The same --packages make_session() asks Ivy for: delta-spark (from delta's pip helper) and
    spark-sql-kafka-0-10 of the installed PySpark."""
    import pyspark
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    b = configure_spark_with_delta_pip(SparkSession.builder, extra_packages=[
        f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}"])
    return b._options["spark.jars.packages"]


def user_config(work: Path) -> Path:
    """config/rides.yaml grouped by (city, userId) instead of city, the rest as it is: the many-keys
    run (--group-by-user). A user changes keys this way; the plugins must not care. Each edited
    line must occur once in the config (at any indentation); a new line follows it, indented as it."""
    text = engines.CONFIG.read_text()
    for line, extra in (("city: this.city", "userId: this.userId"),
                        ("root.city = this.city", "root.userId = this.userId"),
                        ("- { name: city, type: string }", "- { name: userId, type: long }")):
        found = re.findall(rf"^( *){re.escape(line)}\n", text, re.M)
        if len(found) != 1:
            raise SystemExit(f"{engines.CONFIG}: expected one line {line!r}; update bench.py user_config")
        text = text.replace(f"{found[0]}{line}\n", f"{found[0]}{line}\n{found[0]}{extra}\n")
    out = work / "rides_by_user.yaml"
    out.write_text(text)
    return out


def run_spark(bootstrap: str, topic: str, work: Path, shuffle: int, rep: int, by_user: bool = False) -> dict:
    name = f"spark{shuffle}_{rep}"
    out, ck = work / name, work / f"{name}_ckpt"
    tv, prog, log = work / f"{name}.time", work / f"{name}.progress.json", work / f"{name}.log"
    cmd = ["/usr/bin/time", "-v", "-o", str(tv), str(VENV / "bin" / "spark-submit"), "--master", "local[2]",
           "--driver-memory", "2g", "--packages", spark_packages(),
           "--conf", f"spark.jars.ivy={engines.REPO / '.cache' / 'ivy2'}",
           str(HERE / "seed_job.py"), "--bootstrap", bootstrap, "--topic", topic, "--out", str(out),
           "--checkpoint", str(ck), "--shuffle-partitions", str(shuffle), "--progress-out", str(prog)] \
        + (["--group-by-user"] if by_user else [])
    env = dict(os.environ, PYSPARK_PYTHON=str(VENV / "bin" / "python"),
               PYSPARK_DRIVER_PYTHON=str(VENV / "bin" / "python"))
    t0 = time.monotonic()
    with open(log, "wb") as lf:
        rc = subprocess.run(cmd, env=env, stdout=lf, stderr=subprocess.STDOUT).returncode
    wall = time.monotonic() - t0
    if rc != 0:
        raise RuntimeError(f"spark-submit exited {rc}; see {log}")
    p = json.loads(prog.read_text())
    return {"engine": f"Spark 4 local[2], shuffle.partitions={shuffle} (seed job)", "wall_s": wall,
            **parse_time_v(tv), "session_s": p["session_s"], "batches": p["batches"],
            "table": engines.read_table(out)}


def emitted_all(drained, windows: int, quiet_s: float = 3.0):
    """drained, and every window the reference closes emitted. The two-stage config
    (config/rides-scaleout.yaml as a --baseline) emits its last windows a transaction after its
    stage 1 took the last ride, so drained alone could end its run early, with the last windows
    missing. A table that will never have them (a wrong result) stops adding rows: the drain ends
    quiet_s after its last new row and the gate fails it."""
    last = {"rows": -1.0, "since": 0.0}

    def cond(m: dict) -> bool:
        if not drained(m):
            return False
        rows = m.get("window_emitted_rows_total", 0)
        if rows >= windows:
            return True
        now = time.monotonic()
        if rows != last["rows"]:
            last.update(rows=rows, since=now)
        return now - last["since"] >= quiet_s
    return cond


_TOPIC_CREATE = re.compile(r"^#\s+rides-connect kafka topic create (.+)$", re.M)


def precreate_internal(binary: Path, config: Path, bootstrap: str, group: str, partitions: int = 6) -> None:
    """Runs the `rides-connect kafka topic create` lines of config's header for group (<G>), with
    the source's partition count (P) and one replica (one broker)."""
    for line in _TOPIC_CREATE.findall(config.read_text()):
        args = line.replace("$KAFKA_BOOTSTRAP", bootstrap).replace("<G>", group).split()
        args = [str(partitions) if a == "P" else a for a in args]
        if "--replication-factor" in args:
            args[args.index("--replication-factor") + 1] = "1"
        r = subprocess.run([str(binary), "kafka", "topic", "create", *args], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"rides-connect kafka topic create {' '.join(args)}: exit {r.returncode}\n{r.stderr}{r.stdout}")


def run_ours(bootstrap: str, topic: str, dlq: str, work: Path, n: int, rep: int, base: tuple | None = None,
             by_user: bool = False, windows: int = 0, precreate: bool = False) -> dict:
    """config/rides.yaml as it is (env only), a new consumer group from earliest. base = (binary,
    config) of a baseline build for an A/B in the same run (--baseline); by_user: its
    (city, userId) variant (user_config); windows: how many rows the reference table has
    (emitted_all)."""
    name = f"{'base' if base else 'ours'}_{rep}"
    tv = work / f"{name}.time"
    rc = engines.RidesConnect(bootstrap, work / name, work / f"{name}_ckpt", work / f"{name}.log", dlq,
                              group=f"bench_{topic}_{name}", topic=topic,
                              **({"config": Path(base[1]).resolve()} if base else
                                 {"config": user_config(work)} if by_user else {}))
    if base:
        rc.bin = Path(base[0]).resolve()
    rc.env["LOG_LEVEL"] = "WARN"
    if precreate:
        precreate_internal(rc.bin or engines.binary(), rc.config, bootstrap, rc.env["KAFKA_GROUP"])
    t0 = time.monotonic()
    rc.start(["/usr/bin/time", "-v", "-o", str(tv)])
    try:
        # The drain's end is seen by polling /metrics: every 0.2 s until 90 % of the rides are in,
        # then every 0.05 s, so the end is not overestimated by up to a whole 0.2 s poll (Spark's
        # and the bare consumer's walls end at their process exit). Not faster: a scrape costs the
        # job ~2.4 ms of CPU (42 KB of metrics), so 100 a second would take a quarter of a core.
        rides_in = lambda m: m.get("window_input_rows_total", 0) + m.get("window_late_rows_total", 0)
        rc.wait_until(lambda m: rides_in(m) >= 0.9 * n, "90 % of the drain", timeout=900, poll=0.2)
        m = rc.wait_until(emitted_all(lambda m: rides_in(m) >= n and engines.drained(0, 0)(m), windows),
                          "drain", timeout=900, poll=0.05)
        wall = time.monotonic() - t0
    finally:
        # /usr/bin/time's child is the binary: signal it by its PID, time then reports.
        kids = Path(f"/proc/{rc.proc.pid}/task/{rc.proc.pid}/children")
        pids = kids.read_text().split() if kids.exists() else []
        for pid in pids:
            os.kill(int(pid), signal.SIGTERM)
        rc.proc.wait(60)
        rc.stop()
    engine = f"baseline: {base[0]} -c {base[1]}" if base else "rides-connect, config/rides.yaml"
    return {"engine": engine, "wall_s": wall, **parse_time_v(tv),
            "late_rows": m.get("window_late_rows_total", 0), "table": engines.read_table(work / name),
            "metrics": {k: m[k] for k in sorted(m) if k.startswith((
                "window_checkpoint", "window_input", "window_late", "window_emitted", "delta_commit",
                "input_received", "processor_batch_received", "kafka_input_commits"))}}


def cpu_s(pid: int) -> float:
    """user + sys CPU seconds of a live process (/proc/<pid>/stat)."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def broker_cpu_s() -> float:
    """CPU seconds of the broker so far (its pid in KAFKA_BROKER_DIR/broker.pid), 0 when unknown."""
    try:
        return cpu_s(int((Path(os.environ["KAFKA_BROKER_DIR"]) / "broker.pid").read_text()))
    except (KeyError, OSError, ValueError):
        return 0.0


def run_bare(bootstrap: str, topic: str, work: Path, n: int, rep: int) -> dict:
    """The ceiling: bareconsumer (franz-go, a new consumer group from earliest) reads the n
    records and exits; its wall time is the whole process, like Spark's."""
    name = f"bare_{rep}"
    tv, log = work / f"{name}.time", work / f"{name}.log"
    cmd = ["/usr/bin/time", "-v", "-o", str(tv), str(BARE), "-brokers", bootstrap, "-topic", topic,
           "-group", f"bench_{topic}_{name}", "-n", str(n)]
    t0 = time.monotonic()
    with open(log, "wb") as lf:
        rc = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT, timeout=900).returncode
    wall = time.monotonic() - t0
    if rc != 0:
        raise RuntimeError(f"bareconsumer exited {rc}; see {log}")
    got = json.loads(log.read_text().strip().splitlines()[-1])
    return {"engine": "bare franz-go consumer (reads only)", "wall_s": wall, **parse_time_v(tv),
            "records": got["records"]}


def gate(r: dict, want: dict, n: int) -> tuple[str, list]:
    """"pass", or why this run's result is wrong. Tables must equal the reference (keys and cnt
    exact, doubles within 1e-9 relative) with no row late; the bare consumer must read n records."""
    if "records" in r:
        return ("pass", []) if r["records"] == n else (f"FAIL: read {r['records']:,} of {n:,} records", [])
    d = engines.diff_tables(r["table"], want)
    late = int(r.get("late_rows", 0))
    if not d and not late:
        return "pass", []
    g = f"FAIL: {len(d)} of {len(want)} windows differ"
    if late:
        g += f", {late:,} rows late"
    return g, d[:3]


def fmt_int(x: float) -> str:
    return f"{round(x):,}".replace(",", " ")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", default=os.environ.get("KAFKA_PLAINTEXT"))
    ap.add_argument("-n", type=int, default=2_000_000)
    ap.add_argument("--span-min", type=int, default=180)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured rounds of the Go engines first (the broker's JIT)")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--spark-200", action="store_true", help="also run Spark with the default 200 shuffle partitions")
    ap.add_argument("--baseline", metavar="BIN:CONFIG", help="also run this binary and config (an A/B, alternating)")
    ap.add_argument("--no-spark", action="store_true", help="skip Spark (an A/B of our builds only; no Spark ratios)")
    ap.add_argument("--precreate-internal", action="store_true",
                    help="create a config's internal topics before each run, as its header documents (scale-out jobs)")
    ap.add_argument("--group-by-user", action="store_true",
                    help="group by (city, userId) in both engines: ~1.8 M result rows, ~250 000 open groups")
    a = ap.parse_args()
    base = tuple(a.baseline.split(":", 1)) if a.baseline else None
    a.work.mkdir(parents=True, exist_ok=True)
    facts = {"nproc": os.cpu_count(), "cpu": next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                                                    if l.startswith("model name")), "n": a.n, "reps": a.reps}

    t = time.monotonic()
    recs, ref, close_ms = generate(a.n, 6, a.span_min, seed=42, by_user=a.group_by_user)
    facts["bytes_per_record"] = round(sum(len(v) for _, v in recs) / a.n, 1)
    topic = f"bench_{os.getpid()}"
    rides.create_topics(a.bootstrap, {topic: 6, topic + "_dlq": 1})
    rides.produce(a.bootstrap, topic, recs)
    facts["prefill_s"] = round(time.monotonic() - t, 1)
    del recs
    print(json.dumps(facts), file=sys.stderr)
    want = expected_table(ref, close_ms)
    facts["windows_closed"] = len(want)

    engines_order = ["bare"] + (["base"] if base else []) + ["ours"] + ([] if a.no_spark else ["spark2"]) \
        + (["spark200"] if a.spark_200 else [])
    runs: dict[str, list] = {e: [] for e in engines_order}
    warm = [e for e in engines_order if not e.startswith("spark")]
    for rep in range(-a.warmup, a.reps):  # warm-up rounds (rep < 0), then alternating: A B C A B C
        for e in (warm if rep < 0 else engines_order):
            load = open("/proc/loadavg").read().split()[0]
            b0 = broker_cpu_s()
            if e == "bare":
                r = run_bare(a.bootstrap, topic, a.work, a.n, rep)
            elif e in ("ours", "base"):
                r = run_ours(a.bootstrap, topic, topic + "_dlq", a.work, a.n, rep, base if e == "base" else None,
                             a.group_by_user, len(want), a.precreate_internal)
            else:
                r = run_spark(a.bootstrap, topic, a.work, 2 if e == "spark2" else 200, rep, a.group_by_user)
            r["rep"], r["load1_before"] = rep + 1, float(load)
            r["broker_cpu_s"] = round(broker_cpu_s() - b0, 2)
            r["gate"], r["diffs"] = gate(r, want, a.n)
            r.pop("table", None)
            r["warmup"] = rep < 0
            print(json.dumps(r), file=sys.stderr)
            if r["warmup"]:
                continue
            with (a.work / "results.jsonl").open("a") as f:
                f.write(json.dumps(r) + "\n")
            runs[e].append(r)

    # One row per engine: the median of its repetitions, per column. An engine with any run whose
    # result is wrong is FAILED: its numbers are shown in brackets and no ratio uses them.
    rows = {}
    for e, rs in runs.items():
        wall = statistics.median(r["wall_s"] for r in rs)
        cpu = statistics.median(r["user_s"] + r["sys_s"] for r in rs)
        rss = statistics.median(r["max_rss_mb"] for r in rs)
        bad = [r["gate"] for r in rs if r["gate"] != "pass"]
        rows[e] = {"engine": rs[0]["engine"], "ok": not bad, "gate": "pass" if not bad else "; ".join(bad),
                   "wall_s": wall, "cpu_s": cpu, "rss_mb": rss, "eps": a.n / wall, "epcpu": a.n / cpu,
                   "broker_cpu_s": statistics.median(r["broker_cpu_s"] for r in rs),
                   "runs": [{k: r[k] for k in ("rep", "wall_s", "user_s", "sys_s", "max_rss_mb", "load1_before",
                                               "broker_cpu_s", "gate")}
                            for r in rs]}

    print(json.dumps({"facts": facts, "engines": rows}, indent=1))
    print(f"\nN = {a.n:,} rides, 6 partitions, {a.span_min} min of event time"
          + (", grouped by (city, userId)" if a.group_by_user else "")
          + (", internal topics created before each run" if a.precreate_internal else "") + f"; median of {a.reps} alternating "
          f"repetitions per engine; load average (1 min) before each run, in run order: "
          + ", ".join(f"{e} {runs[e][rep]['load1_before']:.1f}" for rep in range(a.reps) for e in engines_order))
    print("\n| engine | wall s | CPU s | peak RSS | events/s | events per CPU-s | broker CPU s | correctness |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for x in rows.values():
        cells = [format(x["wall_s"], ".1f"), format(x["cpu_s"], ".1f"), f"{round(x['rss_mb'])} MB",
                 fmt_int(x["eps"]), fmt_int(x["epcpu"]), format(x["broker_cpu_s"], ".1f")]
        if not x["ok"]:
            cells = [f"({c})" for c in cells]
        print(f"| {x['engine']} | " + " | ".join(cells) + f" | {'pass' if x['ok'] else 'FAILED: ' + x['gate']} |")
    # The spread of one engine's runs: on a shared machine it can be as large as the gap between
    # two engines, and a ratio of medians alone hides it.
    print("\nWall s per repetition, in run order (base: the baseline, ours: config/rides.yaml): " + "; ".join(
        f"{e} " + " / ".join(format(r["wall_s"], ".2f") for r in x["runs"]) for e, x in rows.items()))

    def ratio(num: str, den: str, key: str) -> str:
        if not rows[num]["ok"] or not rows[den]["ok"]:
            return "FAILED (a table differs from the reference)"
        r = rows[num][key] / rows[den][key]
        return f"{r:.2f}×" if r >= 0.1 else f"{r:.3f}×"

    print("\n| ratio (this run) | value |")
    print("| --- | --- |")
    for sp in (e for e in engines_order if e.startswith("spark")):
        tag = "" if sp == "spark2" else " (shuffle.partitions=200)"
        print(f"| rides-connect ÷ Spark{tag}, events/s | {ratio('ours', sp, 'eps')} |")
        print(f"| rides-connect ÷ Spark{tag}, events per CPU-s | {ratio('ours', sp, 'epcpu')} |")
        print(f"| rides-connect ÷ Spark{tag}, peak RSS | {ratio('ours', sp, 'rss_mb')} |")
    print(f"| rides-connect ÷ bare consumer, events/s | {ratio('ours', 'bare', 'eps')} |")
    if base:
        print(f"| rides-connect ÷ baseline, events/s | {ratio('ours', 'base', 'eps')} |")
        print(f"| rides-connect ÷ baseline, events per CPU-s | {ratio('ours', 'base', 'epcpu')} |")
    if not all(x["ok"] for x in rows.values()):
        print("bench: correctness gate failed; the ratios above that use a failed engine are not results",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    # Leave without running the native libraries' exit handlers: after a run without Spark the
    # interpreter's teardown aborted ("terminate called without an active exception", exit 134)
    # once everything was printed, failing `make bench-spark`.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
