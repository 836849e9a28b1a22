"""Our maintenance subcommands (`rides-connect delta optimize|vacuum`) on our
tables, judged by delta-rs and DuckDB: compaction keeps every row and the txn,
our writer keeps committing after it, and our VACUUM picks the same files as
delta-rs' own VACUUM (full mode) and deletes nothing live."""

from __future__ import annotations

import shutil
import subprocess

import readers as r
from pipelines import APP_ID, canon_all, make_rows

PROPS = {"delta.deletedFileRetentionDuration": "interval 0 seconds"}


def _cli(binary, store, *args) -> str:
    cmd = [str(binary), "delta", *args]
    if store.writer_s3:
        cmd[3:3] = ["--s3-endpoint", store.writer_s3["endpoint"], "--s3-path-style"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=store.env, timeout=120)
    assert res.returncode == 0, f"{' '.join(cmd)}:\n{res.stdout}{res.stderr}"
    return res.stdout


def _add_orphan(store, name) -> str:
    """An unreferenced parquet file, as a crash before commit leaves."""
    disk = store.disk(name)
    src = sorted(r.data_files(disk))[0]
    orphan = "part-99999-orphan-c000.zstd.parquet"
    if store.kind == "s3":
        bucket, prefix = store.uri(name)[len("s3://"):].split("/", 1)
        body = (disk / src).read_bytes()
        store.s3_client().put_object(Bucket=bucket, Key=f"{prefix}/{orphan}", Body=body)
    else:
        shutil.copy(disk / src, disk / orphan)
    return orphan


def _vacuum_dry_delta_rs(store, name) -> set[str]:
    table = store.table(name)
    listed = table.vacuum(retention_hours=0, dry_run=True, enforce_retention_duration=False, full=True)
    base = store.uri(name).rstrip("/") + "/"
    return {p[len(base):] if p.startswith(base) else p for p in listed}


def test_optimize_then_our_writer_continues_then_vacuum(store, binary, write_ours):
    first = make_rows(range(1, 7), per_seq=2)
    write_ours(store, "maint", first, per_seq=2, table_properties=PROPS)
    disk = store.disk("maint")
    before = store.table("maint")
    files_before = set(r.replay_json(disk, before.version())["live"])
    assert len(files_before) == 6

    out = _cli(binary, store, "optimize", store.uri("maint"))
    assert "compacted into 1" in out, out

    table = store.table("maint")
    assert table.version() == before.version() + 1
    assert table.history(1)[0]["operation"] == "OPTIMIZE"
    assert len(table.file_uris()) == 1
    assert canon_all(r.rows_of(table)) == canon_all(first)
    assert table.transaction_version(APP_ID) == 6
    compact_commit = r.commit_actions(r.commit_files(disk)[-1])
    assert all(a["remove"]["dataChange"] is False for a in compact_commit if "remove" in a)
    assert all(a["add"]["dataChange"] is False for a in compact_commit if "add" in a)

    more = make_rows(range(7, 9), per_seq=2, seed=21)
    write_ours(store, "maint", more, per_seq=2, table_properties=PROPS)
    orphan = _add_orphan(store, "maint")

    # Our dry run and delta-rs' dry run choose the same files: the six
    # compacted ones and the orphan.
    dry = _cli(binary, store, "vacuum", "--retention", "0s", store.uri("maint"))
    ours = {line for line in dry.splitlines() if line and not line.startswith("would delete")}
    theirs = _vacuum_dry_delta_rs(store, "maint")
    assert theirs == files_before | {orphan}
    assert ours == theirs

    _cli(binary, store, "vacuum", "--retention", "0s", "--dry-run=false", store.uri("maint"))
    table = store.table("maint")
    # Only live files are left (delta-rs would still list the compacted files:
    # it takes tombstones from the log without checking they still exist).
    assert r.data_files(disk) == set(r.replay_json(disk, table.version())["live"])
    want = canon_all(first + more)
    assert canon_all(r.rows_of(table)) == want
    assert canon_all(r.duck_rows(r.duck(store), store.uri("maint"))) == want
