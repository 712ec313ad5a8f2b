"""Designs of the inference job compared on one stack: each design (a set of pipeline-config
changes) drains a backlog and runs at a fixed rate, `repeats` times, the designs interleaved
(A B A B A B), so a slow minute of the machine falls on both. Reported per design: the median of
the runs and their spread (min and max) for the drain rate, the fixed rate's p50 and p99, and the
job's CPU per event in the drain (microseconds per event and process, and per thread of its JVM).
One run on this machine moves 10-40 %: a difference inside the spread is no difference.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from flink_jobs.config import pipeline_config
from rtai import derived_pipeline, paths, pipeline_assets
from rtai.console import step

from . import pipeline, report
from .drain import DRAIN_WINDOW
from .repeats import spread

DESIGNS: dict[str, dict[str, dict[str, object]]] = {
    # The earlier design keeps its own parse and scoring call (the JVM parse and coalesced batches
    # are the java design's).
    "python batching": {"inference_job": {"batching": "python", "parse": "python", "batch_start": "per_flush"}},
    "java batching": {"inference_job": {"batching": "java"}},
    # Two flushes' Feast and Triton calls under way at once instead of one.
    "java batching, two in flight": {"inference_job": {"batching": "java", "batches_in_flight": 2}},
    # The model scored by onnxruntime in the scoring task (the file Triton serves): no Triton call,
    # so no round trip to overlap, and each call waits for its own batch (the edge pipeline's setting).
    "java batching, model in process": {
        "inference_job": {
            "batching": "java",
            "serving": "in_process",
            "batches_in_flight": 0,
            "batch_start": "per_flush",
        }
    },
}


# Where the java design computes each card's window features: in the JVM's keyed state after one
# Python parse call per fetch, or in one Python call per key group's batch that parses too.
CARD_WINDOW_DESIGNS: dict[str, dict[str, dict[str, object]]] = {
    "card windows in the JVM": {"inference_job": {"batching": "java", "card_windows": "jvm"}},
    "card windows in Python": {"inference_job": {"batching": "java", "card_windows": "python", "parse": "python"}},
}


# How long the scoring operator's finished batches can wait for its next call at a low rate: the
# JVM asks it to finish them after this long without another flush.
DRAIN_DESIGNS: dict[str, dict[str, dict[str, object]]] = {
    "drained after 10 ms (max_wait_ms)": {"inference_job": {"drain_after_ms": 0}},
    "drained after 3 ms": {"inference_job": {"drain_after_ms": 3}},
}


# The thread that runs the scoring call: the card windows' (one chain) or a task of its own.
SCORING_TASK_DESIGNS: dict[str, dict[str, dict[str, object]]] = {
    "scoring chained to the card windows": {"inference_job": {"scoring_task": "shared"}},
    "scoring in a task of its own": {"inference_job": {"scoring_task": "own"}},
}


# When the JVM's batcher hands a batch on (java batching): also as soon as the source has nothing
# more to read, or max_wait_ms after its first event only.
FLUSH_DESIGNS: dict[str, dict[str, dict[str, object]]] = {
    "flush when the input is idle": {"inference_job": {"flush_when_idle": True}},
    "flush after max_wait_ms": {"inference_job": {"flush_when_idle": False}},
}


# How long an event can wait on its way into the first Python operator at a low rate: the Pulsar
# source's fetch (it hands its records on after max_fetch_time_ms unless max_fetch_records came
# first) and the network buffer between the source's task and the Python operators' task.
LATENCY_DESIGNS: dict[str, dict[str, dict[str, object]]] = {
    "10 ms fetches, 5 ms buffer timeout": {
        "inference_job": {"source": {"max_fetch_time_ms": 10}, "buffer_timeout_ms": 5}
    },
    "2 ms fetches, 5 ms buffer timeout": {
        "inference_job": {"source": {"max_fetch_time_ms": 2}, "buffer_timeout_ms": 5}
    },
    "2 ms fetches, 1 ms buffer timeout": {
        "inference_job": {"source": {"max_fetch_time_ms": 2}, "buffer_timeout_ms": 1}
    },
}


# When a batch starts (java batching): with the flush that brings it, or as soon as the scoring loop
# has room, holding every row that came meanwhile; and whether the source's fetch ends when the
# input is idle (1 ms without a next message) or waits out max_fetch_time_ms for company.
BATCH_START_DESIGNS: dict[str, dict[str, dict[str, object]]] = {
    "a batch per flush, 2 in flight, fetches of 10 ms": {
        "inference_job": {"batch_start": "per_flush", "batches_in_flight": 2, "source": {"fetch_idle_ms": 0}}
    },
    "coalesced batches, 1 in flight, fetches ended by 1 ms idle": {
        "inference_job": {"batch_start": "coalesced", "batches_in_flight": 1, "source": {"fetch_idle_ms": 1}}
    },
}


# The local job JVM's garbage collector: ZGC (concurrent, sub-millisecond pauses) against G1,
# the JVM's default, whose young pauses took 20-30 ms here.
JVM_GC_DESIGNS: dict[str, dict[str, dict[str, object]]] = {
    "ZGC": {"inference_job": {"local_jvm_options": "-XX:+UseZGC"}},
    "G1": {"inference_job": {"local_jvm_options": "-XX:+UseG1GC"}},
}


# How long a Python thread holds the job's interpreter lock while another waits for it: CPython's
# 5 ms against 1 ms (the parse, the scoring operator and the scoring loop share one interpreter).
SWITCH_INTERVAL_DESIGNS: dict[str, dict[str, dict[str, object]]] = {
    "switch interval 5 ms": {"inference_job": {"python_switch_interval_ms": 5.0}},
    "switch interval 1 ms": {"inference_job": {"python_switch_interval_ms": 1.0}},
}


# Where the transactions are parsed (java batching, card windows in the JVM): one Python call
# per fetch parses each, or the JVM parses those in the schema's everyday form and the Python
# parse gets only the others (none in these runs: the generator's events are all well formed).
PARSE_DESIGNS: dict[str, dict[str, dict[str, object]]] = {
    "parse in Python": {"inference_job": {"parse": "python"}},
    "parse in the JVM": {"inference_job": {"parse": "jvm"}},
}

# Who holds a flush's rows while the scoring loop has no room (coalesced batches, 1 in flight): the
# Python operator, called once per flush, or the JVM (ScoringGate), which calls it when it has room
# and asks it for the batches done every poll_ms.
HELD_DESIGNS: dict[str, dict[str, dict[str, object]]] = {
    "rows held in Python": {"inference_job": {"batch_start": "coalesced"}},
    "rows held in the JVM": {"inference_job": {"batch_start": "held"}},
}

# `rtai bench designs --compare KIND`: the fixed sets of designs, by kind.
COMPARISONS: dict[str, dict[str, dict[str, dict[str, object]]]] = {
    "batching": DESIGNS,
    "card-windows": CARD_WINDOW_DESIGNS,
    "drain": DRAIN_DESIGNS,
    "scoring-task": SCORING_TASK_DESIGNS,
    "batch-flush": FLUSH_DESIGNS,
    "latency": LATENCY_DESIGNS,
    "batch-start": BATCH_START_DESIGNS,
    "jvm-gc": JVM_GC_DESIGNS,
    "switch-interval": SWITCH_INTERVAL_DESIGNS,
    "parse": PARSE_DESIGNS,
    "held": HELD_DESIGNS,
}


def batch_view_designs(base: Path) -> dict[str, dict[str, dict[str, object]]]:
    """The pipeline as it is, against its cached views loaded on a miss (no keys_file)."""
    cached = pipeline_config.load(base).inference_job.cached_views
    on_miss = [dataclasses.asdict(view) | {"keys_file": ""} for view in cached]
    return {"batch views in memory": {}, "batch views loaded on a miss": {"inference_job": {"cached_views": on_miss}}}


def _run_once(design: Path, folder: Path, backlog: int, rate: float, measure_s: float) -> dict[str, object]:
    drained = pipeline.max_rate(pipeline.JOB, design, folder, backlog)
    fixed = pipeline.fixed_rates(pipeline.JOB, design, folder, [rate], measure_s)
    return {"drain": drained, "us_per_event": us_per_event(drained), "fixed_rate": fixed[0] if fixed else {}}


def us_per_event(drain: dict) -> dict[str, float]:
    """CPU microseconds per drained event, per process of the drain's window (the job, each service,
    the bench's reader)."""
    cpu = drain.get("cpu") or {}
    low, high = DRAIN_WINDOW
    events = (high - low) * drain["backlog_events"]
    return {name: round(seconds * 1e6 / events, 1) for name, seconds in cpu.get("cpu_s", {}).items()}


