"""Table URL forms (plain path and file://, s3:// and s3a:// as the seed job
writes) name the same table; additive schema evolution is read by delta-rs and
DuckDB with nulls for the older rows."""

from __future__ import annotations

import json

import readers as r
from pipelines import APP_ID, SCHEMA, canon_all, make_rows


def test_url_forms_name_the_same_table(store, binary, write_ours):
    first = make_rows(range(1, 3), per_seq=2)
    second = make_rows(range(3, 5), per_seq=2, seed=3)
    if store.kind == "s3":
        alias = "s3a://" + store.uri("urls")[len("s3://"):]
    else:
        alias = "file://" + store.uri("urls")
    write_ours(store, "urls", first, per_seq=2, overrides={"path": alias})
    write_ours(store, "urls", second, per_seq=2)

    table = store.table("urls")
    assert canon_all(r.rows_of(table)) == canon_all(first + second)
    assert table.transaction_version(APP_ID) == 4
    assert [h["operation"] for h in table.history()].count("CREATE TABLE") == 1


def test_added_nullable_column_is_read_with_nulls(store, write_ours):
    old = make_rows(range(1, 3), per_seq=2)
    write_ours(store, "evo", old, per_seq=2)

    new = make_rows(range(3, 5), per_seq=2, seed=5)
    for i, row in enumerate(new):
        row["surge"] = 1.0 + i / 4
    wider = SCHEMA + [{"name": "surge", "type": "double"}]
    write_ours(store, "evo", new, per_seq=2, overrides={"schema": wider, "schema_evolution": True})

    table = store.table("evo")
    fields = [f["name"] for f in json.loads(table.schema().to_json())["fields"]]
    assert fields[-1] == "surge"
    want = sorted([(row["city"], row["window_start"], None) for row in old]
                  + [(row["city"], row["window_start"], row["surge"]) for row in new])

    def key(rows):
        return sorted((row["city"], row["window_start"], row["surge"]) for row in rows)

    def iso(rows):
        return [dict(row, window_start=row["window_start"].strftime("%Y-%m-%dT%H:%M:%S.000Z")) for row in rows]

    assert key(iso(r.rows_of(table))) == want
    assert key(iso(r.duck_rows(r.duck(store), store.uri("evo")))) == want
    assert table.transaction_version(APP_ID) == 4
