"""Independent readers of our tables: delta-rs (`deltalake`), DuckDB's delta
extension, and plain pyarrow / JSON for the raw log. None of them shares code
with the Go writer."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable


@dataclass
class Store:
    """Where a test's tables live. For S3 the bytes are also on disk, under
    versitygw's posix root, which lets tests read the raw log and copy tables."""

    kind: str  # "local" or "s3"
    base_uri: str  # a directory path, or s3://bucket
    disk_root: Path  # the same tables as files
    storage_options: dict = field(default_factory=dict)
    writer_s3: dict | None = None  # the delta_lake `s3` block
    env: dict | None = None  # environment for our binary
    duck_secret: str = ""  # DuckDB CREATE SECRET statement for S3

    def uri(self, name: str) -> str:
        return f"{self.base_uri}/{name}"

    def disk(self, name: str) -> Path:
        return self.disk_root / name

    def s3_client(self):
        import boto3
        from botocore.config import Config

        o = self.storage_options
        return boto3.client("s3", endpoint_url=o["AWS_ENDPOINT_URL"], region_name=o["AWS_REGION"],
                            aws_access_key_id=o["AWS_ACCESS_KEY_ID"], aws_secret_access_key=o["AWS_SECRET_ACCESS_KEY"],
                            config=Config(s3={"addressing_style": "path"}))

    def table(self, name: str, version: int | None = None) -> DeltaTable:
        return DeltaTable(self.uri(name), version=version, storage_options=self.storage_options or None)


def rows_of(dt: DeltaTable) -> list[dict]:
    return dt.to_pyarrow_table().to_pylist()


def add_actions(dt: DeltaTable) -> list[dict]:
    return pa.table(dt.get_add_actions(flatten=True)).to_pylist()


def _ext_path(module) -> str:
    base = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    (ext,) = base.glob("*.duckdb_extension")
    return str(ext)


def duck(store: Store | None = None) -> duckdb.DuckDBPyConnection:
    """DuckDB with the delta (and, for S3, httpfs) extensions loaded from their
    PyPI wheels; autoinstall is off, so nothing is downloaded at run time."""
    import duckdb_extension_delta
    import duckdb_extension_httpfs

    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    con.execute(f"LOAD '{_ext_path(duckdb_extension_httpfs)}'")
    con.execute(f"LOAD '{_ext_path(duckdb_extension_delta)}'")
    con.execute("SET TimeZone = 'UTC'")
    if store is not None and store.duck_secret:
        con.execute(store.duck_secret)
    return con


def duck_rows(con: duckdb.DuckDBPyConnection, uri: str) -> list[dict]:
    rel = con.execute(f"SELECT * FROM delta_scan('{uri}')")
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


# ---- the raw log, as JSON lines on disk (the protocol is the oracle)


def log_dir(table_dir: Path) -> Path:
    return table_dir / "_delta_log"


def commit_files(table_dir: Path) -> list[Path]:
    return sorted(p for p in log_dir(table_dir).glob("*.json") if p.stem.isdigit())


def commit_actions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def data_files(table_dir: Path) -> set[str]:
    """Every parquet file outside _delta_log, relative to the table."""
    out = set()
    for root, dirs, files in os.walk(table_dir):
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        for f in files:
            if f.endswith(".parquet"):
                out.add(os.path.relpath(os.path.join(root, f), table_dir))
    return out


def parquet_of(table_dir: Path, add_path: str) -> pa.Table:
    from urllib.parse import unquote

    return pq.read_table(table_dir / unquote(add_path))


def replay_json(table_dir: Path, upto: int) -> dict:
    """Replay commits 0..upto from the JSON log alone (append/compact tables:
    add, remove, txn, protocol, metaData) — the oracle for checkpoint content."""
    live: dict[str, dict] = {}
    txns: dict[str, int] = {}
    protocol = metadata = None
    for f in commit_files(table_dir):
        if int(f.stem) > upto:
            break
        for a in commit_actions(f):
            if "add" in a:
                live[a["add"]["path"]] = a["add"]
            elif "remove" in a:
                live.pop(a["remove"]["path"], None)
            elif "txn" in a:
                txns[a["txn"]["appId"]] = a["txn"]["version"]
            elif "protocol" in a:
                protocol = a["protocol"]
            elif "metaData" in a:
                metadata = a["metaData"]
    return {"live": live, "txns": txns, "protocol": protocol, "metadata": metadata}
