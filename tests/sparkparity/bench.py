"""Spark 4 (the seed job) vs rides-connect (config/rides.yaml): drain one prefilled topic into
Delta, each engine alone, and measure wall time, CPU seconds and peak RSS of its process tree.
Run by bench.sh (which starts the broker); prints a JSON summary and a Markdown table.

Workload: N seed-shaped rides (~140 B JSON) in a 6-partition topic, round-robin, event times
over --span-min minutes, in order per partition with ±2 s disorder (nothing is ever late).
Correctness gate: both tables must equal the reference aggregates computed while generating
(keys and cnt exact, doubles within 1e-9 relative) before any number is reported.

Measurement: each engine runs under GNU `time -v` (user+sys CPU and max RSS of the process tree
as the kernel accounts reaped children; RSS is the largest single process). Spark runs as
`spark-submit seed_job.py` (java → python child), its wall time is the whole process: the table
is final when it exits. rides-connect does not exit by itself: its wall time ends when /metrics
shows every row aggregated and every emitted row committed to Delta (polled every 0.2 s); it is
then stopped with SIGTERM, so its CPU also includes the shutdown.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import engines  # noqa: E402
import rides  # noqa: E402

VENV = engines.REPO / ".cache" / "venv"


def generate(n: int, partitions: int, span_min: int, seed: int):
    """Returns the (partition, value) records, the reference aggregates per (city, window start)
    and the max event time in ms."""
    rnd = random.Random(seed)
    t0_us = rides.epoch_us(rides.T0)
    step_us = span_min * 60_000_000 / n
    ref: dict = {}
    recs = []
    max_us = 0
    for i in range(n):
        us = int(t0_us + i * step_us + rnd.uniform(-2e6, 2e6))
        city = rides.CITIES[rnd.randrange(5)]
        dist = 5 + rnd.random() * 20
        price = round(dist * (0.8 + rnd.random()) * 100) / 100.0
        ts = rides.fmt_iso_ms(us)
        recs.append((i % partitions, (
            f'{{"rideId":{rnd.randrange(1_000_000)},"userId":{rnd.randrange(100_000)},"city":"{city}",'
            f'"distanceKm":{dist!r},"price":{price!r},"ts":"{ts}"}}').encode()))
        max_us = max(max_us, us)
        start = us - us % rides.WINDOW_US
        a = ref.setdefault((city, start), [0, [], 0.0])
        a[0] += 1
        a[1].append(price)
        a[2] += dist
    return recs, ref, max_us // 1000


def expected_table(ref: dict, max_ms: int) -> dict:
    wm_us = (max_ms - rides.DELAY_MS) * 1000
    return {(c, rides.fmt(s), rides.fmt(s + rides.WINDOW_US)): (math.fsum(p), d / n, n)
            for (c, s), (n, p, d) in ref.items() if s + rides.WINDOW_US <= wm_us}


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


def run_spark(bootstrap: str, topic: str, work: Path, shuffle: int) -> dict:
    out, ck = work / f"spark{shuffle}", work / f"spark{shuffle}_ckpt"
    tv, prog, log = work / f"spark{shuffle}.time", work / f"spark{shuffle}.progress.json", work / f"spark{shuffle}.log"
    cmd = ["/usr/bin/time", "-v", "-o", str(tv), str(VENV / "bin" / "spark-submit"), "--master", "local[2]",
           "--driver-memory", "2g", "--packages", spark_packages(),
           "--conf", f"spark.jars.ivy={engines.REPO / '.cache' / 'ivy2'}",
           str(HERE / "seed_job.py"), "--bootstrap", bootstrap, "--topic", topic, "--out", str(out),
           "--checkpoint", str(ck), "--shuffle-partitions", str(shuffle), "--progress-out", str(prog)]
    env = dict(os.environ, PYSPARK_PYTHON=str(VENV / "bin" / "python"),
               PYSPARK_DRIVER_PYTHON=str(VENV / "bin" / "python"))
    t0 = time.monotonic()
    with open(log, "wb") as lf:
        rc = subprocess.run(cmd, env=env, stdout=lf, stderr=subprocess.STDOUT).returncode
    wall = time.monotonic() - t0
    if rc != 0:
        raise RuntimeError(f"spark-submit exited {rc}; see {log}")
    p = json.loads(prog.read_text())
    return {"engine": f"spark local[2] shuffle.partitions={shuffle}", "wall_s": wall, **parse_time_v(tv),
            "session_s": p["session_s"], "batches": p["batches"], "table": engines.read_table(out)}


def run_ours(bootstrap: str, topic: str, dlq: str, work: Path, n: int, variant: str) -> dict:
    """variant "rides.yaml": config/rides.yaml as it is; "per_partition": the same with
    watermark.mode per_partition (engines.per_partition_config)."""
    name = f"ours_{variant}"
    tv = work / f"{name}.time"
    config = engines.CONFIG if variant == "rides.yaml" else engines.per_partition_config(work / "rides_pp.yaml")
    rc = engines.RidesConnect(bootstrap, work / name, work / f"{name}_ckpt", work / f"{name}.log", dlq,
                              group=f"bench_{topic}_{variant}", topic=topic, config=config)
    rc.env["LOG_LEVEL"] = "WARN"
    t0 = time.monotonic()
    rc.start(["/usr/bin/time", "-v", "-o", str(tv)])
    try:
        m = rc.wait_until(lambda m: m.get("window_input_rows_total", 0) + m.get("window_late_rows_total", 0) >= n
                          and engines.drained(0, 0)(m), "drain", timeout=900, poll=0.2)
        wall = time.monotonic() - t0
    finally:
        # /usr/bin/time's child is the binary: signal it by its PID, time then reports.
        kids = Path(f"/proc/{rc.proc.pid}/task/{rc.proc.pid}/children")
        pids = kids.read_text().split() if kids.exists() else []
        for pid in pids:
            os.kill(int(pid), signal.SIGTERM)
        rc.proc.wait(60)
        rc.stop()
    label = "config/rides.yaml" if variant == "rides.yaml" else "rides.yaml + watermark.mode: per_partition"
    return {"engine": f"rides-connect ({label})", "wall_s": wall, **parse_time_v(tv),
            "late_rows": m.get("window_late_rows_total", 0), "table": engines.read_table(work / name),
            "metrics": {k: m[k] for k in sorted(m) if k.startswith((
                "window_checkpoint", "window_input", "window_late", "window_emitted", "delta_commit",
                "input_received", "processor_batch_received", "kafka_input_commits"))}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", default=os.environ.get("KAFKA_PLAINTEXT"))
    ap.add_argument("-n", type=int, default=2_000_000)
    ap.add_argument("--span-min", type=int, default=60)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--spark-200", action="store_true", help="also run Spark with the default 200 shuffle partitions")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    facts = {"nproc": os.cpu_count(), "cpu": next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                                                    if l.startswith("model name")), "n": a.n}

    t = time.monotonic()
    recs, ref, max_ms = generate(a.n, 6, a.span_min, seed=42)
    facts["bytes_per_record"] = round(sum(len(v) for _, v in recs) / a.n, 1)
    topic = f"bench_{os.getpid()}"
    rides.create_topics(a.bootstrap, {topic: 6, topic + "_dlq": 1})
    rides.produce(a.bootstrap, topic, recs)
    facts["prefill_s"] = round(time.monotonic() - t, 1)
    del recs
    print(json.dumps(facts), file=sys.stderr)

    results = []
    for step in ["spark2", "ours_rides.yaml", "ours_per_partition"] + (["spark200"] if a.spark_200 else []):
        facts[f"loadavg_before_{step}"] = open("/proc/loadavg").read().split()[0]
        r = run_spark(a.bootstrap, topic, a.work, 2 if step == "spark2" else 200) if step.startswith("spark") \
            else run_ours(a.bootstrap, topic, topic + "_dlq", a.work, a.n, step.split("_", 1)[1])
        print(json.dumps({k: v for k, v in r.items() if k != "table"}), file=sys.stderr)
        (a.work / "results.jsonl").open("a").write(json.dumps({k: v for k, v in r.items() if k != "table"}) + "\n")
        results.append(r)

    # Correctness gate: every table must equal the reference (windows closed by the final
    # watermark = max event time − 10 min). Numbers of a run that fails it do not count: they are
    # printed, marked, and left out of the ratios. For ours, rows missing from the table must be
    # exactly the rows it counted as late (window_late_rows_total): dropped, but not silently.
    want = expected_table(ref, max_ms)
    want_rows = sum(v[2] for v in want.values())
    rows = []
    for r in results:
        d = engines.diff_tables(r["table"], want)
        got_rows = sum(v[2] for v in r["table"].values())
        late = int(r.get("late_rows", 0))
        gate = "pass" if not d and not late else f"FAIL: {len(d)} of {len(want)} windows differ"
        if late:
            gate += f", {late:,} rows late ({want_rows - got_rows:,} rows missing from the table)"
        cpu = r["user_s"] + r["sys_s"]
        rows.append({"engine": r["engine"], "gate": gate, "diffs": d[:3], "wall_s": round(r["wall_s"], 1),
                     "cpu_s": round(cpu, 1), "max_rss_mb": round(r["max_rss_mb"]),
                     "events_per_s": round(a.n / r["wall_s"]), "events_per_cpu_s": round(a.n / cpu)})
    print(json.dumps({"gate": [{k: x[k] for k in ("engine", "gate", "diffs")} for x in rows]}), file=sys.stderr)

    print("\n| engine | correctness gate | wall s | CPU s (user+sys) | peak RSS MB | events/s | events/CPU-s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for x in rows:
        print(f"| {x['engine']} | {x['gate']} | {x['wall_s']} | {x['cpu_s']} | {x['max_rss_mb']} | "
              f"{x['events_per_s']:,} | {x['events_per_cpu_s']:,} |")
    ok = [x for x in rows if x["gate"] == "pass"]
    print("\n| ratio (gate passed only) | events/s | events per CPU-s | peak RSS |")
    print("| --- | --- | --- | --- |")
    for o in (x for x in ok if x["engine"].startswith("rides-connect")):
        for sp in (x for x in ok if x["engine"].startswith("spark")):
            print(f"| {o['engine']} ÷ {sp['engine']} | {o['events_per_s'] / sp['events_per_s']:.2f}× | "
                  f"{o['events_per_cpu_s'] / sp['events_per_cpu_s']:.2f}× | {o['max_rss_mb'] / sp['max_rss_mb']:.2f}× |")
    print(json.dumps({"facts": facts, "results": rows,
                      "spark_batches": {r["engine"]: r.get("batches") for r in results}}, indent=1))
    spark_ok = all(x["gate"] == "pass" for x in rows if x["engine"].startswith("spark"))
    if not spark_ok or not any(x["engine"].startswith("rides-connect") for x in ok):
        print("bench: correctness gate failed for Spark or for every rides-connect run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
