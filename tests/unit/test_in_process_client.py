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
from tests.onnx_models import model_repository

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
    feeds = {i.name: columns[i.name].reshape(-1, 1) for i in session.get_inputs()}
    expected = session.run(None, feeds)[0]
    output = signature.outputs[0].name
    np.testing.assert_array_equal(inference.outputs[output], expected)
    assert inference.versions == ["2"] * 50
    assert signature.version == "2" and {s.name for s in signature.inputs} == set(COLUMNS)


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
