"""The seed's Spark job (seed_job.py, Spark 4 + delta-spark) and rides-connect on
config/rides.yaml read the same Kafka topic of a real broker into two Delta tables; delta-rs reads
both. Each table must equal a reference model of its engine's rules (rides.model), and the two
tables must differ exactly where the rules differ (malformed records: Spark's PERMISSIVE
from_json keeps a ride with a missing price or city, rides.yaml dead-letters it) and nowhere
else. docs/spark-parity.md explains every difference."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime, timezone

import pytest

import engines
import rides
import seed_job

pytestmark = pytest.mark.sparkparity


def topic_names(prefix: str) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:6]
    return f"{prefix}_{tag}", f"{prefix}_{tag}_dlq"


def divergent_keys(rs: list[rides.Ride]) -> set:
    """The windows where the two engines' rules differ: those holding a ride with a missing
    price (Spark counts it and averages its distance) or a missing city (Spark makes a
    NULL-city group) — if the watermark closed them."""
    wm_us = (max(rides.epoch_us(r.ts) // 1000 for r in rs if r.kind == "ok") - rides.DELAY_MS) * 1000
    out = set()
    for r in rs:
        if r.kind in ("missing_price", "missing_city"):
            us = rides.epoch_us(r.ts)
            start = us - us % rides.WINDOW_US
            if start + rides.WINDOW_US <= wm_us:
                out.add((r.city, rides.fmt(start), rides.fmt(start + rides.WINDOW_US)))
    return out


def check_tables(spark_t: dict, ours_t: dict, rs: list[rides.Ride]) -> None:
    # Each engine against the model of its own rules.
    assert engines.diff_tables(spark_t, rides.model(rs, spark_rules=True)) == []
    assert engines.diff_tables(ours_t, rides.model(rs, spark_rules=False)) == []
    # Between them: identical (city, win_start, win_end, cnt) and doubles within 1e-9 relative,
    # except the windows of the two rides only Spark keeps.
    div = divergent_keys(rs)
    assert len(div) == 2, f"the data should make two windows diverge, got {div}"
    diffs = engines.diff_tables(ours_t, spark_t)
    assert sorted(diffs) == sorted(
        [f"missing {k}: want {spark_t[k]}" for k in div if k not in ours_t]
        + [f"{k}: got {ours_t[k]}, want {spark_t[k]}" for k in div if k in ours_t]
    ), diffs
    same = set(spark_t) - div
    assert len(same) > 40 and same == set(ours_t) - div
    # The missing-price ride: one more row in Spark's count, same revenue, its distance averaged in.
    mp = next(r for r in rs if r.kind == "missing_price")
    k = next(k for k in div if k[0] == mp.city)
    (sr, sa, sc), (orv, oa, oc) = spark_t[k], ours_t[k]
    assert sc == oc + 1 and engines.close(sr, orv)
    assert engines.close(sa * sc, oa * oc + mp.distance)
    # The missing-city ride: a NULL-city window in Spark only.
    assert next(k for k in div if k[0] is None) not in ours_t
    # Trailing windows (end > final watermark) are in neither table.
    for city, start in rides.open_windows(rs, spark_rules=True):
        assert not any(k[0] == city and k[1] == start for k in spark_t)
    for city, start in rides.open_windows(rs, spark_rules=False):
        assert not any(k[0] == city and k[1] == start for k in ours_t)


def check_spark_progress(progress: list[dict], rs: list[rides.Ride]) -> None:
    """availableNow: one batch with the whole backlog (watermark still 0: nothing late, nothing
    emitted), then one no-data batch at watermark = max event time − 10 min that emits the
    closed windows; then the query stops. The windows past that watermark stay in state."""
    assert [p["numInputRows"] for p in progress] == [len(rs), 0], progress
    assert progress[0]["watermark"] == "1970-01-01T00:00:00.000Z"
    max_ms = max(rides.epoch_us(r.ts) // 1000 for r in rs if r.ts is not None and r.kind != "bad_ts")
    wm = datetime.fromtimestamp((max_ms - rides.DELAY_MS) / 1000, tz=timezone.utc)
    assert progress[1]["watermark"] == wm.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert all(p["rowsDroppedByWatermark"] == 0 for p in progress)
    assert progress[1]["stateRows"] == len(rides.open_windows(rs, spark_rules=True))


def check_dead_letters(bootstrap: str, dlq: str, rs: list[rides.Ride]) -> None:
    """Every record rides.yaml rejected is on the dead-letter topic with its reason and value."""
    bad = [r for r in rs if r.kind != "ok"]
    msgs = rides.consume_all(bootstrap, dlq, len(bad))
    got = [json.loads(m.value()) for m in msgs]
    assert Counter(g["reason"] for g in got) == Counter(
        {"bad_json": 2, "missing_field": 3, "bad_timestamp": 1})
    assert sorted(g["value"].encode() for g in got) == sorted(r.value for r in bad)


def run_ours(bootstrap, topic, dlq, d, rs, parts, produce_phases=None):
    """Runs our binary until every valid row is aggregated, every bad record dead-lettered and
    every window of the model in Delta (its stage 2 writes after stage 1 has read everything);
    produce_phases(rc), if given, produces while it runs. parts[i]: ride i's partition."""
    valid = sum(r.kind == "ok" for r in rs)
    rows = len(rides.model(rs, spark_rules=False))
    rc = engines.RidesConnect(bootstrap, d / "ours", d / "ours_ckpt", d / "ours.log", dlq,
                              group=f"g_{topic}", topic=topic).start()
    try:
        if produce_phases:
            produce_phases(rc)
        drained = engines.drained(valid, len(rs) - valid)
        m = rc.wait_until(lambda m: drained(m) and m.get("delta_rows_written_total", 0) >= rows,
                          "drain of the topic", timeout=180)
    finally:
        code = rc.stop()
    assert code == 0, rc.tail()
    assert m["window_input_rows_total"] == valid
    assert m.get("window_late_rows_total", 0) == 0
    # The trailing windows stay open, as in Spark's state (check_spark_progress): in stage local,
    # per source partition past its own watermark; in stage merge, sent by some partition only.
    local, merge = rides.open_windows_by_stage(rs, parts)
    assert (m.get("window_open_windows@window_local"), m.get("window_open_windows@window_merge")) == (local, merge)
    return engines.read_table(d / "ours")


