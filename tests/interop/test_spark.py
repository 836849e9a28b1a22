"""Slow tier: Spark 4 + delta-spark (local mode) reads our tables, including
one that only our checkpoint can describe. Run with `run.sh --spark`.

Tables written over S3 are read from versitygw's posix directory (the same
bytes the writer PUT): Spark's s3a needs hadoop-aws and the AWS SDK bundle,
which this tier does not install.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pyspark", reason="PySpark not installed: run tests/interop/setup.sh --spark")
pytest.importorskip("delta", reason="delta-spark not installed: run tests/interop/setup.sh --spark")

import readers as r  # noqa: E402
from pipelines import COLUMNS, canon_all, make_rows  # noqa: E402

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark():
    from spark_session import make_session

    s = make_session()
    yield s
    s.stop()


def _rows(spark, path, with_date=False) -> list[dict]:
    cols = [f"unix_micros({c}) AS {c}" if c.startswith("window_") else c for c in COLUMNS]
    if with_date:
        cols.append("date")
    df = spark.read.format("delta").load(str(path)).selectExpr(*cols)
    return [row.asDict() for row in df.collect()]


def _history(spark, path) -> list[dict]:
    return [row.asDict() for row in spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()]


def test_spark_reads_rows_history_and_checkpoint(spark, store, write_ours, copy_table):
    rows = make_rows(range(1, 14), per_seq=2)
    write_ours(store, "sp", rows, per_seq=2, table_properties={"delta.checkpointInterval": "10"})
    disk = store.disk("sp")
    version = store.table("sp").version()

    assert canon_all(_rows(spark, disk)) == canon_all(rows)
    hist = _history(spark, disk)
    assert sorted(h["version"] for h in hist) == list(range(version + 1))

    # Spark too can rebuild the table from our checkpoint alone.
    cpv = json.loads((r.log_dir(disk) / "_last_checkpoint").read_text())["version"]
    pruned = copy_table(disk, "sp-pruned")
    for c in r.commit_files(pruned):
        if int(c.stem) <= cpv:
            c.unlink()
    assert canon_all(_rows(spark, pruned)) == canon_all(rows)
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{pruned}`").collect()[0].asDict()
    assert detail["numFiles"] == len(r.replay_json(disk, version)["live"])


def test_spark_reads_partitioned_table(spark, store, write_ours):
    rows = make_rows(range(1, 9), per_seq=3, with_date=True)
    write_ours(store, "sppart", rows, per_seq=3, with_date=True)
    disk = store.disk("sppart")

    assert canon_all(_rows(spark, disk, with_date=True)) == canon_all(rows)
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{disk}`").collect()[0].asDict()
    assert detail["partitionColumns"] == ["date"]
    assert (detail["minReaderVersion"], detail["minWriterVersion"]) == (1, 2)


def test_spark_appends_then_ours_continues(spark, store, write_ours):
    """Spark commits to our table (and, at interval 3, writes its own
    checkpoint), then our writer loads that state and keeps committing."""
    if store.kind == "s3":
        pytest.skip("Spark writes only to local paths here (no s3a jars in this tier)")
    import datetime as dt

    ours_first = make_rows(range(1, 3), per_seq=2)
    write_ours(store, "spmix", ours_first, per_seq=2, table_properties={"delta.checkpointInterval": "3"})
    disk = store.disk("spmix")

    schema = spark.read.format("delta").load(str(disk)).schema
    theirs = make_rows(range(40, 43), per_seq=2, seed=5)
    for seq in (40, 41, 42):  # three Spark commits: one lands on a multiple of 3
        batch = [row for row in theirs if row["seq"] == seq]
        data = [tuple(dt.datetime.fromisoformat(row[c].replace("Z", "+00:00")) if c.startswith("window_") else row[c]
                      for c in COLUMNS) for row in batch]
        spark.createDataFrame(data, schema).write.format("delta").mode("append").save(str(disk))
    spark_cps = sorted(p.name for p in r.log_dir(disk).glob("*.checkpoint.parquet"))
    assert spark_cps, "Spark wrote no checkpoint at interval 3"

    ours_next = make_rows(range(3, 5), per_seq=2, seed=13)
    write_ours(store, "spmix", ours_next, per_seq=2, table_properties={"delta.checkpointInterval": "3"})

    want = canon_all(ours_first + theirs + ours_next)
    assert canon_all(_rows(spark, disk)) == want
    table = store.table("spmix")
    assert canon_all(r.rows_of(table)) == want
    assert table.transaction_version("rides_agg") == 4


def test_spark_reads_every_type(spark, store, binary, tmp_path):
    import alltypes
    import harness
    import pipelines

    f = pipelines.write_jsonl(tmp_path / "types.jsonl", alltypes.INPUT)
    harness.run_benthos(binary, alltypes.config(f, store.uri("sptypes"), s3=store.writer_s3),
                        tmp_path / "cfg", env=store.env)
    cols = ["unix_micros(ts) AS ts" if c == "ts" else f"`{c}`" for c in alltypes.NAMES]
    df = spark.read.format("delta").load(str(store.disk("sptypes"))).selectExpr(*cols)
    assert alltypes.by_id(row.asDict() for row in df.collect()) == alltypes.EXPECTED
    # Partition pruning on a value with /, = and % in it.
    ids = sorted(row.id for row in spark.read.format("delta").load(str(store.disk("sptypes")))
                 .where("p = 'a b/c=d%e'").select("id").collect())
    assert ids == [1, 4]


def test_spark_reads_after_optimize_vacuum_and_evolution(spark, store, binary, write_ours):
    """A log with remove actions (our OPTIMIZE), vacuumed files and a
    metaData change (added column) reads in Spark as in delta-rs."""
    from pipelines import SCHEMA
    from test_maintenance import PROPS, _cli

    first = make_rows(range(1, 5), per_seq=2)
    write_ours(store, "splife", first, per_seq=2, table_properties=PROPS)
    _cli(binary, store, "optimize", store.uri("splife"))
    _cli(binary, store, "vacuum", "--retention", "0s", "--dry-run=false", store.uri("splife"))
    more = make_rows(range(5, 7), per_seq=2, seed=8)
    for i, row in enumerate(more):
        row["surge"] = 2.0 + i
    write_ours(store, "splife", more, per_seq=2,
               overrides={"schema": SCHEMA + [{"name": "surge", "type": "double"}], "schema_evolution": True})

    df = spark.read.format("delta").load(str(store.disk("splife")))
    got = sorted(((row.city, row.cnt, row.surge) for row in df.collect()), key=repr)
    want = sorted([(row["city"], row["cnt"], None) for row in first]
                  + [(row["city"], row["cnt"], row["surge"]) for row in more], key=repr)
    assert got == want
    assert canon_all(_rows(spark, store.disk("splife"))) == canon_all(first + more)


def test_our_writer_appends_to_a_spark_created_table(spark, store, binary, write_ours):
    """Spark creates the table and writes the first rows (its own parquet:
    INT96 or micros timestamps, snappy); our writer validates the schema,
    appends, our OPTIMIZE rewrites Spark's files with ours, and both engines
    read every row once."""
    if store.kind == "s3":
        pytest.skip("Spark writes only to local paths here (no s3a jars in this tier)")
    import datetime as dt

    from test_maintenance import _cli

    disk = store.disk("spcreated")
    spark.sql(f"""CREATE TABLE delta.`{disk}` (
        city STRING, window_start TIMESTAMP NOT NULL, window_end TIMESTAMP NOT NULL,
        revenue DOUBLE, avg_distance DOUBLE, cnt BIGINT NOT NULL) USING delta""")
    theirs = make_rows(range(60, 63), per_seq=2, seed=6)
    schema = spark.read.format("delta").load(str(disk)).schema
    data = [tuple(dt.datetime.fromisoformat(row[c].replace("Z", "+00:00")) if c.startswith("window_") else row[c]
                  for c in COLUMNS) for row in theirs]
    spark.createDataFrame(data, schema).write.format("delta").mode("append").save(str(disk))

    import pyarrow.parquet as pq

    spark_files = sorted(r.data_files(disk))
    # Spark 4.2's default: INT96 timestamps, which our OPTIMIZE must decode.
    assert pq.ParquetFile(disk / spark_files[0]).schema.column(1).physical_type == "INT96"

    ours = make_rows(range(1, 4), per_seq=2)
    write_ours(store, "spcreated", ours, per_seq=2)
    want = canon_all(theirs + ours)
    assert canon_all(_rows(spark, disk)) == want

    out = _cli(binary, store, "optimize", store.uri("spcreated"))
    assert "compacted into" in out, out
    assert canon_all(_rows(spark, disk)) == want
    table = store.table("spcreated")
    assert canon_all(r.rows_of(table)) == want
    assert table.transaction_version("rides_agg") == 3


def test_spark_reads_partition_columns_of_other_types(spark, store, binary, tmp_path):
    import alltypes
    import harness
    import pipelines

    f = pipelines.write_jsonl(tmp_path / "parts.jsonl", alltypes.PART_INPUT)
    harness.run_benthos(binary, alltypes.config(f, store.uri("spparts"), s3=store.writer_s3, schema=alltypes.PART_SCHEMA,
                                                partition=alltypes.PART_COLUMNS, batch=len(alltypes.PART_INPUT)),
                        tmp_path / "cfg", env=store.env)
    cols = ["unix_micros(ts) AS ts" if c["name"] == "ts" else c["name"] for c in alltypes.PART_SCHEMA]
    df = spark.read.format("delta").load(str(store.disk("spparts"))).selectExpr(*cols)
    assert alltypes.by_id(row.asDict() for row in df.collect()) == alltypes.PART_EXPECTED


def test_spark_reads_a_large_split_batch(spark, store, write_ours):
    from test_large_files import N
    from test_large_files import _rows as large_rows

    rows = large_rows()
    write_ours(store, "splarge", rows, per_seq=N, overrides={"target_file_size": "32KiB"})
    assert canon_all(_rows(spark, store.disk("splarge"))) == canon_all(rows)