def summary(runs: dict[str, list[dict]]) -> dict[str, dict[str, object]]:
    figures: dict[str, dict[str, object]] = {}
    for name, done in runs.items():
        rates = [float(r["drain"]["events_per_s"]) for r in done]
        p50 = [float(r["fixed_rate"]["latency_ms"]["p50"]) for r in done if r["fixed_rate"].get("latency_ms")]
        p99 = [float(r["fixed_rate"]["latency_ms"]["p99"]) for r in done if r["fixed_rate"].get("latency_ms")]
        cpu = [v for r in done if (v := us_per_event(r["drain"]).get(pipeline.JOB.name)) is not None]
        figures[name] = {
            "drain_events_per_s": spread(rates),
            "fixed_rate_p50_ms": spread(p50) if p50 else None,
            "fixed_rate_p99_ms": spread(p99) if p99 else None,
            "job_cpu_us_per_event": spread(cpu) if cpu else None,
            "sustained": [bool(r["fixed_rate"].get("sustained")) for r in done],
        }
    return figures


def run(
    base: Path,
    *,
    repeats: int,
    backlog: int,
    rate: float,
    measure_s: float,
    designs: dict[str, dict[str, dict[str, object]]] = DESIGNS,
    kind: str = "designs",
    around: Callable[[str], AbstractContextManager[None]] | None = None,
) -> Path:
    """`around(design name)`: what a design's run needs set up and undone around it (a served shadow)."""
    config = pipeline_config.load(base)
    pipeline_assets.ensure(config)
    folder = paths.RUN_DIR / "bench" / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True)
    runs: dict[str, list[dict]] = {name: [] for name in designs}
    for repeat in range(1, repeats + 1):
        for name, changes in designs.items():
            step(f"run {repeat}/{repeats}: {name}")
            slug = name.replace(" ", "-")
            design = folder / f"{slug}.toml"
            derived_pipeline.write(base, changes, design)
            run_folder = folder / f"{slug}-{repeat}"
            run_folder.mkdir()
            with around(name) if around else contextlib.nullcontext():
                runs[name].append(_run_once(design, run_folder, backlog, rate, measure_s))
    result = {
        "pipeline": str(base),
        "designs": designs,
        "settings": {"repeats": repeats, "backlog": backlog, "rate": rate, "measure_s": measure_s},
        "summary": summary(runs),
        "runs": runs,
    }
    path = report.write(kind, result)
    for name, figures in result["summary"].items():
        print(f"{name}: {figures}")
    print(f"written to {path}")
    return path
