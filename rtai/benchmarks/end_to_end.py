"""`make bench`: every figure of the stack in one run, on the same machine and data.

The inference job and the naive baseline (maximum sustained rate, then fixed rates), Triton's
perf_analyzer and the onnxruntime ceiling on the served model, and the feature job's maximum
sustained rate. Writes bench/results/<date>-<host>.json and a latency-against-rate plot
(<date>-<host>.png, drawn in the model environment, which has matplotlib), and appends a row to
the table in bench/README.md.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

from flink_jobs.config import pipeline_config
from rtai import env_python, paths, pipeline_assets
from rtai.console import step
from rtai.stack import config as stack_config

from . import feature_job, model, pipeline, report

BENCH_README = paths.PROJECT_ROOT / "bench" / "README.md"
LATEST_PLOT = paths.PROJECT_ROOT / "bench" / "latency-vs-rate.png"  # the plot bench/README.md shows
BASELINE_SHARES = (0.25, 0.5, 0.8)  # the baseline's fixed rates, as shares of its maximum
TARGETS = {"times_baseline": 10, "p99_ms_at_1000": 50, "max_events_per_s": 5000}


def _baseline_rates(maximum: float, rates: list[float]) -> list[float]:
    return sorted({max(1.0, round(maximum * share)) for share in BASELINE_SHARES} | {r for r in rates if r < maximum})


def _at(rates: list[dict], rate: float) -> dict | None:
    return next((r for r in rates if r["rate"] == rate), None)


def run(
    base: Path, *, rates: list[float], measure_s: float, job_backlog: int, baseline_backlog: int, feature_backlog: int
) -> Path:
    config = pipeline_config.load(base)
    pipeline_assets.ensure(config, base)
    stack = stack_config.load()
    folder = paths.RUN_DIR / "bench" / f"end-to-end-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True)  # configs, logs and checkpoints of every phase stay for a look afterwards

    job_max = pipeline.max_rate(pipeline.JOB, base, folder, job_backlog)
    step(f"inference job: maximum sustained {job_max['events_per_s']:,} events/s")
    job_rates = pipeline.fixed_rates(pipeline.JOB, base, folder, rates, measure_s)
    baseline_max = pipeline.max_rate(pipeline.BASELINE, base, folder, baseline_backlog)
    step(f"naive baseline: maximum sustained {baseline_max['events_per_s']:,} events/s")
    slow_rates = _baseline_rates(baseline_max["events_per_s"], rates)
    baseline_rates = pipeline.fixed_rates(pipeline.BASELINE, base, folder, slow_rates, measure_s)
    serving = model.measure(
        config.model.name, stack.triton.repository_path(), stack.triton_grpc_url, batch=256, concurrencies=[1, 4]
    )
    features = feature_job.measure_max_rate(config, base, folder, events=feature_backlog)

    job = config.inference_job
    result = {
        "pipeline": str(base),
        "config": {
            "inference_job": {
                "parallelism": job.parallelism,
                "max_batch_size": job.max_batch_size,
                "max_wait_ms": job.max_wait_ms,
                "delivery": job.delivery,
                "triton_max_in_flight": job.triton.max_in_flight,
                "cached_views": [c.view for c in job.cached_views],
                **job.flink_settings(),
            },
            "model_serving": dataclasses.asdict(config.model.serving),
            "feast_workers": stack.feast.workers,
            "online_store": stack.feast.online_store,
            "warmup_s": pipeline.WARMUP_S,
            "measured_s": measure_s,
        },
        "inference_job": {"max_sustained": job_max, "fixed_rates": job_rates},
        "naive_baseline": {"max_sustained": baseline_max, "fixed_rates": baseline_rates},
        "serving_ceiling": serving,
        "feature_job": {"max_sustained": features},
    }
    result["targets"] = targets(result)
    path = report.write("", result)
    plot = path.with_suffix(".png")
    env_python.run("model", "-m", "rtai.benchmarks.plot", str(path), str(plot))
    shutil.copyfile(plot, LATEST_PLOT)
    append_row(result, path, plot)
    print(summary(result))
    print(f"written to {path}, {plot} and a row in {BENCH_README}")
    return path


def targets(result: dict) -> dict[str, object]:
    job = result["inference_job"]["max_sustained"]["events_per_s"]
    baseline = result["naive_baseline"]["max_sustained"]["events_per_s"]
    at_1000 = _at(result["inference_job"]["fixed_rates"], 1000)
    p99 = at_1000["latency_ms"].get("p99") if at_1000 else None
    return {
        "times_baseline": round(job / baseline, 1) if baseline else None,
        "p99_ms_at_1000": p99,
        "max_events_per_s": job,
        "met": {
            "times_baseline": bool(baseline) and job / baseline >= TARGETS["times_baseline"],
            "p99_ms_at_1000": p99 is not None and bool(p99 < TARGETS["p99_ms_at_1000"]),
            "max_events_per_s": job >= TARGETS["max_events_per_s"],
        },
    }


def summary(result: dict) -> str:
    lines = [f"{'':18}{'rate':>8}{'out/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>9}  sustained"]
    for name in ("inference_job", "naive_baseline"):
        for row in result[name]["fixed_rates"]:
            lat = row["latency_ms"]
            lines.append(
                f"{name:18}{row['rate']:>8,.0f}{row['events_per_s']:>9,.0f}{lat.get('p50', 0):>8}{lat.get('p95', 0):>8}"
                f"{lat.get('p99', 0):>8}{lat.get('max', 0):>9}  {row['sustained']}"
            )
    t = result["targets"]
    lines.append(
        f"maximum sustained: inference job {result['inference_job']['max_sustained']['events_per_s']:,}/s, "
        f"naive baseline {result['naive_baseline']['max_sustained']['events_per_s']:,}/s "
        f"({t['times_baseline']}x), feature job {result['feature_job']['max_sustained']['events_per_s']:,}/s"
    )
    for row in result["inference_job"]["fixed_rates"]:
        if "stages_ms" in row:
            stages = ", ".join(f"{k} {v['p50']}/{v['p99']}" for k, v in row["stages_ms"].items())
            lines.append(f"job stages at {row['rate']:,.0f}/s, p50/p99 ms: {stages}")
    lines.append(f"targets: {json.dumps(t['met'])}")
    return "\n".join(lines)


TABLE_HEADER = (
    "| date | host | cores / GiB | job max events/s | baseline max events/s | x | job p50 / p99 ms at 1,000/s "
    "| Triton rows/s (b256, c4) | onnxruntime rows/s | feature job max events/s | config |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def append_row(result: dict, path: Path, plot: Path) -> None:
    machine = report.machine()
    at_1000 = _at(result["inference_job"]["fixed_rates"], 1000)
    lat = at_1000["latency_ms"] if at_1000 else {}
    served = next((r for r in result["serving_ceiling"]["perf_analyzer"] if r.get("concurrency") == 4), {})
    job = result["config"]["inference_job"]
    row = (
        f"| {time.strftime('%Y-%m-%d')} | {machine['host']} | {machine['cores']} / {machine['memory_gib']} "
        f"| {result['inference_job']['max_sustained']['events_per_s']:,} "
        f"| {result['naive_baseline']['max_sustained']['events_per_s']:,} | {result['targets']['times_baseline']} "
        f"| {lat.get('p50', '-')} / {lat.get('p99', '-')} | {served.get('rows_per_s', 0):,.0f} "
        f"| {result['serving_ceiling']['onnxruntime_in_process']['rows_per_s']:,} "
        f"| {result['feature_job']['max_sustained']['events_per_s']:,} "
        f"| p{job['parallelism']}, batch {job['max_batch_size']}/{job['max_wait_ms']} ms, "
        f"{job['python.execution-mode']}, buffer {job['execution.buffer-timeout.interval']}, "
        f"in flight {job['triton_max_in_flight']} "
        f"([json](results/{path.name}), [plot](results/{plot.name})) |\n"
    )
    text = BENCH_README.read_text()
    if TABLE_HEADER not in text:
        text += "\n" + TABLE_HEADER
    BENCH_README.write_text(text + row)
