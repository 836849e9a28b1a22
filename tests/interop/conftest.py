"""Fixtures: the product binary (built once), versitygw (one per session, on
127.0.0.1 and a free port, stopped by PID), and a `store` parametrised over
local disk and S3 so every reader check runs against both."""

from __future__ import annotations

import itertools
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import harness  # noqa: E402
from readers import Store  # noqa: E402


@pytest.fixture(scope="session")
def binary() -> Path:
    path = harness.build_binary()
    if not harness.has_output(path, "delta_lake"):
        pytest.fail("the rides-connect binary has no `delta_lake` output: plugins/deltalake "
                    "does not register it yet, so there is no table to check")
    return path


@pytest.fixture(scope="session")
def versitygw(tmp_path_factory):
    if not harness.VERSITYGW.exists():
        pytest.fail(f"{harness.VERSITYGW} missing: run tests/interop/setup.sh")
    d = tmp_path_factory.mktemp("versitygw")
    gw = harness.VersityGW(d / "root", d / "versitygw.log")
    try:
        gw.create_bucket("lake")
        yield gw
    finally:
        gw.stop()


_s3_prefixes = itertools.count(1)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        root = tmp_path / "tables"
        root.mkdir()
        return Store("local", str(root), root)
    gw = request.getfixturevalue("versitygw")
    prefix = f"t{next(_s3_prefixes)}"  # one prefix per test inside the shared bucket
    return Store(
        kind="s3",
        base_uri=f"s3://lake/{prefix}",
        disk_root=gw.root / "lake" / prefix,
        storage_options={
            "AWS_ENDPOINT_URL": gw.endpoint,
            "AWS_ACCESS_KEY_ID": harness.S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": harness.S3_SECRET_KEY,
            "AWS_REGION": harness.S3_REGION,
            "AWS_ALLOW_HTTP": "true",
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",  # path-style, as versitygw serves
        },
        writer_s3={"endpoint": gw.endpoint, "region": harness.S3_REGION, "force_path_style": True},
        env=harness.s3_env(),
        duck_secret=(
            f"CREATE SECRET lake (TYPE s3, KEY_ID '{harness.S3_ACCESS_KEY}', "
            f"SECRET '{harness.S3_SECRET_KEY}', REGION '{harness.S3_REGION}', "
            f"ENDPOINT '127.0.0.1:{gw.port}', URL_STYLE 'path', USE_SSL false)"
        ),
    )


@pytest.fixture
def copy_table(tmp_path):
    """Copy a table's files (from disk) to a fresh local directory."""
    def _copy(src: Path, name: str) -> Path:
        dst = tmp_path / "copies" / name
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".*"))
        return dst
    return _copy


@pytest.fixture
def write_ours(binary, tmp_path):
    """write_ours(store, name, rows, per_seq, **delta_config kwargs): run our
    binary once over `rows` into table `name` of `store`."""
    import pipelines

    runs = itertools.count()

    def _write(store: Store, name: str, rows: list[dict], per_seq: int, **kw):
        f = pipelines.write_jsonl(tmp_path / f"{name}-{next(runs)}.jsonl", rows)
        cfg = pipelines.delta_config(f, store.uri(name), per_seq, s3=store.writer_s3, **kw)
        return harness.run_benthos(binary, cfg, tmp_path / "configs", env=store.env)

    return _write
