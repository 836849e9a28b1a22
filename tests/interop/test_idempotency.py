"""Exactly-once through the txn action, seen by delta-rs: replaying sequences
already committed writes nothing, and a replay that runs past them writes only
the new ones."""

from __future__ import annotations

import readers as r
from pipelines import APP_ID, KAFKA_MAPPING, canon_all, make_rows


def test_replay_of_committed_sequences_writes_nothing(store, write_ours):
    rows = make_rows(range(1, 6), per_seq=2)
    write_ours(store, "idem", rows, per_seq=2)
    disk = store.disk("idem")
    version = store.table("idem").version()
    files = r.data_files(disk)

    write_ours(store, "idem", rows, per_seq=2)

    table = store.table("idem")
    assert table.version() == version
    assert canon_all(r.rows_of(table)) == canon_all(rows)
    assert table.transaction_version(APP_ID) == 5
    assert r.data_files(disk) == files, "a replay uploaded parquet files it did not need"


def test_replay_running_past_the_committed_sequence(store, write_ours):
    write_ours(store, "idem2", make_rows(range(1, 6), per_seq=2), per_seq=2)
    version = store.table("idem2").version()

    # Same seed: sequences 1..5 are the same rows again, 6..7 are new.
    rows = make_rows(range(1, 8), per_seq=2)
    write_ours(store, "idem2", rows, per_seq=2)

    table = store.table("idem2")
    assert canon_all(r.rows_of(table)) == canon_all(rows)
    assert table.transaction_version(APP_ID) == 7
    assert table.version() == version + 2  # one commit per new sequence


def test_kafka_mode_txn_per_partition(store, write_ours):
    """kafka mode (bronze tables): appId <app>-<topic>-<partition>, version =
    highest kafka_offset committed; a replay of the same offsets writes nothing."""
    rows = [dict(row, k=i % 2) for i, row in enumerate(make_rows(range(1, 7), per_seq=2))]
    kw = dict(idempotency={"mode": "kafka", "app_id": "bronze"}, mapping=KAFKA_MAPPING)
    write_ours(store, "bronze", rows, per_seq=2, **kw)

    table = store.table("bronze")
    assert canon_all(r.rows_of(table)) == canon_all(rows)
    for part in (0, 1):
        want = max(row["seq"] * 10 + row["k"] for row in rows if row["seq"] % 2 == part)
        assert table.transaction_version(f"bronze-rides-{part}") == want, part
    version = table.version()

    write_ours(store, "bronze", rows, per_seq=2, **kw)
    table = store.table("bronze")
    assert table.version() == version
    assert canon_all(r.rows_of(table)) == canon_all(rows)


def test_concurrent_batches_commit_in_sequence_order(store, write_ours):
    """max_in_flight 4: several batches reach the output at once; commits must
    still carry the sequences in order, each exactly once."""
    rows = make_rows(range(1, 21), per_seq=2)
    write_ours(store, "inflight", rows, per_seq=2, overrides={"max_in_flight": 4})

    table = store.table("inflight")
    assert canon_all(r.rows_of(table)) == canon_all(rows)
    assert table.transaction_version(APP_ID) == 20
    txns = [a["txn"]["version"] for c in r.commit_files(store.disk("inflight"))
            for a in r.commit_actions(c) if "txn" in a]
    assert txns == list(range(1, 21))
