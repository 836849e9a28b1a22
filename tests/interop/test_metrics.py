"""The delta_lake metrics (docs/metrics.md) as Prometheus scrapes them from the
running binary, checked against what the readers and the S3 proxy saw."""

from __future__ import annotations

import threading

import harness
import pipelines
import readers as r
from faultproxy import FaultProxy, Rule
from pipelines import make_rows

COMMIT_PUT = r"/_delta_log/\d{20}\.json$"


def test_metrics_of_a_run_and_of_its_replay(store, binary, tmp_path):
    rows = make_rows(range(1, 6), per_seq=2)
    f = pipelines.write_jsonl(tmp_path / "rows.jsonl", rows)
    cfg = pipelines.delta_config(f, store.uri("m"), 2, s3=store.writer_s3)

    m = harness.run_scraped(binary, cfg, tmp_path / "run1", store.env,
                            lambda m: m.get("delta_rows_written_total") == len(rows))
    table = store.table("m")
    adds = r.add_actions(table)
    assert m["delta_commits_total"] == 5
    assert m["delta_files_written_total"] == len(adds) == 5
    assert m["delta_bytes_written_total"] == sum(a["size_bytes"] for a in adds)
    assert m["delta_table_version"] == table.version()
    assert m.get("delta_rows_skipped_total", 0) == 0
    assert m.get("delta_commit_failures_total", 0) == 0

    m = harness.run_scraped(binary, cfg, tmp_path / "run2", store.env,
                            lambda m: m.get("delta_rows_skipped_total") == len(rows))
    assert m.get("delta_rows_written_total", 0) == 0
    assert m.get("delta_commits_total", 0) == 0
    assert store.table("m").version() == table.version()


def test_commit_retries_count_the_races_lost(versitygw, binary, tmp_path):
    """Three writers whose commit PUTs are released together: the sum of
    their delta_commit_retries_total equals the 412s the proxy saw."""
    proxy = FaultProxy(versitygw.port)
    try:
        proxy.add(Rule("PUT", COMMIT_PUT, "gather", times=3 * 4, parties=3))
        s3 = {"endpoint": proxy.endpoint, "region": harness.S3_REGION, "force_path_style": True}
        results: dict[int, dict] = {}
        errors: list[BaseException] = []

        def run(w: int):
            try:
                rows = make_rows(range(1, 11), per_seq=1, seed=200 + w)
                f = pipelines.write_jsonl(tmp_path / f"w{w}.jsonl", rows)
                cfg = pipelines.delta_config(f, "s3://lake/metrics-race", 1, s3=s3,
                                             idempotency={"mode": "sequence", "app_id": f"m{w}"})
                results[w] = harness.run_scraped(binary, cfg, tmp_path / f"w{w}", harness.s3_env(),
                                                 lambda m: m.get("delta_rows_written_total") == 10)
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        lost = sum(1 for _, status in proxy.puts(COMMIT_PUT) if status == 412)
    finally:
        proxy.stop()

    assert lost >= 2
    # A writer that loses the CREATE TABLE race opens the winner's table: that
    # is not a commit retry. Every other 412 is one retry of one writer.
    creates_lost = 2
    assert sum(m.get("delta_commit_retries_total", 0) for m in results.values()) == lost - creates_lost
    assert all(m.get("delta_commit_conflicts_total", 0) == 0 for m in results.values())
    assert sum(m["delta_commits_total"] for m in results.values()) == 30
