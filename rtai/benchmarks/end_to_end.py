"""`make bench`: every figure of the stack in one run, on the same machine and data.

The inference job (and once more, at its maximum and 1,000/s, reading the real-time view from
Feast: the config switch; and at 1,000/s with exactly-once delivery, latency to the reader); its
floor, the parse relay (the same source, parse stage, sink and settings, nothing in between); its
peers, a batched asyncio consumer and the naive per-event consumer (maximum sustained rate with
CPU seconds per process in the drain window, then fixed rates); Triton's perf_analyzer and the
onnxruntime ceiling on the served model; the feature job's maximum sustained rate and its
freshness at 1,000 events/s; the scoring API at 100-1,000 requests/s
(rtai/benchmarks/scoring_api.py). Writes bench/results/<date>-<host>.json, a latency-against-rate
plot (<date>-<host>.png, drawn in the model environment, which has matplotlib), and appends a row
to the table in bench/README.md.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from flink_jobs.config import pipeline_config
from rtai import derived_pipeline, env_python, paths, pipeline_assets
from rtai.console import step
from rtai.stack import config as stack_config
from rtai.stack.redis import require_redis_server

from . import drain, feature_job, model, pipeline, report, scoring_api
from . import repeats as repeats_of

BENCH_README = paths.PROJECT_ROOT / "bench" / "README.md"
LATEST_PLOT = paths.PROJECT_ROOT / "bench" / "latency-vs-rate.png"  # the plot bench/README.md shows
# Run `repeats` times, interleaved; the others (the config switch, exactly-once, the naive
# baseline, the feature job, the API) once.
REPEATED = {"inference_job": pipeline.JOB, "parse_relay": pipeline.FLOOR, "asyncio_consumer": pipeline.ASYNCIO}
PEER_SHARES = (0.25, 0.5, 0.8)  # a slower peer's fixed rates, as shares of its maximum
FRESHNESS_RATE = 1000.0
API_RATES = [100.0, 250.0, 500.0, 1000.0]  # requests/s; `rtai bench api` goes on to 2,000, where it collapses
# The config switch benchmarked too: the real-time view read from Feast, with its training lag.
# The rate bound reads the card's count the job computes: off when the view comes from Feast.
FEAST_VIEW_CHANGES = {
    "inference_job": {"realtime_features": "feast", "hot_keys": {"max_events_per_minute": 0}},
    "features": {"training_feature_lag_ms": 1000},
}
# The job with Pulsar transactions committed on checkpoints: at 1,000/s, latency to when a
# consumer can read the prediction (after the commit), so the checkpoint interval is in it.
EXACTLY_ONCE_CHANGES = {"inference_job": {"delivery": "exactly-once"}}
# Issue 12's targets, on two cores with the whole stack on them.
TARGETS = {
    "max_events_per_s": 10_000,
    "p50_ms_at_1000": 15,
    "p99_ms_at_1000": 30,
    "p99_ms_at_5000": 100,
    "feature_job_max_events_per_s": 10_000,
    "freshness_p99_ms_at_1000": 1000,
    "api_p99_ms_at_500": 10,
}


def _peer_rates(maximum: float, rates: list[float]) -> list[float]:
    """The job's rates the peer can sustain, or shares of its maximum when it sustains none of them."""
    below = {r for r in rates if r < maximum}
    return sorted(below or {max(1.0, round(maximum * share)) for share in PEER_SHARES})


def _at(rates: list[dict], rate: float) -> dict | None:
    return next((r for r in rates if r["rate"] == rate), None)


def _contender(
    contender: pipeline.Contender,
    base: Path,
    folder: Path,
    backlog: int,
    measure_s: float,
    rates_at: Callable[[float], list[float]],
) -> dict:
    """Its maximum, then its fixed rates: `rates_at(its maximum)`."""
    maximum = pipeline.max_rate(contender, base, folder, backlog)
    step(f"{contender.name}: maximum sustained {maximum['events_per_s']:,} events/s{drain.window_note(maximum)}")
    chosen = rates_at(maximum["events_per_s"])
    return {"max_sustained": maximum, "fixed_rates": pipeline.fixed_rates(contender, base, folder, chosen, measure_s)}


