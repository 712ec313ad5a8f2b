"""What a fault did to the output: events lost, duplicates, the longest gap in the output, the time
to catch up, computed from what was sent and what came out (tests/faults/load.py)."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.faults.load import Outcome, Sent

# A prediction is late when its end-to-end latency is above both twice and 2 s more than the
# phase's worst before the fault: the job has caught up when no prediction after it is late.
LATE_FACTOR, LATE_MARGIN_MS = 2.0, 2000.0


@dataclass(frozen=True)
class PhaseTimes:
    start_ms: float
    fault_start_ms: float
    fault_end_ms: float
    end_ms: float
    up_ms: float | None = None  # when the fault's `rtai stack up` started, where it has one


@dataclass(frozen=True)
class PhaseFigures:
    fault: str
    sent: int  # events Pulsar acknowledged in the phase
    send_failures: int
    rate: float  # events sent per second over the phase
    seconds: float  # the phase's length
    lost: int  # sent events with neither a prediction nor an inference dead letter
    duplicates: int  # predictions beyond the first for an event
    rescored: int  # of the duplicates, those scored again (another scored_at_ms); the rest are resends
    dead_letters: int  # of the phase's (good) events, by either job
    longest_gap_s: float  # the longest time without any prediction, from the fault's start
    catch_up_s: float  # from the fault's end to the last late prediction (0: never behind)
    max_latency_s: float  # the phase's worst end-to-end latency (send call -> prediction published)
    fault_s: float  # how long the fault lasted (kill to back up, or the burst)
    restarts: dict[str, int | None]  # Flink's numRestarts over the phase, per job (None: new JobManager)
    feature_rows_wrong: int  # the phase's cards whose pushed txn_count_1h is not their event count
    redelivered: int  # predictions Pulsar delivered to the suite's subscription again (not in the topic twice)
    redeliveries_dropped: int  # input messages Pulsar delivered again to the jobs' running sources, dropped there
    up_to_prediction_s: float | None  # from the fault's `rtai stack up` to the first prediction published after it


def compute(
    fault: str,
    tag: str,
    sent: Sent,
    sent_ms_all: dict[str, float],
    predictions: list[Outcome],
    dead_letters: list[Outcome],
    times: PhaseTimes,
    restarts: dict[str, int | None],
    feature_rows_wrong: int,
    redelivered: int,
    redeliveries_dropped: int,
) -> PhaseFigures:
    prefix = f"{tag}-"
    mine = [p for p in predictions if p.event_id.startswith(prefix)]
    predicted = Counter(p.event_id for p in mine)
    letters = [d for d in dead_letters if d.event_id.startswith(prefix)]
    inference_letters = {d.event_id for d in letters if d.job == "inference-job"}
    lost = len(sent.acked - set(predicted) - inference_letters)
    latencies = {p.event_id: p.published_ms - sent.sent_ms[p.event_id] for p in mine}
    # The steady state: predictions out before the fault (events sent before it may come out late).
    before = [latencies[p.event_id] for p in mine if p.published_ms < times.fault_start_ms]
    baseline = max(before, default=0.0)
    late_ms = max(LATE_FACTOR * baseline, baseline + LATE_MARGIN_MS)
    late = [
        p.published_ms
        for p in predictions
        if p.published_ms >= times.fault_start_ms
        and p.event_id in sent_ms_all
        and p.published_ms - sent_ms_all[p.event_id] > late_ms
    ]
    catch_up_ms = max(0.0, max(late, default=times.fault_end_ms) - times.fault_end_ms)
    last_out = max((p.published_ms for p in mine), default=times.end_ms)
    outputs = sorted(p.published_ms for p in predictions if times.fault_start_ms <= p.published_ms <= last_out)
    edges = [times.fault_start_ms, *outputs, last_out]
    longest_gap_ms = max(b - a for a, b in itertools.pairwise(edges))
    seconds = (times.end_ms - times.start_ms) / 1000
    after_up = [p.published_ms for p in predictions if times.up_ms is not None and p.published_ms >= times.up_ms]
    return PhaseFigures(
        fault=fault,
        sent=len(sent.acked),
        send_failures=len(sent.failed),
        rate=round(len(sent.sent_ms) / seconds, 1),
        seconds=round(seconds, 1),
        lost=lost,
        duplicates=sum(count - 1 for count in predicted.values()),
        rescored=rescored(mine),
        dead_letters=len(letters),
        longest_gap_s=round(longest_gap_ms / 1000, 1),
        catch_up_s=round(catch_up_ms / 1000, 1),
        max_latency_s=round(max(latencies.values(), default=0.0) / 1000, 1),
        fault_s=round((times.fault_end_ms - times.fault_start_ms) / 1000, 1),
        restarts=restarts,
        feature_rows_wrong=feature_rows_wrong,
        redelivered=redelivered,
        redeliveries_dropped=redeliveries_dropped,
        up_to_prediction_s=round((min(after_up) - times.up_ms) / 1000, 1)
        if after_up and times.up_ms is not None
        else None,
    )


def rescored(predictions: list[Outcome]) -> int:
    """Predictions of an event beyond the first with a scoring time of their own."""
    times: dict[str, set[int]] = {}
    for p in predictions:
        times.setdefault(p.event_id, set()).add(p.scored_at_ms)
    return sum(len(scored) - 1 for scored in times.values())


def table(results: list[PhaseFigures]) -> str:
    head = (
        "| fault | events sent (rate/s) | lost | duplicates (scored again) | dead letters | fault lasted "
        "| longest output gap | catch-up | max latency | restarts (inference, features) | feature rows wrong "
        "| redeliveries dropped | `up` to first prediction |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in results:
        restarts = ", ".join("new JM" if v is None else str(v) for v in r.restarts.values())
        rows.append(
            f"| {r.fault} | {r.sent:,} ({r.rate:,.0f}) | {r.lost} | {r.duplicates} ({r.rescored}) | {r.dead_letters} "
            f"| {r.fault_s} s | {r.longest_gap_s} s | {r.catch_up_s} s | {r.max_latency_s} s | {restarts} "
            f"| {r.feature_rows_wrong} | {r.redeliveries_dropped:,} "
            f"| {'—' if r.up_to_prediction_s is None else f'{r.up_to_prediction_s} s'} |"
        )
    return head + "\n".join(rows) + "\n"


def write(results: list[PhaseFigures], folder: Path, settings: dict[str, object]) -> Path:
    """results as JSON and a Markdown table beside it; the JSON's path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"faults-{stamp}.json"
    path.write_text(json.dumps({"settings": settings, "phases": [asdict(r) for r in results]}, indent=2))
    path.with_suffix(".md").write_text(table(results))
    return path
