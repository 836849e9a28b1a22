"""The seed's Spark Structured Streaming job (shared/seed, §3–§5), in PySpark.

Kafka topic `rides` (JSON) → from_json(rideSchema) → upper(city), to_timestamp(ts)
→ withWatermark(ts, 10 min) → groupBy(window(ts, 5 min), city)
→ sum(price), avg(distanceKm), count(lit(1)) → the seed's select → Delta, append.

Changes from the seed, each needed to run it as a test reference:
- startingOffsets=earliest (the seed reads `latest`; a prefilled topic would be ignored);
- trigger availableNow (drain what is in the topic, then stop) instead of 5 s processing time
  (`--trigger processing` gives the seed's trigger);
- spark.sql.session.timeZone=UTC (the seed leaves the JVM zone; win_start/win_end are
  formatted in the session zone, and `ts` without a zone is read in it);
- PLAINTEXT Kafka (no SASL_SSL), local[2], local paths.

Used as a library by test_parity.py (one session, several queries) and as a script by bench.sh:
    python seed_job.py --bootstrap 127.0.0.1:9092 --out /tmp/t --checkpoint /tmp/c
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def make_session(shuffle_partitions: int = 2, driver_memory: str = "2g", app: str = "Streaming-Kafka-Rides"):
    """A local[2] session with Delta and the Kafka source; jars come from Maven Central via Ivy
    into <repo>/.cache/ivy2 (shared with tests/interop) the first time."""
    import pyspark
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    ivy = os.environ.get("SPARK_IVY_DIR", str(REPO / ".cache" / "ivy2"))
    kafka_pkg = f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}"
    builder = (
        SparkSession.builder.master("local[2]")
        .appName(app)
        .config("spark.jars.ivy", ivy)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        # As the seed.
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
    )
    spark = configure_spark_with_delta_pip(builder, extra_packages=[kafka_pkg]).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def ride_schema():
    from pyspark.sql.types import DoubleType, LongType, StringType, StructType

    # The seed declares every field non-nullable; from_json makes them nullable anyway.
    return (
        StructType()
        .add("rideId", LongType(), False)
        .add("userId", LongType(), False)
        .add("city", StringType(), False)
        .add("distanceKm", DoubleType(), False)
        .add("price", DoubleType(), False)
        .add("ts", StringType(), False)
    )


def build_agg(spark, bootstrap: str, topic: str = "rides", starting_offsets: str = "earliest", by_user: bool = False):
    """The seed's §3.2 + §4, unchanged except for startingOffsets; by_user groups by (city, userId)
    instead of city (the many-keys benchmark, docs/benchmarks.md)."""
    from pyspark.sql.functions import avg, col, count, date_format, from_json, lit, sum, to_timestamp, upper, window

    raw = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", starting_offsets)
        .option("failOnDataLoss", "false")
        .load()
    )
    rides = (
        raw.selectExpr("CAST(value AS STRING) as json")
        .select(from_json(col("json"), ride_schema()).alias("r"))
        .select(
            col("r.rideId"),
            col("r.userId"),
            upper(col("r.city")).alias("city"),
            col("r.distanceKm"),
            col("r.price"),
            to_timestamp(col("r.ts")).alias("ts"),
        )
        .withWatermark("ts", "10 minutes")
    )
    keys = [col("city"), col("userId")] if by_user else [col("city")]
    return (
        rides.groupBy(window(col("ts"), "5 minutes"), *keys)
        .agg(
            sum(col("price")).alias("revenue"),
            avg(col("distanceKm")).alias("avg_distance"),
            count(lit(1)).alias("cnt"),
        )
        .select(
            *keys,
            date_format(col("window.start"), "yyyy-MM-dd HH:mm:ss").alias("win_start"),
            date_format(col("window.end"), "yyyy-MM-dd HH:mm:ss").alias("win_end"),
            col("revenue"),
            col("avg_distance"),
            col("cnt"),
        )
    )


def run(spark, bootstrap: str, out: str, checkpoint: str, topic: str = "rides", trigger: str = "availableNow",
        by_user: bool = False):
    """Runs the query to completion (availableNow) and returns its progress reports:
    one dict per micro-batch (batchId, numInputRows, watermark, state rows, dropped rows)."""
    agg = build_agg(spark, bootstrap, topic, by_user=by_user)
    w = (
        agg.writeStream.format("delta")
        .outputMode("append")
        .option("checkpointLocation", checkpoint)
        .option("path", out)
    )
    w = w.trigger(availableNow=True) if trigger == "availableNow" else w.trigger(processingTime="5 seconds")
    q = w.start()
    q.awaitTermination()
    return [summarize(p) for p in q.recentProgress]


def summarize(p: dict) -> dict:
    ops = p.get("stateOperators") or [{}]
    return {
        "batchId": p.get("batchId"),
        "numInputRows": p.get("numInputRows"),
        "watermark": (p.get("eventTime") or {}).get("watermark"),
        "maxEventTime": (p.get("eventTime") or {}).get("max"),
        "stateRows": ops[0].get("numRowsTotal"),
        "rowsDroppedByWatermark": ops[0].get("numRowsDroppedByWatermark"),
        "rowsUpdated": ops[0].get("numRowsUpdated"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "kafka:9092"))
    ap.add_argument("--topic", default="rides")
    ap.add_argument("--out", default=os.environ.get("OUT_DELTA"), required="OUT_DELTA" not in os.environ)
    ap.add_argument("--checkpoint", default=os.environ.get("CHECKPOINT"), required="CHECKPOINT" not in os.environ)
    ap.add_argument("--shuffle-partitions", type=int, default=2)
    ap.add_argument("--driver-memory", default="2g")
    ap.add_argument("--ansi", choices=["default", "false"], default="default",
                    help="'false' sets spark.sql.ansi.enabled=false (unparsable ts → null instead of a failed query)")
    ap.add_argument("--trigger", choices=["availableNow", "processing"], default="availableNow")
    ap.add_argument("--progress-out", help="write the per-batch progress summaries here (JSON)")
    ap.add_argument("--group-by-user", action="store_true", help="group by (city, userId), not city alone")
    args = ap.parse_args()

    t0 = time.monotonic()
    spark = make_session(args.shuffle_partitions, args.driver_memory)
    if args.ansi == "false":
        spark.conf.set("spark.sql.ansi.enabled", "false")
    t_session = time.monotonic() - t0
    try:
        progress = run(spark, args.bootstrap, args.out, args.checkpoint, args.topic, args.trigger, args.group_by_user)
    finally:
        spark.stop()
    t_total = time.monotonic() - t0
    summary = {"session_s": round(t_session, 2), "total_s": round(t_total, 2), "batches": progress}
    if args.progress_out:
        Path(args.progress_out).write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