def _interleaved(
    base: Path, folder: Path, repeats: int, rates: list[float], measure_s: float, backlogs: dict[str, int]
) -> dict[str, dict]:
    """The job, its floor and the asyncio peer, `repeats` rounds of one run each (job, floor, peer,
    job, ...), so a slow minute of the machine falls on all three; each as its runs' medians. The
    peer's rates are chosen once, from its first maximum, so every run has the same ones."""
    chosen: dict[str, list[float]] = {}

    def peer_rates_at(maximum: float) -> list[float]:
        return chosen.setdefault("peer", _peer_rates(maximum, rates))

    rates_at = {"inference_job": lambda _: rates, "parse_relay": lambda _: rates, "asyncio_consumer": peer_rates_at}
    runs: dict[str, list[dict]] = {name: [] for name in REPEATED}
    for repeat in range(1, repeats + 1):
        round_folder = folder / f"round-{repeat}"
        round_folder.mkdir()
        for name, contender in REPEATED.items():
            step(f"round {repeat}/{repeats}: {contender.name}")
            run = _contender(contender, base, round_folder, backlogs[name], measure_s, rates_at[name])
            runs[name].append(run)
    return {name: repeats_of.combined(done) for name, done in runs.items()}


def run(
    base: Path,
    *,
    rates: list[float],
    measure_s: float,
    job_backlog: int,
    floor_backlog: int,
    peer_backlog: int,
    baseline_backlog: int,
    feature_backlogs: dict[str, int],
    repeats: int,
) -> Path:
    config = pipeline_config.load(base)
    require_redis_server()  # the feature job's Redis writer is measured last: fail now, not in an hour
    pipeline_assets.ensure(config)
    stack = stack_config.load()
    folder = paths.RUN_DIR / "bench" / f"end-to-end-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True)  # configs, logs and checkpoints of every phase stay for a look afterwards

    backlogs = {"inference_job": job_backlog, "parse_relay": floor_backlog, "asyncio_consumer": peer_backlog}
    repeated = _interleaved(base, folder, repeats, rates, measure_s, backlogs)
    feast_view = folder / "feast-view.toml"
    derived_pipeline.write(base, FEAST_VIEW_CHANGES, feast_view)
    job_feast_view = _contender(pipeline.JOB_FEAST_VIEW, feast_view, folder, job_backlog, measure_s, lambda _: [1000.0])
    exactly_once_config = folder / "exactly-once.toml"
    derived_pipeline.write(base, EXACTLY_ONCE_CHANGES, exactly_once_config)
    exactly_once = pipeline.fixed_rates(pipeline.JOB_EXACTLY_ONCE, exactly_once_config, folder, [1000.0], measure_s)
    baseline = _contender(
        pipeline.BASELINE, base, folder, baseline_backlog, measure_s, lambda maximum: _peer_rates(maximum, rates)
    )
    serving = model.measure(
        config.model.name, stack.triton.repository_path(), stack.triton_grpc_url, batch=256, concurrencies=[1, 4]
    )
    writers = feature_job.measure_writers(
        base,
        folder,
        pipeline_config.PUSH_WRITERS,
        repeats=1,
        rate=FRESHNESS_RATE,
        duration_s=measure_s,
        drain_events=feature_backlogs,
    )
    write_cost = feature_job.measure_feast_write_cost(config, folder)
    api = scoring_api.measure(base, rates=API_RATES, measure_s=measure_s)

    section = config.inference_job
    result = {
        "pipeline": str(base),
        "config": {
            "inference_job": {
                "parallelism": section.parallelism,
                "max_batch_size": section.max_batch_size,
                "max_wait_ms": section.max_wait_ms,
                "delivery": section.delivery,
                "realtime_features": section.realtime_features,
                "triton_max_in_flight": section.triton.max_in_flight,
                "cached_views": [c.view for c in section.cached_views],
                **section.flink_settings(),
            },
            "model_serving": dataclasses.asdict(config.model.serving),
            "feast_workers": stack.feast.workers,
            "online_store": stack.feast.online_store,
            "warmup_s": pipeline.WARMUP_S,
            "measured_s": measure_s,
            "repeats": repeats,
        },
        **repeated,
        "inference_job_feast_view": job_feast_view,
        "inference_job_exactly_once": {"fixed_rates": exactly_once},
        "naive_baseline": baseline,
        "serving_ceiling": serving,
        "feature_job": {"writers": writers, "feast_write_cost": write_cost},
        "scoring_api": api,
    }
    result["against_floor_and_peers"] = comparisons(result)
    result["targets"] = targets(result)
    path = report.write("", result)
    plot = path.with_suffix(".png")
    env_python.run("model", "-m", "rtai.benchmarks.plot", str(path), str(plot))
    shutil.copyfile(plot, LATEST_PLOT)
    append_row(result, path, plot)
    print(summary(result))
    print(f"written to {path}, {plot} and a row in {BENCH_README}")
    return path


def _max(result: dict, name: str) -> int:
    return result[name]["max_sustained"]["events_per_s"]


def _latency(result: dict, name: str, rate: float, percentile: str) -> float | None:
    row = _at(result[name]["fixed_rates"], rate)
    return row["latency_ms"].get(percentile) if row and row["sustained"] else None


