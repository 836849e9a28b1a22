"""delta-rs (`deltalake`) reads tables our `delta_lake` output wrote, local and
over S3 (versitygw): rows, versions, history, txn, schema, add-action stats,
partitions."""

from __future__ import annotations

import datetime as dt
import json
import time

import pyarrow as pa
import pyarrow.parquet as pq

import readers as r
from pipelines import APP_ID, BASE, COLUMNS, WINDOW, canon_all, make_rows


def _seq_of(window_start) -> int:
    return (window_start - BASE) // WINDOW + 1


def test_rows_version_history_and_txn(store, write_ours):
    rows = make_rows(range(1, 5), per_seq=3)
    write_ours(store, "agg", rows, per_seq=3)

    table = store.table("agg")
    assert canon_all(r.rows_of(table)) == canon_all(rows)

    commits = r.commit_files(store.disk("agg"))
    assert [int(c.stem) for c in commits] == list(range(len(commits))), "versions must be contiguous from 0"
    assert table.version() == len(commits) - 1

    hist = {h["version"]: h for h in table.history()}
    assert sorted(hist) == list(range(table.version() + 1))
    for v, h in hist.items():
        assert "rides-connect" in h.get("engineInfo", ""), f"commit {v} engineInfo: {h}"
    # Operation names as Spark's streaming Delta sink writes them.
    assert hist[0]["operation"] == "CREATE TABLE"
    assert {h["operation"] for v, h in hist.items() if v > 0} == {"STREAMING UPDATE"}

    assert table.transaction_version(APP_ID) == 4
    proto = table.protocol()
    assert (proto.min_reader_version, proto.min_writer_version) == (1, 2)
    assert proto.reader_features is None and proto.writer_features is None


def test_each_sequence_commits_once_with_its_txn(store, write_ours):
    """The txn {appId, version=window_emit_seq} is in the same commit as that
    sequence's rows (read from the raw log and the parquet files)."""
    rows = make_rows(range(1, 5), per_seq=3)
    write_ours(store, "txn", rows, per_seq=3)
    disk = store.disk("txn")

    seqs_seen = []
    for c in r.commit_files(disk):
        actions = r.commit_actions(c)
        adds = [a["add"] for a in actions if "add" in a]
        txns = [a["txn"] for a in actions if "txn" in a]
        if not adds:
            assert not txns, f"{c.name}: txn without data"
            continue
        assert len(txns) == 1 and txns[0]["appId"] == APP_ID, f"{c.name}: txns {txns}"
        file_seqs = {
            _seq_of(ws)
            for a in adds
            for ws in r.parquet_of(disk, a["path"]).column("window_start").to_pylist()
        }
        assert file_seqs == {txns[0]["version"]}, f"{c.name}: rows of sequences {file_seqs}, txn {txns[0]}"
        assert all(a["dataChange"] is True for a in adds)
        seqs_seen.append(txns[0]["version"])
    assert seqs_seen == [1, 2, 3, 4]


def test_schema_and_parquet_types(store, write_ours):
    rows = make_rows(range(1, 3), per_seq=2)
    write_ours(store, "types", rows, per_seq=2)
    table = store.table("types")

    fields = {f["name"]: f for f in json.loads(table.schema().to_json())["fields"]}
    assert list(fields) == COLUMNS
    assert {n: f["type"] for n, f in fields.items()} == {
        "city": "string", "window_start": "timestamp", "window_end": "timestamp",
        "revenue": "double", "avg_distance": "double", "cnt": "long",
    }
    assert {n: f["nullable"] for n, f in fields.items()} == {
        "city": True, "window_start": False, "window_end": False,
        "revenue": True, "avg_distance": True, "cnt": False,
    }

    for a in r.add_actions(table):
        path = store.disk("types") / a["path"]
        meta = pq.ParquetFile(path).metadata
        arrow = pq.read_schema(path)
        # Delta `timestamp` = INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true).
        assert arrow.field("window_start").type == pa.timestamp("us", tz="UTC")
        # parquet-go orders a file's columns by name; readers match by name.
        cols = {meta.schema.column(i).name: meta.schema.column(i) for i in range(meta.num_columns)}
        assert set(cols) == set(COLUMNS)
        for name in ("window_start", "window_end"):
            assert cols[name].physical_type == "INT64"
            logical = json.loads(cols[name].logical_type.to_json())
            assert (logical["Type"], logical["isAdjustedToUTC"], logical["timeUnit"]) == ("Timestamp", True, "microseconds")
        assert {meta.row_group(g).column(c).compression
                for g in range(meta.num_row_groups) for c in range(meta.num_columns)} == {"ZSTD"}


def test_add_actions_stats_match_file_contents(store, write_ours):
    t0_ms = int(time.time() * 1000)
    rows = make_rows(range(1, 4), per_seq=4)
    write_ours(store, "stats", rows, per_seq=4)
    table = store.table("stats")
    disk = store.disk("stats")

    adds = r.add_actions(table)
    assert sum(a["num_records"] for a in adds) == len(rows)
    for a in adds:
        data = r.parquet_of(disk, a["path"])
        assert a["num_records"] == data.num_rows
        assert a["size_bytes"] == (disk / a["path"]).stat().st_size
        # modificationTime is epoch milliseconds (not seconds, not ns).
        assert t0_ms - 60_000 <= a["modification_time"] <= int(time.time() * 1000) + 60_000
        for col in COLUMNS:
            values = data.column(col).to_pylist()
            present = [v for v in values if v is not None]
            assert a[f"null_count.{col}"] == len(values) - len(present), col
            if present:
                assert a[f"min.{col}"] == min(present), col
                assert a[f"max.{col}"] == max(present), col


def test_partitioned_table(store, write_ours):
    # 8 sequences from 23:40 cross midnight: two `date` partitions.
    rows = make_rows(range(1, 9), per_seq=3, with_date=True)
    write_ours(store, "part", rows, per_seq=3, with_date=True)
    table = store.table("part")
    disk = store.disk("part")

    assert canon_all(r.rows_of(table)) == canon_all(rows)
    assert table.metadata().partition_columns == ["date"]
    dates = sorted({row["date"] for row in rows})
    assert len(dates) == 2
    assert sorted(p["date"] for p in table.partitions()) == dates

    for a in r.add_actions(table):
        part = a["partition.date"]
        part = part.isoformat() if isinstance(part, dt.date) else part
        starts = r.parquet_of(disk, a["path"]).column("window_start").to_pylist()
        assert {s.date().isoformat() for s in starts} == {part}, a["path"]
