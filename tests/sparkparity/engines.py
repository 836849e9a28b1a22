"""Running our binary on config/rides.yaml, watching its /metrics, and reading the result
tables with delta-rs (the `deltalake` package: shares no code with either engine)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CONFIG = REPO / "config" / "rides.yaml"


def binary() -> Path:
    """RIDES_CONNECT_BIN, else bin/rides-connect (run.sh builds it when missing)."""
    p = Path(os.environ.get("RIDES_CONNECT_BIN", REPO / "bin" / "rides-connect")).resolve()
    if not p.is_file():
        raise RuntimeError(f"{p} not found: build it with `go build -o bin/rides-connect ./cmd/rides-connect`")
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# rides.yaml's security settings: PLAINTEXT here, whatever the caller's environment holds.
_SECURITY_ENV = {"KAFKA_SASL_MECHANISM", "KAFKA_USER", "KAFKA_PASS", "KAFKA_TLS", "KAFKA_TRUSTSTORE",
                 "KAFKA_TRUSTSTORE_PASSWORD"}

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


_LABEL = re.compile(r'label="([^"]*)"')


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {name: sum over all label sets}, and {name@label: the same over the series
    of one component label} (config/rides.yaml's two windows: window_local, window_merge)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
            if m.group(2) and (lab := _LABEL.search(m.group(2))):
                key = f"{m.group(1)}@{lab.group(1)}"
                out[key] = out.get(key, 0.0) + float(m.group(3))
    return out


class RidesConnect:
    """`rides-connect -c config/rides.yaml` with the config's own env variables."""

    def __init__(self, bootstrap: str, out: Path, checkpoint: Path, log: Path, dlq_topic: str,
                 group: str, topic: str = "rides", config: Path = CONFIG):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in _SECURITY_ENV}
        self.env = dict(env, KAFKA_BOOTSTRAP=bootstrap, KAFKA_TOPIC=topic, KAFKA_GROUP=group,
                        KAFKA_START="earliest", OUT_DELTA=str(out), CHECKPOINT=str(checkpoint),
                        DLQ_TOPIC=dlq_topic, HTTP_ADDRESS=f"127.0.0.1:{self.port}", LOG_LEVEL="INFO",
                        WATERMARK_IDLE_TIMEOUT="0s")  # exact tables: no processing-time idleness
        self.log = log
        self.config = config
        self.bin: Path | None = None  # None: binary()
        self.proc: subprocess.Popen | None = None

    def start(self, cmd_prefix: list[str] | None = None) -> "RidesConnect":
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen([*(cmd_prefix or []), str(self.bin or binary()), "-c", str(self.config)],
                                     env=self.env, stdout=self._logf, stderr=subprocess.STDOUT)
        return self

    def metrics(self) -> dict[str, float]:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                return parse_metrics(r.read().decode())
        except OSError:
            return {}

    def wait_until(self, cond, what: str, timeout: float = 120.0, poll: float = 0.2) -> dict:
        """Polls /metrics until cond(metrics) holds (a condition with a deadline, not a sleep
        for time to pass); fails with the last metrics and the log tail."""
        deadline = time.monotonic() + timeout
        m: dict = {}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rides-connect exited with {self.proc.returncode} waiting for {what}\n{self.tail()}")
            m = self.metrics()
            if m and cond(m):
                return m
            time.sleep(poll)
        keys = {k: v for k, v in m.items() if k.startswith(("window_", "delta_", "dead_letter", "kafka_"))}
        raise TimeoutError(f"rides-connect: no {what} after {timeout}s; metrics {keys}\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 30 s; this process's PID only. Idempotent."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logf.close()
        return self.proc.returncode


def drained(valid_rows: int, dead_letters: int):
    """Condition on our metrics: every valid row aggregated, every rejected record dead-lettered,
    and every emitted window row committed to Delta."""
    def cond(m: dict) -> bool:
        return (m.get("window_input_rows_total", 0) >= valid_rows
                and m.get("dead_letter_rows_total", 0) >= dead_letters
                and m.get("window_emitted_rows_total", 0) > 0
                and m.get("delta_rows_written_total", 0) + m.get("delta_rows_skipped_total", 0)
                >= m.get("window_emitted_rows_total", 0))
    return cond


def read_table(path: Path) -> dict:
    """{(city[, userId], win_start, win_end): (revenue, avg_distance, cnt)} of a Delta table, read by
    delta-rs; fails if a key appears twice (a window written twice)."""
    from deltalake import DeltaTable

    t = DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    out = {}
    for r in t:
        # A table grouped by (city, userId) (bench.py --group-by-user) has the userId in its key.
        k = (r["city"], r["userId"], r["win_start"], r["win_end"]) if "userId" in r else (r["city"], r["win_start"], r["win_end"])
        if k in out:
            raise AssertionError(f"{path}: window {k} written twice: {out[k]} and {r}")
        out[k] = (r["revenue"], r["avg_distance"], r["cnt"])
    return out


def close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def diff_tables(got: dict, want: dict, rel: float = 1e-9) -> list[str]:
    """Human-readable differences: missing/extra windows, cnt, and doubles beyond rel."""
    out = []
    for k in sorted(set(want) - set(got), key=str):
        out.append(f"missing {k}: want {want[k]}")
    for k in sorted(set(got) - set(want), key=str):
        out.append(f"extra {k}: got {got[k]}")
    for k in sorted(set(got) & set(want), key=str):
        (gr, ga, gc), (wr, wa, wc) = got[k], want[k]
        if gc != wc or not close(gr, wr, rel) or not close(ga, wa, rel):
            out.append(f"{k}: got {got[k]}, want {want[k]}")
    return out
