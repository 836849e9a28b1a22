"""DuckDB's delta extension (delta_scan, built on delta-kernel-rs) reads our
tables, local and over S3. The extension and httpfs come from their PyPI
wheels and are loaded by path: nothing is downloaded at run time."""

from __future__ import annotations

import readers as r
from pipelines import canon_all, make_rows


def test_delta_scan_reads_our_rows(store, write_ours):
    rows = make_rows(range(1, 6), per_seq=3)
    write_ours(store, "duck", rows, per_seq=3)

    con = r.duck(store)
    assert canon_all(r.duck_rows(con, store.uri("duck"))) == canon_all(rows)
    # Column types as DuckDB maps the Delta schema.
    described = con.execute(f"DESCRIBE SELECT * FROM delta_scan('{store.uri('duck')}')").fetchall()
    types = {row[0]: row[1] for row in described}
    assert types == {
        "city": "VARCHAR", "window_start": "TIMESTAMP WITH TIME ZONE", "window_end": "TIMESTAMP WITH TIME ZONE",
        "revenue": "DOUBLE", "avg_distance": "DOUBLE", "cnt": "BIGINT",
    }


def test_delta_scan_partitioned_and_filtered(store, write_ours):
    rows = make_rows(range(1, 9), per_seq=2, with_date=True)
    write_ours(store, "duckpart", rows, per_seq=2, with_date=True)

    con = r.duck(store)
    uri = store.uri("duckpart")
    assert canon_all(r.duck_rows(con, uri)) == canon_all(rows)
    for day in sorted({row["date"] for row in rows}):
        got = con.execute(
            f"SELECT count(*), sum(cnt) FROM delta_scan('{uri}') WHERE date = DATE '{day}'").fetchone()
        want = [row for row in rows if row["date"] == day]
        assert got == (len(want), sum(row["cnt"] for row in want)), day
