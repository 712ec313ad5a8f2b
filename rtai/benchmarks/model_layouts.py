"""What the served model's form costs the inference job: the designs harness (designs.py: drain
and a fixed rate, runs interleaved, medians and spreads) with the served model as it is against a
variant of the same weights, registered for the comparison as a model of its own and removed
afterwards:

- model-inputs: one [batch, 1] input per column (the layout before 2026-12-06) against the one
  [batch, F] matrix input, `<model>_per_column`;
- serving-threads: onnxruntime's own thread count (a thread per core) against the pipeline's
  `[model.serving] intra_op_thread_count`, `<model>_own_threads`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
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
CONFIGURED_THREADS, OWN_THREADS = "intra_op_thread_count as configured", "intra_op_thread_count 0, a thread per core"


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


@dataclass(frozen=True)
class Variant:
    """The compared model: `<model>_<suffix>`, the served version's file through `model`, registered
    with `serving` of the pipeline's serving; `names`: the served model's design, then its."""

    suffix: str
    model: Callable[[onnx.ModelProto], onnx.ModelProto]
    serving: Callable[[triton_config.Serving], triton_config.Serving]
    names: tuple[str, str]
    kind: str  # the results file's


def run(base: Path, *, repeats: int, backlog: int, rate: float, measure_s: float) -> Path:
    """model-inputs: the served model against its per-column twin."""
    variant = Variant("per_column", per_column_layout, lambda serving: serving, (MATRIX, PER_COLUMN), "model-inputs")
    return _against_variant(base, variant, repeats=repeats, backlog=backlog, rate=rate, measure_s=measure_s)


def run_threads(base: Path, *, repeats: int, backlog: int, rate: float, measure_s: float) -> Path:
    """serving-threads: the served model against the same file left to onnxruntime's thread count."""
    variant = Variant(
        "own_threads", lambda model: model, _own_threads, (CONFIGURED_THREADS, OWN_THREADS), "serving-threads"
    )
    return _against_variant(base, variant, repeats=repeats, backlog=backlog, rate=rate, measure_s=measure_s)


def _own_threads(serving: triton_config.Serving) -> triton_config.Serving:
    return replace(serving, intra_op_thread_count=0)


def _against_variant(
    base: Path, variant: Variant, *, repeats: int, backlog: int, rate: float, measure_s: float
) -> Path:
    stack = stack_config.load()
    config = pipeline_config.load(base)
    name = config.model.name
    repository = stack.triton.repository_path()
    served = models.served(repository, name)[0]
    variant_name = f"{name}_{variant.suffix}"
    if (repository / variant_name).exists():
        raise UserFacingError(f"{repository / variant_name} exists: a comparison's leftover? remove it first")
    serving = variant.serving(triton_config.Serving.of(config.model.serving))
    triton = TritonAccess.of_stack(stack)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(variant.model(onnx.load(repository / name / str(served) / "model.onnx")), path)
        register_version(path, "onnx", repository, variant_name, serving, signature_from=None, serve=True)
    try:
        models.load_if_running(repository, variant_name, triton)
        changes = {variant.names[0]: {}, variant.names[1]: {"model": {"name": variant_name}}}
        return designs.run(
            base, repeats=repeats, backlog=backlog, rate=rate, measure_s=measure_s, designs=changes, kind=variant.kind
        )
    finally:
        client = triton.client()
        try:
            client.unload_model(variant_name, headers=triton.admin_headers)
        finally:
            client.close()
        shutil.rmtree(repository / variant_name)