def _api_latency(result: dict, rate: float, percentile: str) -> float | None:
    """The scoring API's latency at the generator, at a rate it sustained."""
    row = next((r for r in result["scoring_api"]["rates"] if r["target_rate"] == rate), None)
    return row["latency_ms"][percentile] if row and row["sustained"] else None


def comparisons(result: dict) -> dict[str, object]:
    """The job's throughput as a share of the floor's and a multiple of each peer's; its latency
    at 1,000/s over the floor's."""
    job = _max(result, "inference_job")
    job_p50, floor_p50 = (_latency(result, n, 1000, "p50") for n in ("inference_job", "parse_relay"))
    return {
        "max_share_of_floor": round(job / _max(result, "parse_relay"), 3),
        "max_times_asyncio_consumer": round(job / max(1, _max(result, "asyncio_consumer")), 2),
        "max_times_naive_baseline": round(job / max(1, _max(result, "naive_baseline")), 1),
        "p50_ms_at_1000_over_floor": round(job_p50 - floor_p50, 1) if job_p50 and floor_p50 else None,
    }


def _feature_design(result: dict) -> tuple[str, dict]:
    """The feature job's writer that drained the most, and its figures: the design the targets judge."""
    writers = result["feature_job"]["writers"]
    best = max(writers, key=lambda writer: writers[writer]["max_sustained"]["events_per_s"])
    return best, writers[best]


def _feature_figures(result: dict, figure: Callable[[dict], object]) -> str:
    """A feature job figure per writer: "redis 14,317 / feature-server 4,767"."""
    return " / ".join(f"{writer} {figure(figures)}" for writer, figures in result["feature_job"]["writers"].items())


def _drained(figures: dict) -> str:
    return f"{figures['max_sustained']['events_per_s']:,}"


def _freshness_p99(figures: dict) -> object:
    return figures["freshness"]["freshness_ms"].get("p99")


def targets(result: dict) -> dict[str, object]:
    writer, features = _feature_design(result)
    figures = {
        "max_events_per_s": _max(result, "inference_job"),
        "p50_ms_at_1000": _latency(result, "inference_job", 1000, "p50"),
        "p99_ms_at_1000": _latency(result, "inference_job", 1000, "p99"),
        "p99_ms_at_5000": _latency(result, "inference_job", 5000, "p99"),
        "feature_job_max_events_per_s": features["max_sustained"]["events_per_s"],
        "freshness_p99_ms_at_1000": _freshness_p99(features),
        "api_p99_ms_at_500": _api_latency(result, 500, "p99"),
    }
    met = {}
    for name, value in figures.items():
        goal = TARGETS[name]
        # Percentiles are numpy numbers: plain bools for the JSON.
        met[name] = bool(value is not None and (value >= goal if name.endswith("events_per_s") else value <= goal))
    met["beats_asyncio_consumer"] = bool(figures["max_events_per_s"] > _max(result, "asyncio_consumer"))
    return {"figures": figures, "feature_job_writer": writer, "goals": TARGETS, "met": met}


CONTENDERS = ("inference_job", "inference_job_feast_view", "parse_relay", "asyncio_consumer", "naive_baseline")


