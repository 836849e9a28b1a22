"""How rides-connect drains the benchmark's topic over time: 2 M rides in 6 partitions
(bench.generate), our binary on config/rides.yaml and on its per_partition variant, /metrics
sampled every 3 s (rows aggregated, late, emitted, written to Delta, watermark, paused
partitions). Run by `profile.sh trace` (which starts the broker). Prints one line per sample."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402
import engines  # noqa: E402
import rides  # noqa: E402


def main() -> int:
    work = Path(sys.argv[1])
    n = 2_000_000
    bs = os.environ["KAFKA_PLAINTEXT"]
    recs, _, _ = bench.generate(n, 6, 60, seed=42)
    rides.create_topics(bs, {"trace": 6, "trace_dlq": 1})
    rides.produce(bs, "trace", recs)
    del recs
    print("variant seconds rows_aggregated late emitted written watermark_ms paused_partitions")
    for variant in ["rides.yaml", "global"]:
        cfg = engines.CONFIG if variant == "rides.yaml" else engines.global_config(work / "global.yaml")
        rc = engines.RidesConnect(bs, work / f"t_{variant}", work / f"c_{variant}", work / f"{variant}.log",
                                  "trace_dlq", f"trace_{variant}", topic="trace", config=cfg)
        rc.env["LOG_LEVEL"] = "WARN"
        t0 = time.monotonic()
        rc.start()
        try:
            def sample(m, variant=variant, t0=t0):
                if m:
                    print(variant, round(time.monotonic() - t0, 1), int(m.get("window_input_rows_total", 0)),
                          int(m.get("window_late_rows_total", 0)), int(m.get("window_emitted_rows_total", 0)),
                          int(m.get("delta_rows_written_total", 0)), int(m.get("window_watermark_ms", 0)),
                          int(m.get("kafka_input_paused_partitions", 0)), flush=True)
                return (m.get("window_input_rows_total", 0) + m.get("window_late_rows_total", 0) >= n
                        and engines.drained(0, 0)(m))
            rc.wait_until(sample, "drain", timeout=600, poll=3)
        finally:
            rc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
