"""Our checkpoints: written every delta.checkpointInterval commits, with the
content a JSON replay gives, and enough on their own for delta-rs and DuckDB
(checked on a copy whose commits up to the checkpoint are deleted, as Delta's
metadata cleanup would)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

import readers as r
from pipelines import APP_ID, canon_all, make_rows

INTERVAL = 10
SEQS = range(1, 14)  # 13 data commits: past version 10 whatever version 0 holds


def _write(store, write_ours):
    rows = make_rows(SEQS, per_seq=2)
    write_ours(store, "cp", rows, per_seq=2, table_properties={"delta.checkpointInterval": str(INTERVAL)})
    return rows


def test_checkpoint_written_with_replayed_content(store, write_ours):
    _write(store, write_ours)
    disk = store.disk("cp")
    version = store.table("cp").version()
    assert version >= INTERVAL + 2

    last = json.loads((r.log_dir(disk) / "_last_checkpoint").read_text())
    cpv = last["version"]
    # Spark checkpoints at version % interval == 0, delta-rs at (version+1) %
    # interval == 0; the protocol fixes neither, so: the latest within one interval.
    assert version - INTERVAL < cpv <= version, f"_last_checkpoint {last}, table version {version}"
    cp_file = r.log_dir(disk) / f"{cpv:020d}.checkpoint.parquet"
    assert cp_file.exists()
    cp = pq.read_table(cp_file)
    assert last["size"] == cp.num_rows

    # Schema points readers trip on (PROTOCOL.md checkpoint schema).
    add_t = cp.schema.field("add").type
    assert add_t.field("partitionValues").type == pa.map_(pa.string(), pa.string())
    assert add_t.field("size").type == pa.int64()
    assert add_t.field("modificationTime").type == pa.int64()
    assert "commitInfo" not in cp.schema.names or cp.column("commitInfo").null_count == cp.num_rows

    actions = cp.to_pylist()
    protocols = [a["protocol"] for a in actions if a.get("protocol")]
    metas = [a["metaData"] for a in actions if a.get("metaData")]
    adds = {a["add"]["path"]: a["add"] for a in actions if a.get("add")}
    txns = {a["txn"]["appId"]: a["txn"]["version"] for a in actions if a.get("txn")}
    assert len(protocols) == 1 and len(metas) == 1
    assert protocols[0].get("readerFeatures") is None and protocols[0].get("writerFeatures") is None

    oracle = r.replay_json(disk, cpv)
    assert set(adds) == set(oracle["live"])
    for path, add in adds.items():
        want = oracle["live"][path]
        assert (add["size"], add["modificationTime"], add["dataChange"]) == (
            want["size"], want["modificationTime"], want["dataChange"]), path
        assert json.loads(add["stats"]) == json.loads(want["stats"]), path
    assert txns == oracle["txns"] and APP_ID in txns
    assert metas[0]["id"] == oracle["metadata"]["id"]
    assert json.loads(metas[0]["schemaString"]) == json.loads(oracle["metadata"]["schemaString"])
    assert {k: protocols[0][k] for k in ("minReaderVersion", "minWriterVersion")} == {
        k: oracle["protocol"][k] for k in ("minReaderVersion", "minWriterVersion")}


def test_checkpoint_alone_is_enough_for_readers(store, write_ours, copy_table):
    rows = _write(store, write_ours)
    version = store.table("cp").version()
    cpv = json.loads((r.log_dir(store.disk("cp")) / "_last_checkpoint").read_text())["version"]

    pruned = copy_table(store.disk("cp"), "cp-pruned")
    for c in r.commit_files(pruned):
        if int(c.stem) <= cpv:
            c.unlink()
    assert int(r.commit_files(pruned)[0].stem) == cpv + 1

    table = DeltaTable(str(pruned))
    assert table.version() == version
    assert canon_all(r.rows_of(table)) == canon_all(rows)
    assert table.transaction_version(APP_ID) == len(SEQS)

    assert canon_all(r.duck_rows(r.duck(), str(pruned))) == canon_all(rows)


def test_time_travel_across_the_checkpoint(store, write_ours):
    """Every version, before and after the checkpoint, reads as the sequences
    committed up to it (delta-rs replays from the checkpoint or from JSON)."""
    rows = _write(store, write_ours)
    latest = store.table("cp").version()
    first_data = latest - len(SEQS) + 1  # commits before it create the table
    for v in range(latest + 1):
        table = store.table("cp", version=v)
        done = max(0, v - first_data + 1)
        assert table.transaction_version(APP_ID) == (done or None), v
        assert canon_all(r.rows_of(table)) == canon_all([row for row in rows if row["seq"] <= done]), v


def test_readers_after_our_log_cleanup(store, write_ours):
    """With delta.logRetentionDuration 0 our writer deletes the commits older
    than its newest checkpoint (Delta metadata cleanup); readers must start
    from that checkpoint, and our writer keeps committing after it."""
    props = {"delta.checkpointInterval": str(INTERVAL), "delta.logRetentionDuration": "interval 0 seconds"}
    rows = make_rows(range(1, 24), per_seq=1)
    write_ours(store, "clean", rows, per_seq=1, table_properties=props)
    disk = store.disk("clean")
    first_kept = int(r.commit_files(disk)[0].stem)
    cpv = json.loads((r.log_dir(disk) / "_last_checkpoint").read_text())["version"]
    assert 0 < first_kept <= cpv, f"no commit was cleaned up (first kept {first_kept}, checkpoint {cpv})"

    more = make_rows(range(24, 27), per_seq=1, seed=4)
    write_ours(store, "clean", more, per_seq=1, table_properties=props)

    table = store.table("clean")
    want = canon_all(rows + more)
    assert canon_all(r.rows_of(table)) == want
    assert table.transaction_version(APP_ID) == 26
    assert canon_all(r.duck_rows(r.duck(store), store.uri("clean"))) == want