def summary(result: dict) -> str:
    lines = [f"{'':26}{'rate':>8}{'out/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>9}  sustained"]
    for name in CONTENDERS:
        for row in result[name]["fixed_rates"]:
            lat = row["latency_ms"]
            lines.append(
                f"{name:26}{row['rate']:>8,.0f}{row['events_per_s']:>9,.0f}{lat.get('p50', 0):>8}{lat.get('p95', 0):>8}"
                f"{lat.get('p99', 0):>8}{lat.get('max', 0):>9}  {row['sustained']}"
            )
    maxima = ", ".join(f"{name} {_max(result, name):,}/s" for name in CONTENDERS)
    lines.append(f"maximum sustained: {maxima}, feature job by writer {_feature_figures(result, _drained)}/s")
    for name in REPEATED:
        drained = result[name]["max_sustained"]["spread"]
        lines.append(
            f"{name} in {len(result[name]['runs'])} interleaved runs: drain median {drained['median']:,} "
            f"(min {drained['min']:,}, max {drained['max']:,}) events/s"
        )
        for row in result[name]["fixed_rates"]:
            p50, p99 = row["spread"]["p50"], row["spread"]["p99"]
            lines.append(
                f"  {row['rate']:,.0f}/s: p50 {p50['median']} ({p50['min']}-{p50['max']}), p99 {p99['median']} "
                f"({p99['min']}-{p99['max']}) ms, sustained in {row['sustained_runs']}"
            )
    for row in result["inference_job_exactly_once"]["fixed_rates"]:
        lat = row["latency_ms"]
        lines.append(
            f"inference job exactly-once at {row['rate']:,.0f}/s, latency to the reader (after the commit): "
            f"p50 {lat.get('p50')} / p99 {lat.get('p99')} ms, sustained {row['sustained']}"
        )
    for name in CONTENDERS:
        cpu = result[name]["max_sustained"].get("cpu")
        if cpu:
            used = ", ".join(f"{k} {v}" for k, v in cpu["cpu_s"].items())
            lines.append(f"CPU s in {name}'s drain window ({cpu['cores_available_s']} core-s available): {used}")
            lines.append(f"  {drain.cpu_note(result[name]['max_sustained'])}")
    lines.append(f"the feature job at {FRESHNESS_RATE:,.0f}/s for freshness:")
    lines.extend(feature_job.writer_note(w, f) for w, f in result["feature_job"]["writers"].items())
    lines.append(feature_job.write_cost_note(result["feature_job"]["feast_write_cost"]))
    for row in result["scoring_api"]["rates"]:
        lat = row["latency_ms"]
        lines.append(
            f"scoring API at {row['target_rate']:,.0f} requests/s: {row['answered_per_s']:,}/s answered, "
            f"p50 {lat['p50']} / p99 {lat['p99']} / p999 {lat['p999']} ms, {row['fallbacks']} fallbacks, "
            f"sustained {row['sustained']}"
        )
    for row in result["inference_job"]["fixed_rates"]:
        if "stages_ms" in row:
            stages = ", ".join(f"{k} {v['p50']}/{v['p99']}" for k, v in row["stages_ms"].items())
            lines.append(f"job stages at {row['rate']:,.0f}/s, p50/p99 ms: {stages}")
    lines.append(f"against the floor and the peers: {json.dumps(result['against_floor_and_peers'])}")
    lines.append(f"targets met: {json.dumps(result['targets']['met'])}")
    return "\n".join(lines)


TABLE_HEADER = (
    "| date | host | cores / GiB | job max events/s | floor (parse relay) | asyncio consumer | naive | "
    "job p50 / p99 ms at 1,000/s | floor p50 / p99 at 1,000/s | job p99 at 5,000/s | feature job max | "
    "freshness p99 ms at 1,000/s | scoring API p50 / p99 ms at 500 requests/s, highest sustained | "
    "CPU s in the job's drain window | config |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def _pair(result: dict, name: str, rate: float) -> str:
    p50, p99 = (_latency(result, name, rate, p) for p in ("p50", "p99"))
    return f"{p50} / {p99}" if p50 is not None else "not sustained"


def _ranged_max(result: dict, name: str) -> str:
    """The median drain rate and, for a repeated contender, its runs' range."""
    spread = result[name]["max_sustained"].get("spread")
    median = f"{_max(result, name):,}"
    return f"{median} ({spread['min']:,.0f}-{spread['max']:,.0f})" if spread else median


def append_row(result: dict, path: Path, plot: Path) -> None:
    machine = report.machine()
    job = result["config"]["inference_job"]
    cpu = result["inference_job"]["max_sustained"].get("cpu", {})
    used = ", ".join(f"{k} {v}" for k, v in cpu.get("cpu_s", {}).items())
    p99_5000 = _latency(result, "inference_job", 5000, "p99")
    row = (
        f"| {time.strftime('%Y-%m-%d')} | {machine['host']} | {machine['cores']} / {machine['memory_gib']} "
        f"| {_ranged_max(result, 'inference_job')} | {_ranged_max(result, 'parse_relay')} "
        f"| {_ranged_max(result, 'asyncio_consumer')} "
        f"| {_max(result, 'naive_baseline'):,} | {_pair(result, 'inference_job', 1000)} "
        f"| {_pair(result, 'parse_relay', 1000)} | {p99_5000 if p99_5000 is not None else 'not sustained'} "
        f"| {_feature_figures(result, _drained)} "
        f"| {_feature_figures(result, _freshness_p99)} "
        f"| {_api_latency(result, 500, 'p50')} / {_api_latency(result, 500, 'p99')}, "
        f"{result['scoring_api']['max_sustained_rate']} "
        f"| {used} of {cpu.get('cores_available_s')} "
        f"| p{job['parallelism']}, batch {job['max_batch_size']}/{job['max_wait_ms']} ms, "
        f"real-time view from {job['realtime_features']}, {job['delivery']} "
        f"([json](results/{path.name}), [plot](results/{plot.name})) |\n"
    )
    text = BENCH_README.read_text()
    if TABLE_HEADER not in text:
        text += "\n" + TABLE_HEADER
    BENCH_README.write_text(text + row)
