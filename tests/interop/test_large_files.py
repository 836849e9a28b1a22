"""One large batch (5000 rows with nulls, past parquet-go's 1024-row encoding
chunks) split into several files by target_file_size: readers get every row,
each file's stats match its contents."""

from __future__ import annotations

import datetime as dt
import random

import readers as r
from pipelines import BASE, CITIES, COLUMNS, canon_all, iso_ms

N = 5000


def _rows() -> list[dict]:
    rng = random.Random(5000)
    rows = []
    for i in range(N):
        start = BASE + dt.timedelta(milliseconds=i)
        rows.append({
            "city": None if i % 7 == 0 else CITIES[i % len(CITIES)],
            "window_start": iso_ms(start),
            "window_end": iso_ms(start + dt.timedelta(minutes=5)),
            "revenue": round(rng.uniform(-10, 10_000), 2),
            "avg_distance": None if i % 5 == 0 else rng.random() * 40,
            "cnt": i,
            "seq": 1,
        })
    return rows


def test_large_batch_split_into_files(store, write_ours):
    rows = _rows()
    write_ours(store, "large", rows, per_seq=N, overrides={"target_file_size": "32KiB"})

    table = store.table("large")
    assert table.version() == 1  # one commit for the one batch
    adds = r.add_actions(table)
    assert len(adds) > 1, "target_file_size did not split the batch"
    assert canon_all(r.rows_of(table)) == canon_all(rows)
    assert canon_all(r.duck_rows(r.duck(store), store.uri("large"))) == canon_all(rows)

    for a in adds:
        data = r.parquet_of(store.disk("large"), a["path"])
        assert a["num_records"] == data.num_rows
        for col in COLUMNS:
            values = data.column(col).to_pylist()
            present = [v for v in values if v is not None]
            assert a[f"null_count.{col}"] == len(values) - len(present), col
            assert (a[f"min.{col}"], a[f"max.{col}"]) == (min(present), max(present)), col
