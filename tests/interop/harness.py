"""Plumbing for the Delta interop tier: build and run our binary, start versitygw.

Nothing here reads Delta: the checks use independent readers (delta-rs,
DuckDB, Spark) in the test modules.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE_BIN = REPO / ".cache" / "bin"
BINARY = CACHE_BIN / "rides-connect"
VERSITYGW = CACHE_BIN / "versitygw"

S3_ACCESS_KEY = "interopkey"
S3_SECRET_KEY = "interopsecret123"
S3_REGION = "us-east-1"


def build_binary() -> Path:
    """go build the product binary once; returns its path. RIDES_CONNECT_BIN
    names an already built binary to use instead."""
    if os.environ.get("RIDES_CONNECT_BIN"):
        return Path(os.environ["RIDES_CONNECT_BIN"]).resolve()
    res = subprocess.run(
        ["go", "build", "-o", str(BINARY), "./cmd/rides-connect"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(f"go build ./cmd/rides-connect failed:\n{res.stderr}")
    return BINARY


def has_output(binary: Path, name: str) -> bool:
    """True when the binary registers the named Benthos output."""
    res = subprocess.run(
        [str(binary), "list", "--format", "json", "outputs"],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(f"{binary} list outputs failed: {res.stderr}")
    return name in json.loads(res.stdout).get("outputs", [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Poll until 127.0.0.1:port accepts a connection (not a sleep for time
    to pass: a readiness poll with a deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class VersityGW:
    """versitygw with the posix backend: bucket = directory under root,
    object = plain file, so a table written over S3 is also on disk."""

    def __init__(self, root: Path, log: Path):
        self.root = root
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        root.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [
                str(VERSITYGW),
                "--port", f"127.0.0.1:{self.port}",
                "--access", S3_ACCESS_KEY,
                "--secret", S3_SECRET_KEY,
                "posix", str(root),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, self.proc)
        except Exception:
            self.stop()
            raise

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            region_name=S3_REGION,
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def stop(self) -> None:
        """Stop the server we started, by its PID only."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def s3_env() -> dict:
    """Credentials for our writer through the AWS default chain."""
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=S3_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=S3_SECRET_KEY,
        AWS_REGION=S3_REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def write_config(config: dict, workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    n = len(list(workdir.glob("pipeline-*.yaml")))
    cfg = workdir / f"pipeline-{n}.yaml"
    cfg.write_text(json.dumps(config, indent=2))
    return cfg


def start_benthos(binary: Path, cfg: Path, log: Path, env: dict | None = None) -> subprocess.Popen:
    """Start `rides-connect run cfg` in the background (for crash tests)."""
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([str(binary), "run", str(cfg)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL a process we started, by its PID: a crash, no shutdown."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def run_benthos(binary: Path, config: dict, workdir: Path, env: dict | None = None,
                timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Lint then run a pipeline config (JSON is YAML) until its input ends."""
    cfg = write_config(config, workdir)
    lint = subprocess.run([str(binary), "lint", str(cfg)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if lint.returncode != 0:
        raise AssertionError(f"lint {cfg} failed:\n{lint.stdout}{lint.stderr}")
    res = subprocess.run([str(binary), "run", str(cfg)], capture_output=True, text=True,
                         env=env, timeout=timeout)
    if res.returncode != 0:
        raise AssertionError(
            f"rides-connect run {cfg} exited {res.returncode}:\n{res.stdout}{res.stderr}")
    return res


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> {series name: value summed over label sets}."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        out[name] = out.get(name, 0.0) + float(value)
    return out


def run_scraped(binary: Path, config: dict, workdir: Path, env: dict | None, until, timeout: float = 60.0):
    """Run a pipeline with the prometheus exporter on a free 127.0.0.1 port
    and a shutdown_delay, poll /metrics until until(metrics) holds (the
    pipeline's work is done), then stop the process. Returns the metrics."""
    import urllib.request

    port = free_port()
    config = dict(config, http={"enabled": True, "address": f"127.0.0.1:{port}"},
                  metrics={"prometheus": {}}, shutdown_delay=f"{int(timeout)}s")
    cfg = write_config(config, workdir)
    log = workdir / (cfg.stem + ".log")
    proc = start_benthos(binary, cfg, log, env=env)
    deadline = time.monotonic() + timeout
    metrics: dict[str, float] = {}
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                metrics = parse_metrics(body)
                if until(metrics):
                    return metrics
            except OSError:
                pass  # not listening yet
            time.sleep(0.1)  # readiness poll with a deadline
    finally:
        kill(proc)
    raise AssertionError(f"metrics never satisfied the condition; last scrape {metrics}\n{log.read_text()}")
