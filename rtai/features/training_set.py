"""A labelled training set: the history's transactions joined point-in-time with a FeatureService.

Runs in the feast environment (`rtai features training-set` starts it there):
    python -m rtai.features.training_set --repo R --feature-store-yaml Y --history H --out O ...

Each transaction is an entity row (card_id, merchant_id) at its event time minus the lag;
Feast's point-in-time join gives it, per feature view, the newest row at or before that
moment and within the view's ttl. Gaps get the inference job's defaults and a flag.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feast import FeatureStore

from flink_jobs.stages.features.defaults import MISSING_FLAG, default
from rtai.features import training_metadata


def entity_rows(history: pd.DataFrame, days: float | None, lag_ms: int) -> pd.DataFrame:
    """The last `days` days of transactions, with `event_time` kept and Feast's timestamp moved back by the lag."""
    if days is not None:
        history = history[history["event_timestamp"] > history["event_timestamp"].max() - pd.Timedelta(days=days)]
    history = history.rename(columns={"event_timestamp": "event_time"})
    return history.assign(event_timestamp=history["event_time"] - pd.Timedelta(milliseconds=lag_ms))


def service_features(store: FeatureStore, feature_service: str) -> list[str]:
    """The service's feature names, in its order: the model's Feast inputs."""
    service = store.get_feature_service(feature_service)
    return [feature.name for projection in service.feature_view_projections for feature in projection.features]


def build(store: FeatureStore, entities: pd.DataFrame, feature_service: str) -> pd.DataFrame:
    service = store.get_feature_service(feature_service)
    names = service_features(store, feature_service)
    joined = store.get_historical_features(entity_df=entities, features=service).to_df()
    joined[MISSING_FLAG] = joined[names].isna().any(axis=1)
    joined = joined.fillna({name: default(name) for name in names})
    return joined.sort_values(["event_time", "event_id"], ignore_index=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--feature-store-yaml", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--feature-service", required=True)
    parser.add_argument("--lag-ms", type=int, required=True)
    parser.add_argument("--days", type=float)
    args = parser.parse_args(argv)

    started = time.monotonic()
    store = FeatureStore(repo_path=str(args.repo), fs_yaml_file=args.feature_store_yaml)
    entities = entity_rows(pd.read_parquet(args.history), args.days, args.lag_ms)
    table = build(store, entities, args.feature_service)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Which columns are the service's features, in order, travels with the file for training.
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    about = training_metadata.encode(args.feature_service, service_features(store, args.feature_service))
    arrow = arrow.replace_schema_metadata({**arrow.schema.metadata, **about})
    pq.write_table(arrow, args.out)
    label_rate = table["is_fraud"].mean() if len(table) else 0.0
    print(
        f"wrote {args.out}: {table.shape[0]:,} rows x {table.shape[1]} columns, label rate {label_rate:.2%}, "
        f"{table[MISSING_FLAG].mean():.1%} rows with a default feature, {time.monotonic() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
