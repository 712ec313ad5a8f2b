"""Labels joined to predictions by event id, in keyed state bounded by the label window.

Both inputs arrive as (event_id, kind, data): kind P a prediction (its model version, label and
score), kind L a label (the truth). The first of the two waits in the key's state; when the other
comes, the outcome is counted for the prediction's model version (outcomes.py) and the state
cleared. A side left waiting label_window_ms (processing time) is dropped and counted: a
prediction no label came for (`predictions_unlabelled_total`), a label whose prediction never
came (`labels_unmatched_total`). A second copy of a side (an at-least-once redelivery) is
counted (`quality_duplicates_total{kind}`) and ignored.
"""

from __future__ import annotations

import time

import orjson
from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from flink_jobs.events import InvalidEvent, parse_label
from flink_jobs.metrics import LabeledCounters, dead_letters, reason_kind
from flink_jobs.stages.input.parse import DEAD_LETTERS
from flink_jobs.stages.output.dead_letters import dead_letter
from flink_jobs.stages.quality.outcomes import VersionOutcomes

PREDICTION, LABEL = "P", "L"
KEYED = Types.TUPLE([Types.STRING(), Types.STRING(), Types.STRING()])


class PredictionKeys(ProcessFunction):
    """A prediction record -> (event_id, P, [model_version, label, score])."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.unreadable = runtime_context.get_metrics_group().counter("quality_predictions_unreadable_total")

    def process_element(self, value: str, ctx: ProcessFunction.Context):
        try:
            p = orjson.loads(value)
            yield p["event_id"], PREDICTION, orjson.dumps([p["model_version"], p["label"], p["score"]]).decode()
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.unreadable.inc()  # the inference job's own records: none should be unreadable


class LabelKeys(ProcessFunction):
    """A label message -> (event_id, L, is_fraud); a bad one, or one later than the label window
    after its event, to DEAD_LETTERS with the reason."""

    def __init__(self, source_topic: str, job_name: str, label_window_ms: int) -> None:
        self.source_topic, self.job_name, self.window_ms = source_topic, job_name, label_window_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        self.dead_lettered = dead_letters(runtime_context.get_metrics_group())

    def process_element(self, value: str, ctx: ProcessFunction.Context):
        try:
            label = parse_label(value)
            late_ms = label.label_time_ms - label.event_time_ms
            if late_ms > self.window_ms:
                raise InvalidEvent(
                    f"late label: {late_ms} ms after its event, past quality_job.label_window_ms ({self.window_ms})"
                )
        except InvalidEvent as err:
            self.dead_lettered.inc(reason_kind(str(err)))
            yield DEAD_LETTERS, dead_letter(value, str(err), source_topic=self.source_topic, job=self.job_name)
            return
        yield label.event_id, LABEL, "1" if label.is_fraud else "0"


class JoinLabels(KeyedProcessFunction):
    def __init__(self, label_window_ms: int) -> None:
        self.window_ms = label_window_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        self.waiting = runtime_context.get_state(ValueStateDescriptor("waiting", Types.STRING()))
        self.group = runtime_context.get_metrics_group()
        self.versions: dict[str, VersionOutcomes] = {}
        self.joined = self.group.counter("labels_joined_total")
        self.unlabelled = self.group.counter("predictions_unlabelled_total")
        self.unmatched = self.group.counter("labels_unmatched_total")
        self.duplicates = LabeledCounters(self.group, "quality_duplicates_total", "kind")

    def process_element(self, value: tuple[str, str, str], ctx: KeyedProcessFunction.Context):
        _, kind, data = value
        waiting = self.waiting.value()
        if waiting is None:
            self.waiting.update(kind + data)
            ctx.timer_service().register_processing_time_timer(time.time_ns() // 1_000_000 + self.window_ms)
        elif waiting[0] == kind:
            self.duplicates.inc("prediction" if kind == PREDICTION else "label")
        else:
            prediction, label = (data, waiting[1:]) if kind == PREDICTION else (waiting[1:], data)
            version, predicted, score = orjson.loads(prediction)
            self._outcomes(version).count(predicted, score, label == "1")
            self.joined.inc()
            self.waiting.clear()
        return iter(())

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        waiting = self.waiting.value()
        if waiting is not None:
            (self.unlabelled if waiting[0] == PREDICTION else self.unmatched).inc()
            self.waiting.clear()
        return iter(())

    def _outcomes(self, version: str) -> VersionOutcomes:
        outcomes = self.versions.get(version)
        if outcomes is None:
            outcomes = self.versions[version] = VersionOutcomes(self.group, version)
        return outcomes
