"""Tables created by delta-rs, not by us: our writer appends to a compatible
one, and refuses (with a message naming the problem, writing nothing) one
with a reader/writer feature it cannot honour or with another schema."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest
from deltalake import write_deltalake

import harness
import pipelines
import readers as r
from pipelines import APP_ID, canon_all, make_rows
from test_mixed_writers import _arrow_rows

RIDES_ARROW = pa.schema([
    pa.field("city", pa.string()),
    pa.field("window_start", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("window_end", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("revenue", pa.float64()),
    pa.field("avg_distance", pa.float64()),
    pa.field("cnt", pa.int64(), nullable=False),
])


def _create_with_delta_rs(store, name, schema=RIDES_ARROW, **kw):
    rows = make_rows(range(70, 72), per_seq=2, seed=70)
    write_deltalake(store.uri(name), _arrow_rows(rows, schema), storage_options=store.storage_options or None, **kw)
    return rows


def _refusal(binary, store, name, tmp_path, pattern: str) -> str:
    """Start our binary on the table and wait until its log shows the
    refusal (Benthos retries a failed connect, so it does not exit); then
    stop it. Returns the log."""
    f = pipelines.write_jsonl(tmp_path / "rows.jsonl", make_rows([1], per_seq=2))
    cfg = harness.write_config(pipelines.delta_config(f, store.uri(name), 2, s3=store.writer_s3), tmp_path / "cfg")
    log = tmp_path / "refusal.log"
    proc = harness.start_benthos(binary, cfg, log, env=store.env)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and pattern not in log.read_text() and proc.poll() is None:
            time.sleep(0.1)  # polling a log file for a line, not waiting for time to pass
    finally:
        harness.kill(proc)
    text = log.read_text()
    assert pattern in text, f"no refusal naming {pattern!r}:\n{text}"
    return text


def test_our_writer_appends_to_a_delta_rs_table(store, write_ours):
    theirs = _create_with_delta_rs(store, "foreign")
    ours = make_rows(range(1, 4), per_seq=2)
    write_ours(store, "foreign", ours, per_seq=2)

    table = store.table("foreign")
    want = canon_all(theirs + ours)
    assert canon_all(r.rows_of(table)) == want
    assert canon_all(r.duck_rows(r.duck(store), store.uri("foreign"))) == want
    assert table.transaction_version(APP_ID) == 3
    ops = [h["operation"] for h in sorted(table.history(), key=lambda h: h["version"])]
    assert ops[0] in ("CREATE TABLE", "WRITE") and ops[-3:] == ["STREAMING UPDATE"] * 3


def test_refuses_a_table_with_deletion_vectors(store, binary, tmp_path):
    _create_with_delta_rs(store, "dv", configuration={"delta.enableDeletionVectors": "true"})
    before = store.table("dv")
    proto = before.protocol()
    if "deletionVectors" not in (proto.writer_features or []):
        pytest.skip(f"this delta-rs did not enable deletion vectors: {proto}")

    _refusal(binary, store, "dv", tmp_path, "deletionVectors")
    assert store.table("dv").version() == before.version()


def test_refuses_a_table_with_another_schema(store, binary, tmp_path):
    other = pa.schema([f if f.name != "cnt" else pa.field("cnt", pa.int32(), nullable=False) for f in RIDES_ARROW])
    _create_with_delta_rs(store, "schema", schema=other)
    version = store.table("schema").version()

    text = _refusal(binary, store, "schema", tmp_path, "cnt")
    assert "integer" in text, text
    assert store.table("schema").version() == version
