"""`feast apply`, then the empty Parquet file behind each PushSource's file batch source, if
missing: Feast's file offline store appends pushed rows to that file and fails when it does not
exist yet; and a SQLite online store's file in write-ahead-log mode, so the feature server's
reads do not wait for a push's write (nor it for them). One process for all three, as a start
of Python with Feast imported costs ~8 s here.
Runs in the feast environment (`rtai features apply` and the stack's first Feast start call it):
`python infra/feast/apply_repo.py <feature_repo> <feature_store.yaml>`.
"""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from feast import FeatureStore, FileSource, PushSource
from feast.cli.cli import cli
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
from feast.types import from_value_type

ARROW_TYPES = {
    "Int64": pa.int64(),
    "Int32": pa.int32(),
    "Float64": pa.float64(),
    "Float32": pa.float32(),
    "String": pa.string(),
    "Bool": pa.bool_(),
}


def arrow_type(feast_type: object) -> pa.DataType:
    name = str(feast_type)
    if name not in ARROW_TYPES:
        raise SystemExit(f"apply_repo: no Parquet type for Feast type {name}")
    return ARROW_TYPES[name]


def create_push_files(repo: Path, feature_store_yaml: Path) -> None:
    store = FeatureStore(repo_path=str(repo), fs_yaml_file=feature_store_yaml)
    entities = {e.join_key: e for e in store.list_entities()}
    for view in store.list_feature_views():
        source = view.stream_source or view.batch_source
        if not isinstance(source, PushSource) or not isinstance(source.batch_source, FileSource):
            continue
        path = Path(source.batch_source.path)
        path = path if path.is_absolute() else repo / path
        if path.exists():
            continue
        fields = [pa.field(key, arrow_type(from_value_type(entities[key].value_type))) for key in view.join_keys]
        fields.append(pa.field(source.batch_source.timestamp_field, pa.timestamp("us", tz="UTC")))
        fields += [pa.field(f.name, arrow_type(f.dtype)) for f in view.features]
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist([], schema=pa.schema(fields)), path)
        print(f"created {path} for push source {source.name}")


def use_write_ahead_log(repo: Path, feature_store_yaml: Path) -> None:
    """SQLite keeps a database's journal mode in its file: every later connection, Feast's
    included, reads and writes in WAL mode, where readers and the one writer go on together (in
    the default rollback mode a reader waits while a write commits, in SQLite's busy handler's
    sleeps of up to 100 ms)."""
    online = FeatureStore(repo_path=str(repo), fs_yaml_file=feature_store_yaml).config.online_store
    if not isinstance(online, SqliteOnlineStoreConfig):
        return
    path = Path(online.path)
    path = path if path.is_absolute() else repo / path
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        raise SystemExit(f"apply_repo: {path} stayed in journal mode {mode!r}, not wal")


def main(repo: Path, feature_store_yaml: Path) -> None:
    cli.main(["--chdir", str(repo), "-f", str(feature_store_yaml), "apply"], prog_name="feast", standalone_mode=False)
    create_push_files(repo, feature_store_yaml)
    use_write_ahead_log(repo, feature_store_yaml)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
