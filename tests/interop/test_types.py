"""Every supported column type, edge values and nulls, partitioned by a string
that needs escaping: delta-rs and DuckDB return exactly the values sent."""

from __future__ import annotations

import datetime as dt

import pyarrow.dataset as ds
import pytest

import alltypes
import harness
import pipelines
import readers as r

MAX_TS = alltypes.EXPECTED[1]["ts"]  # 23:59:59.999999: above its ms-truncated max stat


@pytest.fixture
def typed_table(store, binary, tmp_path):
    f = pipelines.write_jsonl(tmp_path / "types.jsonl", alltypes.INPUT)
    harness.run_benthos(binary, alltypes.config(f, store.uri("types"), s3=store.writer_s3),
                        tmp_path / "cfg", env=store.env)
    return store


def test_delta_rs_reads_every_type(typed_table):
    table = typed_table.table("types")
    assert alltypes.by_id(r.rows_of(table)) == alltypes.EXPECTED
    assert table.metadata().partition_columns == ["p"]
    parts = {a["partition.p"] for a in r.add_actions(table)}
    assert parts == {"a b/c=d%e", "ünï", None}


def test_duckdb_reads_every_type(typed_table):
    rows = r.duck_rows(r.duck(typed_table), typed_table.uri("types"))
    assert alltypes.by_id(rows) == alltypes.EXPECTED


def test_filters_on_stats_do_not_lose_rows(typed_table):
    """Readers skip files by min/max stats; a microsecond timestamp above the
    millisecond max stat and a partition value with /, = and % must still match."""
    uri = typed_table.uri("types")
    con = r.duck(typed_table)
    got = con.execute(f"SELECT id FROM delta_scan('{uri}') WHERE ts = TIMESTAMPTZ '{MAX_TS.isoformat()}'").fetchall()
    assert got == [(1,)], "DuckDB lost the row whose timestamp is above the ms max stat"
    got = sorted(con.execute(f"SELECT id FROM delta_scan('{uri}') WHERE p = 'a b/c=d%e'").fetchall())
    assert got == [(1,), (4,)]

    table = typed_table.table("types")
    dset = table.to_pyarrow_dataset()
    assert dset.to_table(filter=ds.field("ts") == MAX_TS).column("id").to_pylist() == [1]
    assert sorted(dset.to_table(filter=ds.field("p") == "a b/c=d%e").column("id").to_pylist()) == [1, 4]
    assert sorted(dset.to_table(filter=ds.field("dt") < dt.date(2000, 3, 1)).column("id").to_pylist()) == [2, 4]
