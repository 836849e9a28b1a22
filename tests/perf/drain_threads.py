"""Alternating drains of one prefilled topic by several job configs on one running broker, with
the broker's CPU per thread group around each run: where the co-located broker's CPU goes for
each config (its JIT compiler threads, its request handlers, ...), run after run. Not part of
`make test`; docs/benchmarks.md ("Session 32") has what it showed.

    tests/realkafka/broker.sh start > broker.env         # a broker (KAFKA_PLAINTEXT, KAFKA_BROKER_DIR)
    .cache/venv/bin/python tests/perf/drain_threads.py --fill 2000000 \\
        --configs config/rides-single.yaml,config/rides.yaml --reps 8
    tests/realkafka/broker.sh stop <KAFKA_BROKER_DIR>

Each run: a new consumer group from earliest (its internal topics created before the timer, as
`make bench-spark` does), then marks from exec polling /metrics (up, first ride, all rides in,
every window of the reference in Delta), the job's CPU seconds at the end, the broker's CPU
seconds over the run, and the thread groups that took 5 ms or more. Medians over runs 2.. at
the end. The broker is read from KAFKA_PLAINTEXT and KAFKA_BROKER_DIR (broker.sh's lines).
"""
import argparse
import collections
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sparkparity"))
import bench  # noqa: E402
import engines  # noqa: E402
import rides  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent


def thread_groups(pid: int) -> collections.Counter:
    """CPU seconds of a process per thread name, digits folded (C2 CompilerThread0, 1 → one)."""
    out: collections.Counter = collections.Counter()
    tck = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue  # the thread ended meanwhile
        f = stat.rsplit(")", 1)[1].split()
        out[re.sub(r"\d+", "N", name)] += (int(f[11]) + int(f[12])) / tck
    return out


def drain(bootstrap: str, topic: str, n: int, windows: int, config: Path, binary: Path, work: Path,
          broker_pid: int) -> dict:
    g = f"dt_{config.stem}_{os.getpid()}_{time.monotonic_ns()}".replace(".", "_")
    rc = engines.RidesConnect(bootstrap, work / g / "t", work / g / "c", work / f"{g}.log", topic + "_dlq",
                              group=g, topic=topic, config=config)
    rc.bin = binary
    rc.env["LOG_LEVEL"] = "WARN"
    bench.precreate_internal(binary, config, bootstrap, g)
    th0, b0 = thread_groups(broker_pid), bench.broker_cpu_s()
    done = bench.emitted_all(lambda m: m.get("window_input_rows_total", 0) >= n and engines.drained(0, 0)(m), windows)
    marks: dict = {}
    t0 = time.monotonic()
    rc.start()
    try:
        while True:
            m = rc.metrics()
            t = time.monotonic() - t0
            rows = m.get("window_input_rows_total", 0)
            if m:
                marks.setdefault("up", t)
            if rows > 0:
                marks.setdefault("row", t)
            if rows >= n:
                marks.setdefault("allin", t)
            if m and done(m):
                marks["done"] = t
                break
            if t > 300:
                raise TimeoutError(f"{config}: not drained in 300 s\n{rc.tail()}")
            # Often at the start (the marks), then as bench.py polls (a scrape costs the job CPU).
            time.sleep(0.005 if "row" not in marks else 0.2 if rows < 0.9 * n else 0.05)
        marks["cpu"] = bench.cpu_s(rc.proc.pid)
    finally:
        rc.stop()
    marks["bcpu"] = bench.broker_cpu_s() - b0
    th1 = thread_groups(broker_pid)
    marks["threads"] = {k: round(th1[k] - th0.get(k, 0), 3) for k in th1 if th1[k] - th0.get(k, 0) >= 0.005}
    return marks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="config/rides-single.yaml,config/rides.yaml")
    ap.add_argument("--binary", default=str(REPO / "bin" / "rides-connect"))
    ap.add_argument("--topic", default="drain_threads")
    ap.add_argument("--fill", type=int, default=0, help="first create the topic and produce this many rides")
    ap.add_argument("-n", type=int, default=2_000_000, help="rides in the topic (with --fill: the same)")
    ap.add_argument("--reps", type=int, default=8)
    a = ap.parse_args()
    bootstrap = os.environ["KAFKA_PLAINTEXT"]
    broker_pid = int((Path(os.environ["KAFKA_BROKER_DIR"]) / "broker.pid").read_text())
    n = a.fill or a.n
    # The reference windows of the topic's rides: bench.generate is deterministic per seed.
    recs, ref, close_ms = bench.generate(n, 6, 180, seed=42)
    want = bench.expected_table(ref, close_ms)
    if a.fill:
        rides.create_topics(bootstrap, {a.topic: 6, a.topic + "_dlq": 1})
        rides.produce(bootstrap, a.topic, recs)
    configs = [(REPO / c) if not Path(c).is_absolute() else Path(c) for c in a.configs.split(",")]
    runs: dict = {c: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="drain-threads.") as work:
        for rep in range(a.reps):
            for c in configs:
                r = drain(bootstrap, a.topic, n, len(want), c, Path(a.binary), Path(work), broker_pid)
                runs[c].append(r)
                th = " ".join(f"{k}={v:.2f}" for k, v in sorted(r["threads"].items(), key=lambda x: -x[1]))
                print(f"{c.name} run {rep + 1}: " + " ".join(f"{k}={r[k]:.3f}" for k in
                      ("up", "row", "allin", "done", "cpu", "bcpu")) + f"\n    broker threads: {th}", flush=True)
    print("medians over runs 2..:")
    for c, rs in runs.items():
        rs = rs[1:] or rs
        print(f"  {c.name}: " + " ".join(f"{k}={statistics.median(r[k] for r in rs):.3f}"
                                        for k in ("up", "row", "allin", "done", "cpu", "bcpu")))


if __name__ == "__main__":
    main()
