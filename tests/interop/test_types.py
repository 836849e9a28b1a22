"""Every supported column type, edge values and nulls, partitioned by a string
that needs escaping: delta-rs and DuckDB return exactly the values sent."""

from __future__ import annotations

import datetime as dt

import deltalake
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


def test_partition_columns_of_other_types(store, binary, tmp_path):
    """Timestamp (with microseconds, and before 1970), long, boolean, decimal
    and date partition values, and nulls, read back by delta-rs and DuckDB."""
    f = pipelines.write_jsonl(tmp_path / "parts.jsonl", alltypes.PART_INPUT)
    cfg = alltypes.config(f, store.uri("parts"), s3=store.writer_s3, schema=alltypes.PART_SCHEMA,
                          partition=alltypes.PART_COLUMNS, batch=len(alltypes.PART_INPUT))
    harness.run_benthos(binary, cfg, tmp_path / "cfg", env=store.env)

    assert alltypes.by_id(r.duck_rows(r.duck(store), store.uri("parts"))) == alltypes.PART_EXPECTED
    table = store.table("parts")
    assert table.metadata().partition_columns == alltypes.PART_COLUMNS
    try:
        rows = r.rows_of(table)
    except Exception as e:
        if "0.-1" in str(e):  # the log holds "-0.01"; delta-rs renders it "0.-1"
            pytest.xfail(f"delta-rs {deltalake.__version__} cannot parse the decimal partition value -0.01 "
                         f"(nor write one: 'Failed to parse value '0.-1' as 'decimal(5,2)''): {e}")
        raise
    assert alltypes.by_id(rows) == alltypes.PART_EXPECTED


def test_stats_edges_do_not_hide_rows(store, binary, tmp_path):
    """A pre-1970 timestamp one microsecond before a millisecond boundary
    (the min stat must round down, not toward zero) and long strings that
    differ after 40 characters (stats may truncate strings): filters that
    skip files by stats must still return these rows."""
    long_a, long_b = "z" * 40 + "a", "z" * 40 + "b"
    rows = [
        {"id": 1, "g": "pre", "s": "x", "ts": "1969-12-31T23:59:59.999999Z"},
        {"id": 2, "g": "long", "s": long_a, "ts": "2026-01-01T00:00:00Z"},
        {"id": 3, "g": "long", "s": long_b, "ts": "2026-01-01T00:00:00.000001Z"},
    ]
    schema = [{"name": "id", "type": "long", "nullable": False}, {"name": "g", "type": "string"},
              {"name": "s", "type": "string"}, {"name": "ts", "type": "timestamp"}]
    f = pipelines.write_jsonl(tmp_path / "edges.jsonl", rows)
    harness.run_benthos(binary, alltypes.config(f, store.uri("edges"), s3=store.writer_s3, schema=schema,
                                                partition=["g"], batch=len(rows)), tmp_path / "cfg", env=store.env)

    pre = dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone.utc)
    uri = store.uri("edges")
    con = r.duck(store)
    assert con.execute(f"SELECT id FROM delta_scan('{uri}') WHERE ts = TIMESTAMPTZ '{pre.isoformat()}'").fetchall() == [(1,)]
    assert con.execute(f"SELECT id FROM delta_scan('{uri}') WHERE s = '{long_b}'").fetchall() == [(3,)]
    assert con.execute(f"SELECT id FROM delta_scan('{uri}') WHERE s > '{long_a}'").fetchall() == [(3,)]

    dset = store.table("edges").to_pyarrow_dataset()
    assert dset.to_table(filter=ds.field("ts") == pre).column("id").to_pylist() == [1]
    assert dset.to_table(filter=ds.field("s") == long_b).column("id").to_pylist() == [3]
    assert dset.to_table(filter=ds.field("s") > long_a).column("id").to_pylist() == [3]