def test_one_partition(bootstrap, spark, tmp_path):
    """Topic with 1 partition, in-order event times, prefilled; both engines drain it."""
    rs = rides.parity_rides()
    topic, dlq = topic_names("rides1")
    rides.create_topics(bootstrap, {topic: 1, dlq: 1})
    rides.produce(bootstrap, topic, [(0, r.value) for r in rs])

    spark.conf.set("spark.sql.ansi.enabled", "false")  # see test_ansi_spark_fails_on_bad_ts
    progress = seed_job.run(spark, bootstrap, str(tmp_path / "spark"), str(tmp_path / "spark_ckpt"), topic)
    check_spark_progress(progress, rs)

    ours_t = run_ours(bootstrap, topic, dlq, tmp_path, rs, [0] * len(rs))
    check_tables(engines.read_table(tmp_path / "spark"), ours_t, rs)
    check_dead_letters(bootstrap, dlq, rs)


def test_six_partitions(bootstrap, spark, tmp_path):
    """Topic with 6 partitions (records round-robin, in order within each), each ending at the
    same event time (rides.closing_rides). Ours runs while the rides are produced in 5-minute
    event-time phases (a live stream); Spark then drains the whole topic (one batch: nothing is
    late)."""
    rs = rides.parity_rides()
    topic, dlq = topic_names("rides6")
    rides.create_topics(bootstrap, {topic: 6, dlq: 1})
    recs = [(i % 6, r) for i, r in enumerate(rs)]
    closing = rides.closing_rides(rs, 6)
    recs += closing
    rs = rs + [r for _, r in closing]
    phases: list[list] = []
    last = 0
    for part, r in recs:
        ph = (rides.epoch_us(r.ts) - rides.epoch_us(rides.T0)) // rides.WINDOW_US if r.ts is not None else last
        last = ph
        while len(phases) <= ph:
            phases.append([])
        phases[ph].append((part, r))

    def produce_phases(rc):
        done = 0
        for ph in phases:
            rides.produce(bootstrap, topic, [(p, r.value) for p, r in ph])
            done += sum(r.kind == "ok" for _, r in ph)
            rc.wait_until(lambda m, n=done: m.get("window_input_rows_total", 0) >= n,
                          f"{done} rows aggregated", timeout=120)

    ours_t = run_ours(bootstrap, topic, dlq, tmp_path, rs, [p for p, _ in recs], produce_phases)

    spark.conf.set("spark.sql.ansi.enabled", "false")
    progress = seed_job.run(spark, bootstrap, str(tmp_path / "spark"), str(tmp_path / "spark_ckpt"), topic)
    check_spark_progress(progress, rs)
    check_tables(engines.read_table(tmp_path / "spark"), ours_t, rs)
    check_dead_letters(bootstrap, dlq, rs)


