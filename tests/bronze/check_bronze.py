"""Independent readers of the bronze table written by config/bronze.yaml.

usage: check_bronze.py TABLE EXPECTED_JSON TOPIC

delta-rs and DuckDB (neither shares code with our Go writer) must each read every
well-formed record exactly once (count and the set of (partition, offset)), with the
table's types, and prune by day: a query on one event_date reads only that day's files.
Exits 1 on the first disagreement. The readers come from tests/interop (setup.sh).
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "interop"))

from deltalake import DeltaTable  # noqa: E402
from readers import add_actions, duck  # noqa: E402


def fail(msg: str) -> None:
    print(f"FAIL: {msg}")
    sys.exit(1)


def check_rows(reader: str, pairs: list[tuple[int, int]], want: set[tuple[int, int]]) -> None:
    dups = [p for p, n in Counter(pairs).items() if n > 1]
    if dups:
        fail(f"{reader}: {len(dups)} records more than once, e.g. {dups[:3]}")
    if set(pairs) != want:
        missing, extra = want - set(pairs), set(pairs) - want
        fail(f"{reader}: {len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} unexpected (e.g. {sorted(extra)[:3]})")
    print(f"{reader}: {len(pairs)} rows, every well-formed record exactly once")


def main() -> None:
    table, exp_path, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    exp = json.loads(Path(exp_path).read_text())
    want = {(p["partition"], p["offset"]) for p in exp["good"]}
    per_day: dict[str, int] = exp["per_day"]

    # ---- delta-rs
    dt = DeltaTable(table)
    if dt.metadata().partition_columns != ["event_date"]:
        fail(f"delta-rs: partition columns {dt.metadata().partition_columns}")
    types = {f.name: str(f.type) for f in dt.schema().fields}
    for col, typ in {"rideId": "long", "ts": "timestamp", "event_date": "date", "kafka_partition": "integer",
                     "kafka_offset": "long", "kafka_timestamp": "timestamp", "city": "string"}.items():
        if typ not in types.get(col, "").lower():
            fail(f"delta-rs: column {col} has type {types.get(col)}, want {typ}")
    t = dt.to_pyarrow_table()
    if str(t.schema.field("ts").type) != "timestamp[us, tz=UTC]":
        fail(f"delta-rs: ts reads as {t.schema.field('ts').type}, want timestamp[us, tz=UTC]")
    rows = t.to_pylist()
    check_rows("delta-rs", [(r["kafka_partition"], r["kafka_offset"]) for r in rows], want)
    for r in rows:  # the partition value is the UTC day of ts
        if r["event_date"] != r["ts"].astimezone(timezone.utc).date() or r["kafka_topic"] != topic:
            fail(f"delta-rs: row {r} has event_date/topic inconsistent with ts/{topic}")
    # The txn per Kafka partition is the highest offset written from it.
    for part in {p for p, _ in want}:
        top = max(o for p, o in want if p == part)
        got = dt.transaction_version(f"rides_bronze-{topic}-{part}")
        if got is None or got < top:
            fail(f"delta-rs: txn of partition {part} is {got}, want >= {top} (the highest offset written)")

    # Partition pruning by day: the files delta-rs selects for a day are exactly
    # that day's add actions, and reading the day gives that day's rows.
    adds = add_actions(dt)
    all_files = len(adds)
    for day, n in sorted(per_day.items()):
        own = {a["path"] for a in adds if str(a["partition.event_date"]) == day}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            picked = dt.file_uris(partition_filters=[("event_date", "=", day)])
        if len(picked) != len(own) or not own or len(own) >= all_files:
            fail(f"delta-rs: {day}: {len(picked)} files selected, the day has {len(own)} of {all_files}")
        if not all(any(u.endswith(p) or u.endswith(p.replace("%3A", ":")) for p in own) for u in picked):
            fail(f"delta-rs: {day}: files outside the day selected: {picked[:3]}")
        got = dt.to_pyarrow_table(filters=[("event_date", "=", date.fromisoformat(day))]).num_rows
        if got != n:
            fail(f"delta-rs: {day}: {got} rows, want {n}")
        print(f"delta-rs: {day}: {n} rows from {len(own)} of {all_files} files")

    # ---- DuckDB (delta extension)
    con = duck()
    scan = f"delta_scan('{table}')"
    pairs = [(p, o) for p, o in con.execute(f"SELECT kafka_partition, kafka_offset FROM {scan}").fetchall()]
    check_rows("duckdb", pairs, want)
    kinds = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {scan})").fetchall())
    if kinds.get("ts") != "TIMESTAMP WITH TIME ZONE" or kinds.get("event_date") != "DATE":
        fail(f"duckdb: ts is {kinds.get('ts')}, event_date is {kinds.get('event_date')}")
    for day, n in sorted(per_day.items()):
        got = con.execute(f"SELECT count(*) FROM {scan} WHERE event_date = DATE '{day}'").fetchone()[0]
        if got != n:
            fail(f"duckdb: {day}: {got} rows, want {n}")
        plan = con.execute(f"EXPLAIN ANALYZE SELECT count(*) FROM {scan} WHERE event_date = DATE '{day}'").fetchall()[0][1]
        m = re.search(r"Total Files Read:\s*(\d+)", plan)
        own = sum(1 for a in adds if str(a["partition.event_date"]) == day)
        if not m or int(m.group(1)) != own:
            fail(f"duckdb: {day}: read {m.group(1) if m else '?'} files, the day has {own} of {all_files}:\n{plan}")
        print(f"duckdb: {day}: {n} rows, read {own} of {all_files} files")
    first = con.execute(f"SELECT min(ts), max(ts) FROM {scan} WHERE event_date = DATE '{min(per_day)}'").fetchone()
    lo = datetime.combine(date.fromisoformat(min(per_day)), datetime.min.time(), timezone.utc)
    if not (lo <= first[0] <= first[1] < lo.replace(day=lo.day + 1)):
        fail(f"duckdb: ts range of {min(per_day)} is {first}")
    print("check_bronze: all checks passed")


if __name__ == "__main__":
    main()
