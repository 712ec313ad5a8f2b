"""`rtai model register|list|promote|rollback` against a real Triton over a temporary repository."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from rtai.models import triton_config
from rtai.models.signature import Tensor
from rtai.models.triton_config import Serving
from tests.flink_rest import free_port
from tests.onnx_models import write_columns_model, write_logistic_model
from tests.stack_helpers import cli, isolated_env, isolated_stack, isolated_stack_toml

FEATURES = 4
NAME = "tiny"


def infer(client: grpcclient.InferenceServerClient, x: np.ndarray) -> np.ndarray:
    request = grpcclient.InferInput("x", list(x.shape), "FP32")
    request.set_data_from_numpy(x)
    return client.infer(NAME, [request], outputs=[grpcclient.InferRequestedOutput("y")]).as_numpy("y")


def expected(model_file, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registry")
    repository = tmp / "repo"
    models = {version: tmp / f"v{version}.onnx" for version in (1, 2)}
    for version, path in models.items():
        write_logistic_model(path, FEATURES, seed=version)
    toml = isolated_stack_toml({"triton": {"model_repository": str(repository)}})
    env = isolated_env(tmp, toml)
    for path in models.values():
        result = cli("model", "register", "--model", str(path), "--name", NAME, env=env)
        assert result.returncode == 0, result.stderr
    with isolated_stack(tmp, ["triton"], toml) as stack:
        yield stack, env, repository, models


def test_registered_config_is_valid_and_names_the_model_signature(registry):
    _, _, repository, _ = registry
    config = text_format.Parse((repository / NAME / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert config.backend == "onnxruntime"
    assert [(i.name, list(i.dims)) for i in config.input] == [("x", [FEATURES])]
    assert [(o.name, list(o.dims)) for o in config.output] == [("y", [1])]
    assert config.max_batch_size == 1024
    assert list(config.dynamic_batching.preferred_batch_size) == [256, 1024]
    assert list(config.version_policy.specific.versions) == [1]  # a second registration does not serve itself
    assert config.model_warmup[0].inputs["x"].zero_data
    # One onnxruntime thread per instance: a thread per core spin-waits between runs (bench/README.md).
    assert config.parameters["intra_op_thread_count"].string_value == "1"
    assert sorted(p.name for p in (repository / NAME).iterdir()) == ["1", "2", "config.pbtxt"]


def test_triton_serves_the_registered_model_like_onnxruntime(registry):
    stack, _, _, models = registry
    client = grpcclient.InferenceServerClient(stack.config.triton_grpc_url)
    x = np.random.default_rng(3).normal(size=(300, FEATURES)).astype(np.float32)
    np.testing.assert_allclose(infer(client, x), expected(models[1], x), atol=1e-6)
    client.close()


def test_validate_checks_an_unserved_version_on_triton_and_serving_stays(registry):
    stack, env, _, models = registry
    result = cli("model", "validate", "2", "--name", NAME, env=env)
    assert result.returncode == 0, result.stderr
    assert f"{NAME} version 2: valid; Triton and onnxruntime differ by at most" in result.stdout
    client = grpcclient.InferenceServerClient(stack.config.triton_grpc_url)
    x = np.random.default_rng(6).normal(size=(8, FEATURES)).astype(np.float32)
    np.testing.assert_allclose(infer(client, x), expected(models[1], x), atol=1e-6)  # still version 1
    index = client.get_model_repository_index(as_json=True)["models"]
    assert [m["version"] for m in index if m.get("state") == "READY"] == ["1"]
    client.close()


def test_validate_names_a_config_that_disagrees_with_the_model(registry, tmp_path):
    _, env, repository, _ = registry
    broken = tmp_path / "repo"
    shutil.copytree(repository, broken)
    config = broken / NAME / "config.pbtxt"
    declared = text_format.Parse(config.read_text(), model_config_pb2.ModelConfig())
    declared.input[0].dims[0] = FEATURES + 1
    config.write_text(text_format.MessageToString(declared))
    result = cli("model", "validate", "1", "--name", NAME, "--repository", str(broken), env=env)
    assert result.returncode == 2
    assert "config.pbtxt declares" in result.stderr and "the model file has" in result.stderr


def test_promote_and_rollback_switch_versions_without_a_failed_request(registry):
    stack, env, _, models = registry
    client = grpcclient.InferenceServerClient(stack.config.triton_grpc_url)
    x = np.random.default_rng(4).normal(size=(16, FEATURES)).astype(np.float32)
    outcomes = {"ok": 0, "failed": []}
    stop = threading.Event()

    def loop() -> None:
        looping = grpcclient.InferenceServerClient(stack.config.triton_grpc_url)
        while not stop.is_set():
            try:
                infer(looping, x)
                outcomes["ok"] += 1
            except Exception as err:  # every failure is the finding, whatever its type
                outcomes["failed"].append(repr(err))
        looping.close()

    looper = threading.Thread(target=loop)
    looper.start()
    try:
        promoted = cli("model", "promote", "2", "--name", NAME, env=env)
        served_after_promote = infer(client, x)
        listed = cli("model", "list", env=env)
        rolled_back = cli("model", "rollback", "--name", NAME, env=env)
        served_after_rollback = infer(client, x)
    finally:
        stop.set()
        looper.join()
        client.close()
    assert promoted.returncode == 0, promoted.stderr
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert "rolled back to version 1" in rolled_back.stdout
    assert f"{NAME}: versions [1, 2], served [2], ready in Triton [2]" in listed.stdout
    np.testing.assert_allclose(served_after_promote, expected(models[2], x), atol=1e-6)
    np.testing.assert_allclose(served_after_rollback, expected(models[1], x), atol=1e-6)
    assert outcomes["failed"] == []
    assert outcomes["ok"] > 10


def test_tensorrt_plan_config_runs_on_a_gpu_instance():
    serving = Serving(
        max_batch_size=512,
        preferred_batch_sizes=(64, 512),
        max_queue_delay_us=200,
        instances=2,
        intra_op_thread_count=1,
    )
    text = triton_config.render(
        "fraud_trt",
        "tensorrt_plan",
        [Tensor("amount", "TYPE_FP32", (1,))],
        [Tensor("score", "TYPE_FP32", (1,))],
        serving,
        3,
    )
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert config.platform == "tensorrt_plan"
    assert "intra_op_thread_count" not in config.parameters  # onnxruntime's, not TensorRT's
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert config.instance_group[0].count == 2
    assert list(config.version_policy.specific.versions) == [3]
    assert triton_config.MODEL_FILES["tensorrt_plan"] == "model.plan"  # Triton's default file name for the platform


def test_register_refuses_a_model_without_a_batch_dimension(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "fixed.onnx"))
    env = {"RTAI_RUN_DIR": str(tmp_path / "run")}
    result = cli("model", "register", "--model", str(tmp_path / "fixed.onnx"), "--repository", str(tmp_path), env=env)
    assert result.returncode != 0
    assert "x: the first dimension must be the (dynamic) batch dimension" in result.stderr


def test_register_writes_a_matrix_inputs_columns_and_refuses_another_layout_beside_it(tmp_path):
    """A model's versions share config.pbtxt: a version whose inputs differ (here the per-column
    layout after the matrix one) would be served with the wrong inputs, so it is refused."""
    columns = ["amount", "is_ecom", "txn_count_1m"]
    write_columns_model(tmp_path / "matrix.onnx", columns, seed=1)
    write_columns_model(tmp_path / "per_column.onnx", columns, seed=1, layout="columns")
    # A stack config whose Triton no server answers: register loads nothing, whatever runs here.
    ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
    env = isolated_env(tmp_path, isolated_stack_toml({"triton": {"model_repository": str(tmp_path / "repo")} | ports}))
    first = cli("model", "register", "--model", str(tmp_path / "matrix.onnx"), env=env)
    assert first.returncode == 0, first.stderr
    config_file = tmp_path / "repo" / "fraud_mlp" / "config.pbtxt"
    config = text_format.Parse(config_file.read_text(), model_config_pb2.ModelConfig())
    assert [(i.name, list(i.dims)) for i in config.input] == [("features", [3])]
    assert config.parameters["input_columns"].string_value == '{"features":["amount","is_ecom","txn_count_1m"]}'
    before = config_file.read_text()
    second = cli("model", "register", "--model", str(tmp_path / "per_column.onnx"), env=env)
    assert second.returncode == 2
    assert "inputs or outputs differ from" in second.stderr and "a model's versions share one config" in second.stderr
    assert config_file.read_text() == before and not (tmp_path / "repo" / "fraud_mlp" / "2").exists()
