"""Known input rows and the Benthos configs that write them with `delta_lake`.

The rows look like the rides job's output (one row per city and 5-minute
window). Each emission sequence gets `per_seq` rows and the output batches by
exactly that count, so one batch = one sequence = one commit, as the window
processor's emissions would be.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

APP_ID = "rides_agg"

SCHEMA = [
    {"name": "city", "type": "string"},
    {"name": "window_start", "type": "timestamp", "nullable": False},
    {"name": "window_end", "type": "timestamp", "nullable": False},
    {"name": "revenue", "type": "double"},
    {"name": "avg_distance", "type": "double"},
    {"name": "cnt", "type": "long", "nullable": False},
]
DATE_COLUMN = {"name": "date", "type": "date"}
COLUMNS = [c["name"] for c in SCHEMA]

# Non-ASCII names on purpose: stats min/max and partition paths must survive them.
CITIES = ["PARIS", "LYON", "SÃO PAULO", "ZÜRICH", "ŁÓDŹ", "NEW YORK", "KØBENHAVN"]
BASE = dt.datetime(2026, 11, 26, 23, 40, tzinfo=dt.timezone.utc)
WINDOW = dt.timedelta(minutes=5)


def iso_ms(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def make_rows(seqs, per_seq: int, with_date: bool = False, seed: int = 7) -> list[dict]:
    """Deterministic rows for the given emission sequences. Sequence s covers
    window BASE + (s-1)*5min, so tables spanning > 4 sequences cross midnight
    (two `date` partitions). Some avg_distance values are null."""
    rng = random.Random(seed)
    rows = []
    for s in seqs:
        start = BASE + (s - 1) * WINDOW
        for k, city in enumerate(rng.sample(CITIES, per_seq)):
            cnt = rng.randint(1, 500)
            row = {
                "city": city,
                "window_start": iso_ms(start),
                "window_end": iso_ms(start + WINDOW),
                "revenue": round(rng.uniform(5, 5000), 2),
                "avg_distance": None if (s + k) % 5 == 0 else round(rng.uniform(0.3, 40), 3),
                "cnt": cnt,
                "seq": s,
            }
            if with_date:
                row["date"] = start.date().isoformat()
            rows.append(row)
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


# What the window processor would set: the emission sequence as metadata.
SEQ_MAPPING = 'meta window_emit_seq = this.seq.string()\nroot = this.without("seq")'
# What kafka_franz would set, for the kafka idempotency mode: seq -> partition
# seq % 2 and an offset that grows per partition.
KAFKA_MAPPING = """meta kafka_topic = "rides"
meta kafka_partition = (this.seq % 2).string()
meta kafka_offset = (this.seq * 10 + this.k).string()
root = this.without("seq", "k")"""


def delta_config(rows_file: Path, table_uri: str, per_batch: int, *, with_date: bool = False,
                 s3: dict | None = None, table_properties: dict | None = None,
                 idempotency: dict | None = None, mapping: str = SEQ_MAPPING,
                 overrides: dict | None = None, threads: int = 1) -> dict:
    """A whole Benthos config: file input -> set window_emit_seq -> delta_lake."""
    out = {
        "path": table_uri,
        "schema": SCHEMA + ([DATE_COLUMN] if with_date else []),
        "partition_columns": ["date"] if with_date else [],
        "table_properties": table_properties or {},
        "idempotency": idempotency or {"mode": "sequence", "app_id": APP_ID},
        "compression": "zstd",
        # Flush by count only; the period is a backstop for the last batch.
        "batching": {"count": per_batch, "period": "5s"},
    }
    if s3:
        out["s3"] = s3
    out.update(overrides or {})
    return {
        "http": {"enabled": False},
        "logger": {"level": "WARN", "format": "logfmt"},
        "metrics": {"none": {}},
        "input": {"file": {"paths": [str(rows_file)]}},
        "pipeline": {
            # One thread keeps the input order, so batches hold one sequence each.
            "threads": threads,
            "processors": [{"mapping": mapping}],
        },
        "output": {"delta_lake": out},
    }


# ---- canonical form of rows, to compare what readers return with what we wrote


def _micros(v) -> int:
    if isinstance(v, int):  # already epoch microseconds (Spark's unix_micros)
        return v
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    if v.tzinfo is None:  # readers that drop the zone return UTC wall time
        v = v.replace(tzinfo=dt.timezone.utc)
    d = v - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def _date(v) -> str:
    return v if isinstance(v, str) else v.isoformat()


def canon(row: dict) -> tuple:
    t = (
        row["city"],
        _micros(row["window_start"]),
        _micros(row["window_end"]),
        row["revenue"],
        row["avg_distance"],
        row["cnt"],
    )
    if "date" in row and row["date"] is not None:
        t += (_date(row["date"]),)
    return t


def canon_all(rows) -> list[tuple]:
    # repr as the key: duplicates (a bug we look for) hold None, which does not order.
    return sorted((canon(r) for r in rows), key=repr)
