"""The feature job's push on whole batches (batching = "java"): one call per merged batch from
the JVM, each per-key-group document's rows pushed to Feast's push source in requests of at most
push.batch_size rows; its dead letters (the documents' own, and a dead letter for each late
transaction, one older than its card's latest already taken) out at once as tagged lines
("D" + JSON) that the JVM splits back into records.

The pushes run on push.lanes threads of their own, each with its own connection to the feature
server (whose workers take one request each at a time), a card's rows always on the lane of its
id, in call order, so a card's rows never overtake each other; up to push.in_flight calls' rows
are left pushing when a call returns, so the task reads and computes the next batch while Feast
writes the last one (0: each call pushes its rows before it returns). An empty list from the JVM
(before every checkpoint barrier, at the end of input, and after a lull) waits for every push
under way: nothing is in flight across a checkpoint, so a checkpoint needs no state here. A push
that fails past its retries fails the job, which restarts from its last checkpoint and pushes
the same rows again (a push of the same row is idempotent). With push.to = "online_and_offline"
the lanes push online, and the offline rows go to a writer of their own (offline_writes.py), which
the same empty list waits for."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import orjson
from pyflink.datastream import ProcessFunction, RuntimeContext

from flink_jobs.clients.call_stats import CallStats
from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.config.pipeline_config import FeastCalls, PushSection
from flink_jobs.events import iso_ms
from flink_jobs.metrics import PushMetrics, dead_letters
from flink_jobs.stages.features.batch_dead_letters import tagged_dead_letters
from flink_jobs.stages.features.feast_push import push_columns
from flink_jobs.stages.features.offline_writes import OfflineWrites


class PushFeatureBatches(ProcessFunction):
    def __init__(self, feast: FeastCalls, push: PushSection, source_topic: str, job_name: str) -> None:
        self.feast, self.push = feast, push
        self.source_topic, self.job_name = source_topic, job_name

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = PushMetrics(runtime_context.get_metrics_group())
        self.dead_lettered = dead_letters(runtime_context.get_metrics_group())
        lanes = range(self.push.lanes)
        self.clients = [FeastClient.from_calls(self.feast) for _ in lanes]
        self.lanes = [ThreadPoolExecutor(1, thread_name_prefix=f"feast-push-{lane}") for lane in lanes]
        self.in_flight: deque[tuple[int, list[Future[int]]]] = deque()  # (rows, each lane's requests)
        self.online_to = "online" if self.push.to == "online_and_offline" else self.push.to
        self.offline = (
            OfflineWrites(FeastClient.from_calls(self.feast), self.push.push_source, self.push.offline_batch_size)
            if self.push.to == "online_and_offline"
            else None
        )

    def close(self) -> None:
        for lane in self.lanes:
            lane.shutdown(wait=True)
        for client in self.clients:
            client.close()
        if self.offline is not None:
            self.offline.close()
            self.offline.client.close()

    def process_element(self, parts: list[str], ctx: ProcessFunction.Context):
        dead: list[str] = []
        rows: list[dict] = []
        for part in parts:
            document = orjson.loads(part)
            dead.extend(tagged_dead_letters(document, self.source_topic, self.job_name, self.dead_lettered))
            for event, features, _ in document["rows"]:
                rows.append(
                    {"card_id": event["card_id"], "event_timestamp": iso_ms(event["event_time_ms"]), **features}
                )
        if rows:
            # The online store keeps a card's latest row only, and a card's rows come in event-time
            # order: its last row here is all it needs (a hot card's burst, one row per call).
            latest = list({row["card_id"]: row for row in rows}.values())
            self.in_flight.append((len(rows), self._submit(latest)))
            if self.offline is not None:
                self.offline.add(rows)
        self._finished(len(self.in_flight) - (self.push.in_flight if parts else 0))
        if self.offline is not None:
            if not parts:
                self.offline.wait_until_written()
            self.metrics.pushes.inc(self.offline.take_requests())
        if dead:
            yield "\n".join(dead)

    def _submit(self, rows: list[dict]) -> list[Future[int]]:
        """The rows to their cards' lanes."""
        count = len(self.lanes)
        if count == 1:
            parts = [rows]
        else:
            parts = [[] for _ in range(count)]
            for row in rows:
                parts[row["card_id"] % count].append(row)
        return [
            lane.submit(self._push_all, client, part)
            for lane, client, part in zip(self.lanes, self.clients, parts, strict=True)
            if part
        ]

    def _push_all(self, client: FeastClient, rows: list[dict]) -> int:
        """On a lane's thread: the rows in requests of at most batch_size; how many requests."""
        size = self.push.batch_size
        for start in range(0, len(rows), size):
            client.push(self.push.push_source, push_columns(rows[start : start + size]), to=self.online_to)
        return -(-len(rows) // size)

    def _finished(self, must: int) -> None:
        """Waits for the oldest `must` pushes (a failed one raises here, failing the job), then
        counts every push done."""
        while self.in_flight and (must > 0 or all(push.done() for push in self.in_flight[0][1])):
            rows, pushes = self.in_flight.popleft()
            must -= 1
            try:
                self.metrics.pushes.inc(sum(push.result() for push in pushes))
            finally:
                self.metrics.feast.report(*(client.stats for client in self.clients), *self._offline_stats())
            self.metrics.rows_pushed.inc(rows)

    def _offline_stats(self) -> list[CallStats]:
        return [] if self.offline is None else [self.offline.client.stats]
