"""Triton from the nvidia-pytriton wheel serving an ONNX model through the project's backend."""

from __future__ import annotations

import re
import time

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient

from rtai.stack.probes import http_get
from tests.onnx_models import logistic_config, write_logistic_model
from tests.stack_helpers import isolated_stack, isolated_stack_toml

FEATURES = 4
REQUESTS = 5


@pytest.fixture(scope="module")
def tiny_triton(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("triton")
    repo = tmp / "repo"
    write_logistic_model(repo / "tiny" / "1" / "model.onnx", FEATURES, seed=7)
    (repo / "tiny" / "config.pbtxt").write_text(logistic_config("tiny", FEATURES))
    toml = isolated_stack_toml({"triton": {"model_repository": str(repo)}})
    with isolated_stack(tmp, ["triton"], toml) as stack:
        yield stack, repo / "tiny" / "1" / "model.onnx"


def test_grpc_infer_matches_onnxruntime_and_metrics_count_requests(tiny_triton):
    stack, model_file = tiny_triton
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{stack.config.triton.grpc_port}")
    metadata = client.get_model_metadata("tiny", as_json=True)
    assert metadata["inputs"][0]["shape"] == ["-1", str(FEATURES)]

    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for batch in (1, 7, 256, 3, 64)[:REQUESTS]:
        x = rng.normal(size=(batch, FEATURES)).astype(np.float32)
        request = grpcclient.InferInput("x", list(x.shape), "FP32")
        request.set_data_from_numpy(x)
        result = client.infer("tiny", [request], outputs=[grpcclient.InferRequestedOutput("y")])
        served = result.as_numpy("y")
        expected = session.run(["y"], {"x": x})[0]
        assert served.shape == (batch, 1)
        np.testing.assert_allclose(served, expected, rtol=0, atol=1e-6)
    client.close()

    # Triton counts a request once its statistics are recorded, which can follow the response
    # the client already has: the counter is polled until it reaches REQUESTS (or 10 s pass).
    deadline = time.monotonic() + 10
    while True:
        counted = request_success_count(stack.config.triton.metrics_port, "tiny")
        if counted >= REQUESTS or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert counted == REQUESTS


def request_success_count(metrics_port: int, model: str) -> int:
    status, body = http_get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert status == 200
    match = re.search(rf'^nv_inference_request_success\{{model="{model}",version="1"\}} (\d+)', body.decode(), re.M)
    assert match, "no request counter for the model in /metrics"
    return int(match.group(1))
