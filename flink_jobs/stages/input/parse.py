"""The first stage of every job: raw messages to Transactions; every other message to the dead letters."""

from __future__ import annotations

import time

from pyflink.common import Types
from pyflink.datastream import OutputTag, ProcessFunction, RuntimeContext

from flink_jobs.config.pipeline_config import EventsSection
from flink_jobs.events import InvalidEvent, accepted
from flink_jobs.metrics import ParseMetrics
from flink_jobs.stages.output.dead_letters import dead_letter

DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())


class ParseTransactions(ProcessFunction):
    """Valid events go on as Transactions; every other one to DEAD_LETTERS with its reason,
    an event time outside the [events] window around the job's clock included."""

    def __init__(self, source_topic: str, job_name: str, window: EventsSection) -> None:
        self.source_topic, self.job_name, self.window = source_topic, job_name, window

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = ParseMetrics(runtime_context.get_metrics_group())

    def process_element(self, value: str, ctx: ProcessFunction.Context):
        try:
            event = accepted(value, self.window, time.time_ns() // 1_000_000)
        except InvalidEvent as err:
            self.metrics.invalid(str(err))
            yield DEAD_LETTERS, dead_letter(value, str(err), source_topic=self.source_topic, job=self.job_name)
            return
        self.metrics.valid()
        yield event
