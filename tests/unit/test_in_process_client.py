"""The inference job's in-process scoring (`serving = "in_process"`): onnxruntime on the champion
of a Triton-layout repository gives what onnxruntime gives on the file, names the version, and a
model that cannot score is refused at start with its path, never used."""

from __future__ import annotations

import asyncio

import numpy as np
import onnxruntime as ort
import pytest

from flink_jobs.clients.in_process_client import InProcessClient
from flink_jobs.errors import UserFacingError
from tests.onnx_models import model_repository, write_columns_model

COLUMNS = ["amount", "hour", "txn_count_1h"]


def test_scores_equal_onnxruntimes_on_the_served_version(tmp_path):
    repo = model_repository(tmp_path, COLUMNS, {1: None, 2: None}, served=2)
    client = InProcessClient(repo, "fraud_mlp")
    rng = np.random.default_rng(1)
    columns = {name: rng.uniform(0, 100, 50).astype(np.float32) for name in COLUMNS}

    async def score():
        signature = await client.connect()
        inference = await client.infer_rows(columns)
        await client.close()
        return signature, inference

    signature, inference = asyncio.run(score())
    session = ort.InferenceSession(str(repo / "fraud_mlp" / "2" / "model.onnx"), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"features": np.column_stack([columns[name] for name in COLUMNS])})[0]
    output = signature.outputs[0].name
    np.testing.assert_array_equal(inference.outputs[output], expected)
    assert inference.versions == ["2"] * 50
    assert signature.version == "2" and [(s.name, s.columns) for s in signature.inputs] == [
        ("features", tuple(COLUMNS))
    ]


def test_a_model_with_one_input_per_column_scores_the_same_columns(tmp_path):
    """The layout of models registered before the matrix input (one [batch, 1] input per column)."""
    write_columns_model(tmp_path / "columns.onnx", COLUMNS, seed=1, layout="columns")
    repo = model_repository(tmp_path, COLUMNS, {1: (tmp_path / "columns.onnx").read_bytes(), 2: None}, served=1)
    rng = np.random.default_rng(2)
    columns = {name: rng.uniform(0, 100, 20).astype(np.float32) for name in reversed(COLUMNS)}

    async def score(client: InProcessClient):
        inference = await client.infer_rows(columns)
        await client.close()
        return inference.outputs["score"]

    per_column = asyncio.run(score(InProcessClient(repo, "fraud_mlp")))
    matrix = asyncio.run(
        score(InProcessClient(model_repository(tmp_path / "m", COLUMNS, {1: None}, served=1), "fraud_mlp"))
    )
    np.testing.assert_allclose(per_column, matrix, rtol=1e-6)  # the same weights (seed 1), either layout


def test_a_model_that_cannot_score_is_refused_at_start_with_its_path(tmp_path):
    repo = model_repository(tmp_path, COLUMNS, {1: b"not an onnx model"}, served=1)
    with pytest.raises(UserFacingError, match=r"fraud_mlp/1/model.onnx: onnxruntime cannot score with it"):
        asyncio.run(InProcessClient(repo, "fraud_mlp").connect())


def test_a_served_version_without_an_onnx_file_is_refused(tmp_path):
    repo = model_repository(tmp_path, COLUMNS, {1: None}, served=1)
    (repo / "fraud_mlp" / "1" / "model.onnx").rename(repo / "fraud_mlp" / "1" / "model.plan")
    with pytest.raises(UserFacingError, match=r"inference_job\.serving = in_process needs an ONNX model"):
        asyncio.run(InProcessClient(repo, "fraud_mlp").connect())


def test_no_rows_give_empty_outputs_of_the_models_shape_and_type(tmp_path):
    client = InProcessClient(model_repository(tmp_path, COLUMNS, {1: None}, served=1), "fraud_mlp")

    async def score():
        inference = await client.infer_rows({name: np.empty(0, np.float32) for name in COLUMNS})
        await client.close()
        return inference

    inference = asyncio.run(score())
    assert inference.versions == []
    assert (inference.outputs["score"].shape, inference.outputs["score"].dtype) == ((0, 1), np.float32)
