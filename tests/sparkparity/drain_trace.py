"""How rides-connect drains the benchmark's topic over time: the bench workload (bench.generate,
TRACE_N rides, default 2 M, 3 h of event time, 6 partitions), each variant in turn on the same
prefilled topic, /metrics sampled every TRACE_POLL s (0.5): rows aggregated, late, emitted,
written to Delta, the input's records received, window checkpoint writes, the process's CPU
seconds, and the rate of aggregation over the last sample. Run by `profile.sh trace` (which starts
the broker). Variants: TRACE_VARIANTS="name=bin:config,…" (default: config/rides.yaml with the
built binary). Prints one line per sample."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402
import engines  # noqa: E402
import rides  # noqa: E402


def variants() -> list[tuple[str, Path | None, Path]]:
    spec = os.environ.get("TRACE_VARIANTS", "")
    if not spec:
        return [("rides.yaml", None, engines.CONFIG)]
    out = []
    for v in spec.split(","):
        name, rest = v.split("=", 1)
        b, cfg = rest.split(":", 1)
        out.append((name, Path(b).resolve(), Path(cfg).resolve()))
    return out


def main() -> int:
    work = Path(sys.argv[1])
    n = int(os.environ.get("TRACE_N", 2_000_000))
    poll = float(os.environ.get("TRACE_POLL", 0.5))
    bs = os.environ["KAFKA_PLAINTEXT"]
    recs, _, _ = bench.generate(n, 6, 180, seed=42)
    rides.create_topics(bs, {"trace": 6, "trace_dlq": 1})
    rides.produce(bs, "trace", recs)
    del recs
    print("variant seconds rows_aggregated rows_per_s late emitted written input_received ckpt_writes cpu_s")
    for name, binary, cfg in variants():
        rc = engines.RidesConnect(bs, work / f"t_{name}", work / f"c_{name}", work / f"{name}.log",
                                  "trace_dlq", f"trace_{name}", topic="trace", config=cfg)
        rc.bin = binary
        rc.env["LOG_LEVEL"] = "WARN"
        t0 = time.monotonic()
        rc.start()
        last = [0.0, 0]
        try:
            def sample(m, name=name, t0=t0):
                if m:
                    t, rows = time.monotonic() - t0, int(m.get("window_input_rows_total", 0))
                    rate = (rows - last[1]) / max(t - last[0], 1e-9)
                    last[:] = [t, rows]
                    print(name, round(t, 1), rows, round(rate), int(m.get("window_late_rows_total", 0)),
                          int(m.get("window_emitted_rows_total", 0)), int(m.get("delta_rows_written_total", 0)),
                          int(m.get("input_received", 0)), int(m.get("window_checkpoint_writes_total", 0)),
                          round(bench.cpu_s(rc.proc.pid), 1), flush=True)
                return (m.get("window_input_rows_total", 0) + m.get("window_late_rows_total", 0) >= n
                        and engines.drained(0, 0)(m))
            rc.wait_until(sample, "drain", timeout=600, poll=poll)
        finally:
            rc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
