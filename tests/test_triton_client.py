"""The Triton client module against a real Triton: chunking by max batch size, row order,
lossless dtype conversion only, and a clear error from a down server after its retries."""

from __future__ import annotations

import asyncio
import re
import time

import numpy as np
import onnxruntime as ort
import pytest

from flink_jobs.clients.triton_client import TritonClient, TritonUnavailable
from rtai.benchmarks.model import perf_analyzer
from rtai.stack.probes import http_get
from tests.onnx_models import write_columns_model
from tests.stack_helpers import cli, isolated_env, isolated_stack, isolated_stack_toml

COLUMNS = ["amount", "is_ecom", "txn_count_1m"]
MAX_BATCH = 64


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("triton-client")
    model = tmp / "model.onnx"
    write_columns_model(model, COLUMNS, seed=11)
    pipeline = tmp / "pipeline.toml"
    pipeline.write_text(
        f"[model.serving]\nmax_batch_size = {MAX_BATCH}\n"
        f"preferred_batch_sizes = [{MAX_BATCH}]\nmax_queue_delay_us = 0\n"
    )
    toml = isolated_stack_toml({"triton": {"model_repository": str(tmp / "repo")}})
    env = isolated_env(tmp, toml)
    result = cli("model", "register", "--model", str(model), "--name", "columns", "--pipeline", str(pipeline), env=env)
    assert result.returncode == 0, result.stderr
    with isolated_stack(tmp, ["triton"], toml) as stack:
        yield stack, model


def success_count(stack) -> int:
    _, body = http_get(f"http://127.0.0.1:{stack.config.triton.metrics_port}/metrics")
    match = re.search(r'^nv_inference_request_success\{model="columns",version="1"\} (\d+)', body.decode(), re.M)
    return int(match.group(1)) if match else 0


def test_a_large_batch_is_split_into_max_batch_chunks_and_rows_keep_their_order(served):
    stack, model = served
    rng = np.random.default_rng(5)
    columns = {
        "amount": rng.lognormal(3, 1, 1000).astype(np.float32),
        "is_ecom": rng.integers(0, 2, 1000).astype(np.float32),
        "txn_count_1m": rng.integers(0, 20, 1000),  # int64 counts: exact in FP32, so converted
        "not_a_model_input": np.zeros(1000),
    }
    before = success_count(stack)

    async def run():
        client = TritonClient(stack.config.triton_grpc_url, "columns", max_in_flight=4)
        try:
            signature = await client.connect()
            return signature, await client.infer(columns)
        finally:
            await client.close()

    signature, result = asyncio.run(run())
    assert signature.max_batch_size == MAX_BATCH
    assert [spec.name for spec in signature.inputs] == COLUMNS
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    feeds = {name: columns[name].astype(np.float32).reshape(-1, 1) for name in COLUMNS}
    np.testing.assert_allclose(result["score"], session.run(["score"], feeds)[0], atol=1e-6)
    assert success_count(stack) - before == -(-1000 // MAX_BATCH)  # 16 requests of at most 64 rows


def test_a_lossy_dtype_is_refused_with_the_column_named(served):
    stack, _ = served
    columns = {"amount": np.array([42.17]), "is_ecom": np.array([1.0], np.float32), "txn_count_1m": np.array([3])}

    async def run():
        client = TritonClient(stack.config.triton_grpc_url, "columns")
        try:
            await client.infer(columns)
        finally:
            await client.close()

    with pytest.raises(ValueError, match="column 'amount' is float64, the model's input is float32"):
        asyncio.run(run())


def test_a_missing_input_column_is_named(served):
    stack, _ = served

    async def run():
        client = TritonClient(stack.config.triton_grpc_url, "columns")
        try:
            await client.infer({"amount": np.ones(2, np.float32)})
        finally:
            await client.close()

    with pytest.raises(ValueError, match="needs input\\(s\\) is_ecom, txn_count_1m"):
        asyncio.run(run())


def test_a_down_server_fails_clearly_after_the_retry_budget():
    async def run():
        client = TritonClient("127.0.0.1:1", "columns", timeout_s=1, retries=2, backoff_ms=50)
        try:
            await client.connect()
        finally:
            await client.close()

    started = time.monotonic()
    with pytest.raises(TritonUnavailable, match=re.escape("Triton at 127.0.0.1:1: model metadata failed 3 times")):
        asyncio.run(run())
    assert time.monotonic() - started >= 0.15  # the two backoffs, 50 + 100 ms


def test_perf_analyzer_from_the_tritonclient_wheel_measures_the_served_model(served, tmp_path):
    stack, _ = served
    rows = perf_analyzer("columns", stack.config.triton_grpc_url, 8, [1], tmp_path / "perf.csv")
    assert len(rows) == 1 and "error" not in rows[0], rows
    assert rows[0]["rows_per_s"] > 0
    assert 0 < rows[0]["latency_ms_p50"] <= rows[0]["latency_ms_p99"]
