"""What the model's input layout costs the inference job: the designs harness (designs.py: drain
and a fixed rate, runs interleaved, medians and spreads) with the served model as it is (one
[batch, F] matrix input) against the same weights taking one [batch, 1] input per column (the
layout before 2026-12-06), registered for the comparison as a model of its own,
`<model>_per_column`, and removed afterwards."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from flink_jobs.clients.model_feeds import INPUT_COLUMNS, parse_input_columns
from flink_jobs.config import pipeline_config
from flink_jobs.errors import UserFacingError
from rtai.models import repository as models
from rtai.models import triton_config
from rtai.models.register import register_version
from rtai.models.triton_access import TritonAccess
from rtai.stack import config as stack_config

from . import designs

MATRIX, PER_COLUMN = "one matrix input", "one input per column"


def per_column_layout(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its one matrix input replaced by a [batch, 1] input per column, concatenated
    in the metadata's order into the tensor the rest of the graph reads."""
    props = {p.key: p.value for p in model.metadata_props}
    columns = parse_input_columns(props.get(INPUT_COLUMNS, ""), "the served model")
    if len(columns) != 1 or len(model.graph.input) != 1:
        raise UserFacingError("the per-column comparison needs a served model with one matrix input")
    [(matrix, names)] = columns.items()
    graph = model.graph
    concat = helper.make_node("Concat", list(names), [matrix], axis=1)
    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, 1]) for name in names]
    rebuilt = helper.make_graph([concat, *graph.node], graph.name, inputs, list(graph.output), list(graph.initializer))
    out = helper.make_model(rebuilt, opset_imports=list(model.opset_import), producer_name=model.producer_name)
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


def run(base: Path, *, repeats: int, backlog: int, rate: float, measure_s: float) -> Path:
    stack = stack_config.load()
    config = pipeline_config.load(base)
    name = config.model.name
    repository = stack.triton.repository_path()
    served = models.served(repository, name)[0]
    per_column = f"{name}_per_column"
    if (repository / per_column).exists():
        raise UserFacingError(f"{repository / per_column} exists: a comparison's leftover? remove it first")
    serving = triton_config.Serving(
        config.model.serving.max_batch_size,
        tuple(config.model.serving.preferred_batch_sizes),
        config.model.serving.max_queue_delay_us,
        config.model.serving.instances,
    )
    triton = TritonAccess.of_stack(stack)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(per_column_layout(onnx.load(repository / name / str(served) / "model.onnx")), path)
        register_version(path, "onnx", repository, per_column, serving, signature_from=None, serve=True)
    try:
        models.load_if_running(repository, per_column, triton)
        changes = {MATRIX: {}, PER_COLUMN: {"model": {"name": per_column}}}
        return designs.run(
            base, repeats=repeats, backlog=backlog, rate=rate, measure_s=measure_s, designs=changes, kind="model-inputs"
        )
    finally:
        client = triton.client()
        try:
            client.unload_model(per_column, headers=triton.admin_headers)
        finally:
            client.close()
        shutil.rmtree(repository / per_column)
