"""The served model's figures: Triton's own perf_analyzer at several concurrencies against the
running stack's Triton, and the in-process onnxruntime ceiling on the same model file.

perf_analyzer is the binary in the tritonclient wheel of the flink environment; it links
libb64 and libcudart, which the nvidia-pytriton wheel of the triton environment ships: the
benchmark links them into .run/data/perf_analyzer/lib and puts that on LD_LIBRARY_PATH.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

from flink_jobs.clients import model_repository
from flink_jobs.errors import UserFacingError
from rtai import paths
from rtai.console import step
from rtai.errors import PrerequisiteError
from rtai.models import triton_config

from . import report

LIBRARIES = {"libb64.so.0d": "libb64-*.so.0d", "libcudart.so.12": "libcudart-*.so.12*"}
MEASUREMENT_MS = 3000
STABILITY_PERCENT = 25


def _library_dir() -> Path:
    wheel_libs = next(iter(paths.VENVS_DIR.glob("triton/lib/python3.*/site-packages/nvidia_pytriton.libs")), None)
    if wheel_libs is None:
        raise PrerequisiteError("the triton environment is missing: run `make setup`")
    target = paths.RUN_DIR / "data" / "perf_analyzer" / "lib"
    target.mkdir(parents=True, exist_ok=True)
    for name, pattern in LIBRARIES.items():
        found = sorted(wheel_libs.glob(pattern))
        if not found:
            raise PrerequisiteError(f"{pattern} not found in {wheel_libs}: perf_analyzer cannot start")
        link = target / name
        if not link.exists():
            link.symlink_to(found[0])
    return target


def perf_analyzer(model: str, grpc_url: str, batch: int, concurrencies: list[int], out: Path) -> list[dict]:
    binary = paths.venv_bin("flink", "perf_analyzer")
    if not binary.is_file():
        raise PrerequisiteError(f"perf_analyzer not found at {binary}: run `make setup`")
    env = {**os.environ, "LD_LIBRARY_PATH": str(_library_dir())}
    rows = []
    for concurrency in concurrencies:
        csv_file = out.with_name(f"{out.stem}-c{concurrency}.csv")
        command = [str(binary), "-m", model, "-u", grpc_url, "-i", "grpc", "-b", str(batch)]
        command += ["--concurrency-range", str(concurrency), "--measurement-interval", str(MEASUREMENT_MS)]
        # A 2-core machine shared with the server rarely holds perf_analyzer's default 10 % stability.
        command += ["--stability-percentage", str(STABILITY_PERCENT), "--max-trials", "20", "-f", str(csv_file)]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
            rows.append({"concurrency": concurrency, "batch": batch, "error": " ".join(last)})
            continue
        with csv_file.open() as handle:
            measured = next(csv.DictReader(handle))
        rows.append(
            {
                "concurrency": concurrency,
                "batch": batch,
                # perf_analyzer counts inferences per row: with -b 256 a request is 256 of them.
                "rows_per_s": float(measured["Inferences/Second"]),
                "requests_per_s": round(float(measured["Inferences/Second"]) / batch, 1),
                "latency_ms_p50": int(measured["p50 latency"]) / 1000,
                "latency_ms_p99": int(measured["p99 latency"]) / 1000,
            }
        )
    return rows


def measure(model: str, repository: Path, grpc_url: str, *, batch: int, concurrencies: list[int]) -> dict[str, object]:
    """perf_analyzer at each concurrency and the onnxruntime ceiling, on the served version."""
    from rtai import env_python

    served = model_repository.served_versions((repository / model / "config.pbtxt").read_text())[0]
    model_file = repository / model / str(served) / triton_config.MODEL_FILES["onnx"]
    if not model_file.is_file():
        raise UserFacingError(f"no served ONNX version of {model} in {repository}: `rtai model register` one first")
    folder = paths.RUN_DIR / "bench" / "model"
    folder.mkdir(parents=True, exist_ok=True)
    step(f"perf_analyzer on {model} version {served}: batch {batch}, concurrency {concurrencies}")
    served_rows = perf_analyzer(model, grpc_url, batch, concurrencies, folder / "perf.csv")
    step("onnxruntime in-process ceiling")
    ceiling_file = folder / "ceiling.json"
    with ceiling_file.open("w") as handle:
        env_python.run(
            "model",
            *("-m", "rtai.benchmarks.ort_ceiling", "--model", str(model_file)),
            *("--batch", str(batch), "--seconds", "5"),
            stdout=handle,
        )
    ceiling = json.loads(ceiling_file.read_text())
    return {"model": model, "version": served, "perf_analyzer": served_rows, "onnxruntime_in_process": ceiling}


def run(model: str, repository: Path, grpc_url: str, *, batch: int, concurrencies: list[int]) -> Path:
    result = measure(model, repository, grpc_url, batch=batch, concurrencies=concurrencies)
    path = report.write("model", result)
    served_rows, ceiling = result["perf_analyzer"], result["onnxruntime_in_process"]
    print(f"{'concurrency':>12}{'batch':>7}{'requests/s':>12}{'rows/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for row in served_rows:
        if "error" in row:
            print(f"{row['concurrency']:>12}{row['batch']:>7}  perf_analyzer: {row['error']}")
            continue
        print(
            f"{row['concurrency']:>12}{row['batch']:>7}{row['requests_per_s']:>12.0f}{row['rows_per_s']:>10.0f}"
            f"{row['latency_ms_p50']:>9.2f}{row['latency_ms_p99']:>9.2f}"
        )
    print(
        f"onnxruntime in-process, batch {batch}, one thread: {ceiling['rows_per_s']:,} rows/s "
        f"({ceiling['batch_latency_ms_p50']} ms a batch)\nwritten to {path}"
    )
    return path
