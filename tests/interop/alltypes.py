"""A table with every column type the `delta_lake` output supports, edge values
included, partitioned by a string whose values need escaping in paths."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

UTC = dt.timezone.utc

SCHEMA = [
    {"name": "id", "type": "long", "nullable": False},
    {"name": "s", "type": "string"},
    {"name": "l", "type": "long"},
    {"name": "i", "type": "integer"},
    {"name": "sh", "type": "short"},
    {"name": "b", "type": "byte"},
    {"name": "d", "type": "double"},
    {"name": "f", "type": "float"},
    {"name": "bo", "type": "boolean"},
    {"name": "bin", "type": "binary"},
    {"name": "dt", "type": "date"},
    {"name": "ts", "type": "timestamp"},
    {"name": "dec", "type": "decimal(12,2)"},
    {"name": "dec38", "type": "decimal(38,6)"},
    {"name": "p", "type": "string"},
]
NAMES = [c["name"] for c in SCHEMA]
PARTITION = ["p"]

# (JSON value sent to the writer, value a reader should return)
_ROWS = [
    {
        "id": (1, 1), "s": ("héllo ✓", "héllo ✓"),
        "l": (9223372036854775807, 9223372036854775807), "i": (2147483647, 2147483647),
        "sh": (32767, 32767), "b": (127, 127), "d": (1.5e300, 1.5e300), "f": (3.25, 3.25),
        "bo": (True, True), "bin": (base64.b64encode(b"\x00\xffab").decode(), b"\x00\xffab"),
        "dt": ("2026-02-28", dt.date(2026, 2, 28)),
        # Microsecond precision: stats keep milliseconds, the data must not.
        "ts": ("2026-11-26T23:59:59.999999Z", dt.datetime(2026, 11, 26, 23, 59, 59, 999999, tzinfo=UTC)),
        "dec": ("12345678.91", Decimal("12345678.91")),
        "dec38": ("-12345678901234567890123456789012.123456", Decimal("-12345678901234567890123456789012.123456")),
        "p": ("a b/c=d%e", "a b/c=d%e"),
    },
    {
        "id": (2, 2), "s": ("", ""),
        "l": (-9223372036854775808, -9223372036854775808), "i": (-2147483648, -2147483648),
        "sh": (-32768, -32768), "b": (-128, -128), "d": (-2.5e-300, -2.5e-300), "f": (-1.5, -1.5),
        "bo": (False, False), "bin": ("", b""),
        "dt": ("1970-01-01", dt.date(1970, 1, 1)),
        "ts": ("1969-12-31T23:59:59.5Z", dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)),
        "dec": ("-0.01", Decimal("-0.01")), "dec38": ("0", Decimal("0.000000")),
        "p": ("ünï", "ünï"),
    },
    {
        "id": (3, 3), **{n: (None, None) for n in NAMES if n != "id"},
    },
    {
        "id": (4, 4), "s": ("x", "x"), "l": (0, 0), "i": (0, 0), "sh": (0, 0), "b": (0, 0),
        "d": (0.1, 0.1), "f": (0.5, 0.5), "bo": (True, True), "bin": (base64.b64encode(b"z").decode(), b"z"),
        "dt": ("2000-02-29", dt.date(2000, 2, 29)),
        "ts": (1764201600123, dt.datetime(2025, 11, 27, 0, 0, 0, 123000, tzinfo=UTC)),  # epoch ms
        "dec": (7, Decimal("7.00")), "dec38": ("1.5", Decimal("1.500000")),
        "p": ("a b/c=d%e", "a b/c=d%e"),
    },
]

INPUT = [{k: v[0] for k, v in r.items()} for r in _ROWS]
EXPECTED = {r["id"][1]: {k: v[1] for k, v in r.items()} for r in _ROWS}


def normalise(row: dict) -> dict:
    """Reader values in one form: aware UTC datetimes, bytes."""
    out = dict(row)
    ts = out.get("ts")
    if isinstance(ts, int):  # Spark's unix_micros
        out["ts"] = dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=ts)
    elif isinstance(ts, dt.datetime):
        out["ts"] = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    if isinstance(out.get("bin"), (bytearray, memoryview)):
        out["bin"] = bytes(out["bin"])
    return out


def by_id(rows) -> dict:
    return {r["id"]: normalise(r) for r in rows}


def config(rows_file, table_uri: str, s3: dict | None = None, schema=SCHEMA, partition=PARTITION,
           batch: int = len(INPUT)) -> dict:
    out = {
        "path": table_uri, "schema": schema, "partition_columns": partition,
        "idempotency": {"mode": "none"}, "batching": {"count": batch, "period": "5s"},
    }
    if s3:
        out["s3"] = s3
    return {
        "http": {"enabled": False},
        "logger": {"level": "WARN", "format": "logfmt"},
        "metrics": {"none": {}},
        "input": {"file": {"paths": [str(rows_file)]}},
        "output": {"delta_lake": out},
    }


# Partition columns of other types: their values go through the log's string
# form (PROTOCOL.md "Partition Value Serialization") and back.
PART_SCHEMA = [
    {"name": "id", "type": "long", "nullable": False},
    {"name": "ts", "type": "timestamp"},
    {"name": "n", "type": "long"},
    {"name": "bo", "type": "boolean"},
    {"name": "dec", "type": "decimal(5,2)"},
    {"name": "dt", "type": "date"},
]
PART_COLUMNS = ["ts", "n", "bo", "dec", "dt"]
_PART_ROWS = [
    {"id": (1, 1), "ts": ("2026-11-26T10:00:00.123456Z", dt.datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)),
     "n": (-5, -5), "bo": (True, True), "dec": ("1.50", Decimal("1.50")), "dt": ("2026-11-26", dt.date(2026, 11, 26))},
    {"id": (2, 2), "ts": ("1969-12-31T23:59:59Z", dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
     "n": (9223372036854775807, 9223372036854775807), "bo": (False, False), "dec": ("-0.01", Decimal("-0.01")),
     "dt": ("1900-01-01", dt.date(1900, 1, 1))},
    {"id": (3, 3), **{n: (None, None) for n in PART_COLUMNS}},
]
PART_INPUT = [{k: v[0] for k, v in r.items()} for r in _PART_ROWS]
PART_EXPECTED = {r["id"][1]: {k: v[1] for k, v in r.items()} for r in _PART_ROWS}
