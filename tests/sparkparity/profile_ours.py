"""CPU profile of rides-connect draining the benchmark's topic (bench.generate, 6 partitions):
config/rides.yaml plus `http.debug_endpoints: true`, a 20 s /debug/pprof/profile taken once
100 000 rows are aggregated. Run by profile.sh (which starts the broker); writes <work>/cpu.pprof."""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402
import engines  # noqa: E402
import rides  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("-n", type=int, default=2_000_000)
    ap.add_argument("--seconds", type=int, default=20)
    a = ap.parse_args()
    bs = os.environ["KAFKA_PLAINTEXT"]
    recs, _, _ = bench.generate(a.n, 6, 60, seed=42)
    rides.create_topics(bs, {"prof": 6, "prof_dlq": 1})
    rides.produce(bs, "prof", recs)
    del recs
    old = "http:\n  address: ${HTTP_ADDRESS:0.0.0.0:4195}\n"
    text = engines.CONFIG.read_text()
    if old not in text:
        raise SystemExit(f"{engines.CONFIG}: its http block changed; update profile_ours.py")
    cfg = a.work / "rides_debug.yaml"
    cfg.write_text(text.replace(old, old + "  debug_endpoints: true\n"))
    rc = engines.RidesConnect(bs, a.work / "table", a.work / "ckpt", a.work / "ours.log", "prof_dlq",
                              "profile", topic="prof", config=cfg)
    rc.env["LOG_LEVEL"] = "WARN"
    rc.start()
    try:
        rc.wait_until(lambda m: m.get("window_input_rows_total", 0) > 100_000, "100 000 rows", timeout=120)
        url = f"http://127.0.0.1:{rc.port}/debug/pprof/profile?seconds={a.seconds}"
        with urllib.request.urlopen(url, timeout=a.seconds + 30) as r:
            (a.work / "cpu.pprof").write_bytes(r.read())
        m = rc.metrics()
        print(f"profile: {a.seconds} s while rows aggregated went to {int(m.get('window_input_rows_total', 0))}",
              file=sys.stderr)
    finally:
        rc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
