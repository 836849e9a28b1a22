"""Our writer and delta-rs commit to the same table at the same time. Both
claim versions put-if-absent (local: link/rename without replace; S3:
If-None-Match), so neither may overwrite the other: versions stay contiguous
and every row of both lands exactly once. Over S3 the commit PUTs of both go
through the fault proxy, which releases them in pairs to force collisions."""

from __future__ import annotations

import threading
from collections import Counter

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

import harness
import pipelines
import readers as r
from faultproxy import FaultProxy, Rule
from pipelines import APP_ID, canon_all, make_rows
from test_mixed_writers import _arrow_rows

COMMIT_PUT = r"/_delta_log/\d{20}\.json$"


def test_our_writer_and_delta_rs_commit_concurrently(store, binary, tmp_path, write_ours, request):
    write_ours(store, "both", make_rows([1], per_seq=2), per_seq=2)  # create the table
    ours = make_rows(range(2, 22), per_seq=1, seed=31)
    theirs = make_rows(range(50, 60), per_seq=2, seed=32)
    for row in theirs:
        row["city"] += " (delta-rs)"

    writer_s3, delta_rs_options, proxy = store.writer_s3, store.storage_options, None
    if store.kind == "s3":
        proxy = FaultProxy(request.getfixturevalue("versitygw").port)
        request.addfinalizer(proxy.stop)
        proxy.add(Rule("PUT", COMMIT_PUT, "gather", times=2 * 5, parties=2))
        writer_s3 = dict(writer_s3, endpoint=proxy.endpoint)
        delta_rs_options = dict(delta_rs_options, AWS_ENDPOINT_URL=proxy.endpoint)

    f = pipelines.write_jsonl(tmp_path / "ours.jsonl", ours)
    cfg = harness.write_config(pipelines.delta_config(f, store.uri("both"), 1, s3=writer_s3), tmp_path / "cfg")
    schema = pa.schema(store.table("both").schema().to_arrow())
    errors = []

    def delta_rs_appends():
        try:
            for seq in range(50, 60):
                batch = [row for row in theirs if row["seq"] == seq]
                table = DeltaTable(store.uri("both"), storage_options=delta_rs_options or None)
                write_deltalake(table, _arrow_rows(batch, schema), mode="append")
        except Exception as e:  # reported below, with the table state
            errors.append(e)

    proc = harness.start_benthos(binary, cfg, tmp_path / "ours.log", env=store.env)
    t = threading.Thread(target=delta_rs_appends)
    t.start()
    try:
        assert proc.wait(timeout=120) == 0, (tmp_path / "ours.log").read_text()
    finally:
        harness.kill(proc)
        t.join(120)
    assert not errors, errors

    disk = store.disk("both")
    commits = r.commit_files(disk)
    assert [int(c.stem) for c in commits] == list(range(len(commits)))
    engines = Counter(
        "ours" if "rides-connect" in a["commitInfo"].get("engineInfo", "") else "delta-rs"
        for c in commits for a in r.commit_actions(c) if "commitInfo" in a)
    assert engines == {"ours": 1 + 1 + len(ours), "delta-rs": 10}, engines  # create + first batch + ours

    table = store.table("both")
    want = canon_all(make_rows([1], per_seq=2) + ours + theirs)
    assert canon_all(r.rows_of(table)) == want
    assert canon_all(r.duck_rows(r.duck(store), store.uri("both"))) == want
    assert table.transaction_version(APP_ID) == 21
    if proxy:
        ok = Counter(p for p, s in proxy.puts(COMMIT_PUT) if s == 200)
        assert all(n == 1 for n in ok.values()), ok
        lost = sum(1 for _, s in proxy.puts(COMMIT_PUT) if s == 412)
        print(f"ours vs delta-rs: {len(commits)} commits, {lost} commit PUTs lost a race (412)")
        assert lost >= 1, "the two writers never raced"