def test_ansi_spark_fails_on_bad_ts(bootstrap, spark, tmp_path):
    """The seed as written (Spark 4 defaults: ANSI on) dies on the one record whose ts does not
    parse, and writes nothing; rides.yaml dead-letters it (bad_timestamp, checked above)."""
    from pyspark.errors import StreamingQueryException

    rs = rides.parity_rides()
    topic, _ = topic_names("ridesansi")
    rides.create_topics(bootstrap, {topic: 1})
    rides.produce(bootstrap, topic, [(0, r.value) for r in rs])
    spark.conf.unset("spark.sql.ansi.enabled")
    assert spark.conf.get("spark.sql.ansi.enabled") == "true"
    with pytest.raises(StreamingQueryException) as e:
        seed_job.run(spark, bootstrap, str(tmp_path / "spark"), str(tmp_path / "spark_ckpt"), topic)
    assert "CAST_INVALID_INPUT" in str(e.value) and "14/03/2025 12:31" in str(e.value)
    assert not (tmp_path / "spark" / "_delta_log").exists() or not any(
        (tmp_path / "spark").glob("*.parquet"))


def test_six_partitions_prefilled_backlog(bootstrap, spark, tmp_path):
    """docs/spark-parity.md: the same rides prefilled in 6 partitions. Spark reads the backlog as
    one batch and keeps every row. rides.yaml judges lateness per partition (its own progress),
    so however it fetches the partitions no row is late and the table must equal the model
    (with Spark's global watermark per input batch, 375-402 of 600 rows were late here). Whatever
    happens, every missing row must be counted in window_late_rows_total (no silent loss)."""
    rs = rides.parity_rides()
    topic, dlq = topic_names("rides6b")
    rides.create_topics(bootstrap, {topic: 6, dlq: 1})
    closing = rides.closing_rides(rs, 6)
    rides.produce(bootstrap, topic, [(i % 6, r.value) for i, r in enumerate(rs)] + [(p, r.value) for p, r in closing])
    rs = rs + [r for _, r in closing]

    spark.conf.set("spark.sql.ansi.enabled", "false")
    progress = seed_job.run(spark, bootstrap, str(tmp_path / "spark"), str(tmp_path / "spark_ckpt"), topic)
    check_spark_progress(progress, rs)
    spark_t = engines.read_table(tmp_path / "spark")
    assert engines.diff_tables(spark_t, rides.model(rs, spark_rules=True)) == []

    valid = sum(r.kind == "ok" for r in rs)
    rc = engines.RidesConnect(bootstrap, tmp_path / "ours", tmp_path / "ours_ckpt", tmp_path / "ours.log", dlq,
                              group=f"g_{topic}", topic=topic).start()
    try:
        # Every window of the model in Delta (stage 2 writes after stage 1 has read everything), or
        # fewer rows written for as many counted late (the assertions below say which).
        rows = len(rides.model(rs, spark_rules=False))
        m = rc.wait_until(lambda m: m.get("window_input_rows_total", 0) + m.get("window_late_rows_total", 0) >= valid
                          and engines.drained(0, len(rs) - valid)(m)
                          and (m.get("delta_rows_written_total", 0) >= rows or m.get("window_late_rows_total", 0) > 0),
                          "drain of the topic", timeout=180)
    finally:
        assert rc.stop() == 0, rc.tail()
    ours_t = engines.read_table(tmp_path / "ours")
    late = int(m.get("window_late_rows_total", 0))
    want = rides.model(rs, spark_rules=False)
    assert sum(v[2] for v in want.values()) - sum(v[2] for v in ours_t.values()) == late
    short = []
    for k, (rev, avg, cnt) in want.items():
        got = ours_t.get(k)
        assert got is None or got[2] <= cnt, (k, got, want[k])
        if got is None or got[2] < cnt:
            short.append(k)
        else:
            assert engines.close(got[0], rev) and engines.close(got[1], avg), (k, got, want[k])
    assert set(ours_t) <= set(want)
    print(f"prefilled 6 partitions: {late} of {valid} rows late in rides-connect, "
          f"{len(short)} of {len(want)} windows short; Spark: 0 late")
    assert late == 0 and short == [], "a backlog on several partitions must not be dropped as late"
