"""How a training set file names its features: JSON in its Parquet schema metadata, written by
`rtai features training-set` (feast environment) and read by training (model environment)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

METADATA_KEY = b"rtai.training_set"


def encode(feature_service: str, features: list[str]) -> dict[bytes, bytes]:
    return {METADATA_KEY: json.dumps({"feature_service": feature_service, "features": features}).encode()}


def feature_names(path: Path) -> list[str]:
    """The FeatureService's features in the file, in the service's order."""
    metadata = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in metadata:
        raise SystemExit(f"{path} was not written by `rtai features training-set` (no {METADATA_KEY.decode()})")
    return json.loads(metadata[METADATA_KEY])["features"]
