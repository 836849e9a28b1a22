"""Fixtures: the broker run.sh started (KAFKA_PLAINTEXT), one Spark session for all queries
(its JVM costs ~20 s to start), and a work dir per test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import seed_job  # noqa: E402


@pytest.fixture(scope="session")
def bootstrap() -> str:
    bs = os.environ.get("KAFKA_PLAINTEXT")
    if not bs:
        pytest.skip("no broker: KAFKA_PLAINTEXT is unset (tests/sparkparity/run.sh starts one)")
    return bs


@pytest.fixture(scope="session")
def spark():
    s = seed_job.make_session(shuffle_partitions=2, driver_memory="1g", app="sparkparity")
    try:
        yield s
    finally:
        s.stop()
