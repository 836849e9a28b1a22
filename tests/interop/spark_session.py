"""A local-mode Spark session with Delta, for the slow interop tier.

delta-spark's pip helper adds `spark.jars.packages io.delta:delta-spark_<spark>_2.13`;
Ivy resolves it from Maven Central into SPARK_IVY_DIR (default <repo>/.cache/ivy2)
the first time, then from that cache.

`python spark_session.py --warm` resolves the jars and runs one tiny Delta
round trip, so `setup.sh --spark` fails early with Ivy's own message.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def make_session():
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    ivy = os.environ.get("SPARK_IVY_DIR", str(REPO / ".cache" / "ivy2"))
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("rides-connect-interop")
        .config("spark.jars.ivy", ivy)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "1g")
        .config("spark.ui.enabled", "false")
        # Keep Spark's default warehouse dir out of the source tree.
        .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="spark-warehouse-"))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        # Bind the driver to loopback only.
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
    )
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def warm() -> None:
    spark = make_session()
    try:
        with tempfile.TemporaryDirectory() as d:
            spark.range(3).write.format("delta").save(d)
            n = spark.read.format("delta").load(d).count()
            if n != 3:
                raise SystemExit(f"Delta round trip read {n} rows, wrote 3")
        print("spark:", spark.version, "delta round trip ok")
    finally:
        spark.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["--warm"]:
        warm()
    else:
        raise SystemExit("usage: spark_session.py --warm")
