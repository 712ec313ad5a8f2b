"""What a shadow version costs the inference job: the designs harness (designs.py: drain and a
fixed rate, runs interleaved, medians and spreads) without and with `[model.shadow]`, the shadow
a copy of the served model registered as the next version and served beside it only during the
shadow's runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flink_jobs.config import pipeline_config
from rtai.models import repository as models
from rtai.models import triton_config
from rtai.models.triton_access import TritonAccess
from rtai.stack import config as stack_config

from . import designs

WITHOUT, WITH = "without shadow", "with shadow"


def run(base: Path, *, repeats: int, backlog: int, rate: float, measure_s: float) -> Path:
    stack = stack_config.load()
    name = pipeline_config.load(base).model.name
    repository = stack.triton.repository_path()
    served = models.served(repository, name)[0]
    shadow = max(triton_config.versions(repository / name)) + 1
    shutil.copytree(repository / name / str(served), repository / name / str(shadow))
    triton = TritonAccess.of_stack(stack)

    @contextmanager
    def around(design: str) -> Iterator[None]:
        if design == WITH:
            models.serve_beside(repository, name, shadow, "shadow", triton)
        try:
            yield
        finally:
            if design == WITH:
                models.stop_serving(repository, name, shadow, triton)

    changes = {WITHOUT: {}, WITH: {"model": {"shadow": {"version": shadow}}}}
    try:
        return designs.run(
            base,
            repeats=repeats,
            backlog=backlog,
            rate=rate,
            measure_s=measure_s,
            designs=changes,
            kind="shadow",
            around=around,
        )
    finally:
        shutil.rmtree(repository / name / str(shadow))
