"""The feature job's offline rows (push.to = "online_and_offline", batching = "java"), written off
the online path. Feast's file offline store rewrites its whole Parquet file on every push, so a
push of each merged batch to both stores made every online write wait for a rewrite that grows
with the file: at 50 events/s a slow machine's freshness p99 passed 1 s. Here one write is under
way at a time and takes every row that came while the last one was (up to max_rows): the store
is rewritten as often as it can be, not once per batch, and the online pushes go on meanwhile."""

from __future__ import annotations

import threading

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.stages.features.feast_push import push_columns


class OfflineWrites:
    def __init__(self, client: FeastClient, push_source: str, max_rows: int) -> None:
        self.client, self.push_source, self.max_rows = client, push_source, max_rows
        self._pending: list[dict] = []
        self._writing = False
        self._closed = False
        self._error: BaseException | None = None
        self._requests = 0  # done since the last take_requests
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="feast-offline", daemon=True)
        self._thread.start()

    def add(self, rows: list[dict]) -> None:
        """Queues rows; waits while max_rows are already queued (the store's pace holds the job
        back rather than its memory growing). A failed write raises here."""
        with self._changed:
            while len(self._pending) >= self.max_rows and self._error is None:
                self._changed.wait()
            self._raise_failure()
            self._pending.extend(rows)
            self._changed.notify_all()

    def wait_until_written(self) -> None:
        """Every queued row written (before a checkpoint: nothing is in flight across one)."""
        with self._changed:
            while (self._pending or self._writing) and self._error is None:
                self._changed.wait()
            self._raise_failure()

    def take_requests(self) -> int:
        """The /push requests done since the last call."""
        with self._changed:
            done, self._requests = self._requests, 0
            return done

    def close(self) -> None:
        """Stops after the write under way; rows still queued are not written (the job is
        stopping, and its last checkpoint waited for every row before it)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"writing feature rows to Feast's offline store failed: {self._error}") from self._error

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                rows, self._pending = self._pending[: self.max_rows], self._pending[self.max_rows :]
                self._writing = True
                self._changed.notify_all()
            try:
                self.client.push(self.push_source, push_columns(rows), to="offline")
            except BaseException as err:  # past the client's retries: fails the job at its next call
                with self._changed:
                    self._error, self._writing = err, False
                    self._changed.notify_all()
                return
            with self._changed:
                self._writing = False
                self._requests += 1
                self._changed.notify_all()
