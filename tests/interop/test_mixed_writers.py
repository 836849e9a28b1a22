"""delta-rs writes to our table (append, OPTIMIZE compaction, a checkpoint),
then our writer keeps committing after it: every reader sees each row exactly
once."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
from deltalake import write_deltalake

import readers as r
from pipelines import APP_ID, COLUMNS, canon_all, make_rows


def _arrow_rows(rows: list[dict], schema: pa.Schema) -> pa.Table:
    def ts(s):
        return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    data = [{c: (ts(row[c]) if c.startswith("window_") else row[c]) for c in COLUMNS} for row in rows]
    return pa.Table.from_pylist(data, schema=schema)


def test_delta_rs_append_and_compact_then_ours_continues(store, write_ours):
    ours_first = make_rows(range(1, 4), per_seq=2)
    write_ours(store, "mixed", ours_first, per_seq=2)
    table = store.table("mixed")

    # delta-rs appends with the table's own schema (read from our metaData).
    schema = pa.schema(table.schema().to_arrow())
    theirs = make_rows(range(30, 32), per_seq=3, seed=99)
    write_deltalake(table, _arrow_rows(theirs, schema), mode="append",
                    storage_options=store.storage_options or None)
    table = store.table("mixed")
    files_before = len(table.file_uris())
    metrics = table.optimize.compact()
    assert metrics["numFilesRemoved"] == files_before and metrics["numFilesAdded"] == 1, metrics
    # delta-rs also writes a checkpoint, which our writer must load from.
    store.table("mixed").create_checkpoint()
    after_delta_rs = store.table("mixed").version()
    last = json.loads((r.log_dir(store.disk("mixed")) / "_last_checkpoint").read_text())
    assert last["version"] == after_delta_rs

    ours_next = make_rows(range(4, 6), per_seq=2, seed=11)
    write_ours(store, "mixed", ours_next, per_seq=2)

    table = store.table("mixed")
    want = canon_all(ours_first + theirs + ours_next)
    assert canon_all(r.rows_of(table)) == want
    assert canon_all(r.duck_rows(r.duck(store), store.uri("mixed"))) == want
    assert table.transaction_version(APP_ID) == 5
    assert table.version() > after_delta_rs

    ops = {h["version"]: (h.get("operation"), h.get("engineInfo", "")) for h in table.history()}
    assert ops[after_delta_rs][0] == "OPTIMIZE"
    for v in range(after_delta_rs + 1, table.version() + 1):
        assert "rides-connect" in ops[v][1], (v, ops[v])
