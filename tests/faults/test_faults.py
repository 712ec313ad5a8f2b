"""Faults under load (`make faults`): both jobs on the stack's Flink cluster (ZooKeeper high
availability, supervised JobManager and TaskManager), a steady 1,000 transactions/s on their
topic, and one fault per phase: kill -9 of the TaskManager and of the JobManager, of the
JobManager with its supervisor (then `rtai stack up`), Pulsar restarted cleanly and after kill -9,
the Feast server and Triton killed and kept down for 30 s, kill -9 of every process of the stack
at once (then `rtai stack up --with-flink`), a burst of ten times the rate for 20 s. Each phase
lasts at least a minute of load; then the suite waits until every event sent in it has its
outcome and the job has caught up.

Per phase: no event lost, no duplicate (the inference job runs exactly-once), no good event
dead-lettered, the feature job's pushed rows count every event of the phase's cards once, both
jobs running at the end. The figures (gap, catch-up, latency, restarts, time from `up` to the
first prediction after it) are reported in .run/data/faults/faults-<time>.json and .md, and at
the end of the pytest output."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from flink_jobs.clients.feast_client import FeastClient
from rtai import paths, pulsar_client
from rtai.stack import processes
from tests.faults import figures
from tests.faults.load import Collector, Publisher
from tests.flink_rest import JobRest
from tests.stack_helpers import (
    MODEL_COLUMNS,
    IsolatedStack,
    cli,
    cluster_pipeline,
    crash,
    crash_stack,
    isolated_stack,
    served_model_toml,
)

RATE = 1000.0  # transactions per second, all the time
PHASE_S = 40.0  # load per phase, at least
FAULT_AT_S = 10.0  # into the phase: the steady state before it gives the phase's baseline latency
AFTER_FAULT_S = 15.0  # load after the fault's end, at least
OUTAGE_S = 30.0
# 20 s of the burst is ~140,000 events, ~3 min to drain here (60 s took 8.5 min of CI's hour).
BURST_FACTOR, BURST_S = 10, 20.0
DRAIN_TIMEOUT_S = 900.0
CHECKPOINT_INTERVAL_MS = 5000
WARM_UP_S = 20.0  # after the first prediction, before the first phase
# What `rtai stack up --with-flink` starts (the whole-box crash starts the stack again that way).
SERVICES = ["pulsar", "feast", "triton", "zookeeper", "flink-jobmanager", "flink-taskmanager", "flink-job-watch"]
SETTINGS = {
    "rate": RATE,
    "phase_s": PHASE_S,
    "fault_at_s": FAULT_AT_S,
    "outage_s": OUTAGE_S,
    "burst": f"{BURST_FACTOR}x for {BURST_S:.0f} s",
    "delivery": "inference: exactly-once; features: at-least-once pushes (idempotent rows)",
    "checkpoint_interval_ms": CHECKPOINT_INTERVAL_MS,
}


@dataclass
class Suite:
    stack: IsolatedStack
    publisher: Publisher
    predictions: Collector
    dead_letters: Collector
    jobs: dict[str, JobRest]
    feast: FeastClient
    results: list[figures.PhaseFigures] = field(default_factory=list)

    def service_record(self, name: str) -> processes.PidRecord:
        record = processes.read_pid_file(self.stack.run_dir / "pids" / f"{name}.pid")
        assert record is not None and processes.is_running(record), f"{name} is not running"
        return record

    def restarts(self) -> dict[str, int]:
        return {name: rest.num_restarts() for name, rest in self.jobs.items()}

    def redeliveries_dropped(self) -> int:
        """What the jobs' sources dropped as delivered again (java/): it counts from 0 in each run
        of a job, so a phase with a restart reads low."""
        return sum(rest.operator_metric_total("pulsar_redeliveries_dropped_total") for rest in self.jobs.values())

    def states(self) -> dict[str, str]:
        return {name: rest.state() for name, rest in self.jobs.items()}

    def phase(
        self, fault: str, inject: Callable[[], float | None], *, rate_after: float = RATE
    ) -> figures.PhaseFigures:
        """`inject` returns when its `rtai stack up` started (epoch ms), where it has one."""
        index = len(self.results)
        tag = f"phase{index}"
        restarts_before = self.restarts()
        redelivered_before = self.predictions.redelivered
        dropped_before = self.redeliveries_dropped()
        self.publisher.start_phase(tag, index)
        start = now_ms()
        time.sleep(FAULT_AT_S)
        fault_start = now_ms()
        up_ms = inject()
        fault_end = now_ms()
        time.sleep(max(AFTER_FAULT_S, PHASE_S - (fault_end - start) / 1000))
        self.publisher.end_phase()
        self.publisher.rate = rate_after
        times = figures.PhaseTimes(start, fault_start, fault_end, now_ms(), up_ms)
        self.publisher.wait_answered(tag)
        self.wait_for_outcomes(tag, self.publisher.snapshot()[tag].acked)
        wait_running(self.jobs)
        restarts_after = self.restarts()
        everything = self.publisher.snapshot()
        sent = everything[tag]
        result = figures.compute(
            fault,
            tag,
            sent,
            {eid: ms for record in everything.values() for eid, ms in record.sent_ms.items()},
            list(self.predictions.outcomes),
            list(self.dead_letters.outcomes),
            times,
            {
                name: restarts_after[name] - restarts_before[name]
                if restarts_after[name] >= restarts_before[name]
                else None
                for name in self.jobs
            },
            self.feature_rows_wrong(sent.card, sent.acked),
            self.predictions.redelivered - redelivered_before,
            max(0, self.redeliveries_dropped() - dropped_before),
        )
        self.results.append(result)
        return result

    def wait_for_outcomes(self, tag: str, acked: set[str]) -> None:
        """Until every acknowledged event of the phase has a prediction or a dead letter (and a few
        seconds more, for duplicates to show), or the timeout."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        prefix = f"{tag}-"
        while time.monotonic() < deadline:
            seen = {o.event_id for o in list(self.predictions.outcomes) if o.event_id.startswith(prefix)}
            seen |= {o.event_id for o in list(self.dead_letters.outcomes) if o.event_id.startswith(prefix)}
            if acked <= seen:
                for rest in self.jobs.values():  # what a job wrote twice is committed by then
                    rest.wait_for_checkpoints(2, timeout_s=6 * CHECKPOINT_INTERVAL_MS / 1000)
                return
            time.sleep(2)

    def feature_rows_wrong(self, cards: dict[str, int], acked: set[str], timeout_s: float = DRAIN_TIMEOUT_S) -> int:
        """The phase's cards whose txn_count_1h in Feast is not their number of events (the row of a
        card's last event counts all its events: a phase is far shorter than an hour), once they
        all match or the time is up (the feature job may still be draining a backlog)."""
        expected = Counter(cards[eid] for eid in acked)
        ids = sorted(expected)
        deadline = time.monotonic() + timeout_s
        while True:
            column = self.feast.online_features({"card_id": ids}, features=["card_realtime:txn_count_1h"])
            values = column["txn_count_1h"].values
            wrong = sum(1 for card, value in zip(ids, values, strict=True) if value != expected[card])
            if wrong == 0 or time.monotonic() > deadline:
                return wrong
            time.sleep(3)


def now_ms() -> float:
    return time.time() * 1000


def wait_running(jobs: dict[str, JobRest]) -> None:
    for rest in jobs.values():
        rest.wait_running()


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Iterator[Suite]:
    tmp = tmp_path_factory.mktemp("faults")
    with isolated_stack(tmp, SERVICES, served_model_toml(tmp, MODEL_COLUMNS, seed=9)) as stack:
        pipeline, topics = cluster_pipeline(
            tmp, stack, "faults", checkpoint_interval_ms=CHECKPOINT_INTERVAL_MS, features=True
        )
        rest_port = stack.config.flink.rest_port
        jobs = {}
        for name, job in (("inference", "inference"), ("features", "features")):
            submitted = cli("job", "submit", job, "--pipeline", str(pipeline), env=stack.env)
            assert submitted.returncode == 0, submitted.stderr
            jobs[name] = JobRest(rest_port, submitted.stdout.split()[3])
        wait_running(jobs)
        # The load's client logs to a file: it reports every lookup refused while Pulsar is down.
        client = pulsar_client.connect(stack.config.pulsar_service_url, tmp / "client.log")
        predictions = Collector(client, topics["predictions"], "prediction")
        dead_letters = Collector(client, topics["dead_letter"], "dead letter")
        publisher = Publisher(client, topics["transactions"], RATE)
        feast = FeastClient(stack.config.feast_url, timeout_s=30, retries=3, backoff_ms=500)
        suite = Suite(stack, publisher, predictions, dead_letters, jobs, feast)
        for thread in (predictions, dead_letters, publisher):
            thread.start()
        try:
            warm_up(suite)
            yield suite
        finally:
            publisher.stop()
            predictions.stop()
            dead_letters.stop()
            client.close()
            if suite.results:
                written = figures.write(suite.results, paths.RUN_DIR / "data" / "faults", SETTINGS)
                print(f"\nfault figures: {written}\n{figures.table(suite.results)}")


def warm_up(suite: Suite, timeout_s: float = 300) -> None:
    """Until predictions flow, then 20 s more: the jobs' first checkpoints and caches are done.
    Kept as a time: with a wait on two checkpoints of each job instead (about 10 s), the whole-box
    crash's Feast check failed in a fresh-clone CI run (2026-12-05; the cause not found)."""
    deadline = time.monotonic() + timeout_s
    while not suite.predictions.outcomes:
        assert time.monotonic() < deadline, f"no prediction within {timeout_s} s of the load's start"
        time.sleep(1)
    time.sleep(WARM_UP_S)


def check(result: figures.PhaseFigures, suite: Suite) -> None:
    assert result.send_failures == 0, result
    assert result.sent >= RATE * PHASE_S * 0.5, result
    assert result.lost == 0, result
    assert result.duplicates == 0, result
    assert result.dead_letters == 0, result
    assert result.feature_rows_wrong == 0, result
    assert set(suite.states().values()) == {"RUNNING"}, result


def java_processes(record: processes.PidRecord) -> list[int]:
    """The JVMs a supervised service runs (its supervisor's descendants)."""
    found = []
    for pid in processes.descendants(record.pid):
        try:
            if os.readlink(f"/proc/{pid}/exe").endswith("/java"):
                found.append(pid)
        except OSError:
            continue
    return found


def kill_jvm_and_wait_for_new_one(suite: Suite, service: str, back: Callable[[], bool]) -> None:
    record = suite.service_record(service)
    killed = java_processes(record)
    assert killed, f"no JVM under {service}"
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 180
    while True:
        fresh = [pid for pid in java_processes(record) if pid not in killed]
        if fresh and back():
            return
        assert time.monotonic() < deadline, f"{service} did not come back within 180 s"
        time.sleep(0.5)


def taskmanager_ids(suite: Suite) -> set[str]:
    try:
        answer = httpx.get(f"{suite.stack.config.flink_rest_url}/taskmanagers", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return set()
    return {tm["id"] for tm in answer.get("taskmanagers", [])}


def rest_answers(suite: Suite) -> bool:
    try:
        return httpx.get(f"{suite.stack.config.flink_rest_url}/config", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_taskmanager_kill_9(suite):
    def inject() -> None:
        before = taskmanager_ids(suite)
        kill_jvm_and_wait_for_new_one(suite, "flink-taskmanager", lambda: bool(taskmanager_ids(suite) - before))

    check(suite.phase("TaskManager kill -9", inject), suite)


def test_jobmanager_kill_9(suite):
    def inject() -> None:
        kill_jvm_and_wait_for_new_one(suite, "flink-jobmanager", lambda: rest_answers(suite))

    check(suite.phase("JobManager kill -9 (ZooKeeper HA)", inject), suite)


def last_checkpoints(suite: Suite) -> dict[str, int]:
    """Each job's newest completed checkpoint id: the least a recovered run may restore."""
    return {name: rest.latest_completed_checkpoint()["id"] for name, rest in suite.jobs.items()}


def stack_up_again(suite: Suite) -> tuple[float, str]:
    """`rtai stack up --with-flink`, as after any crash; when it started (epoch ms), what it said."""
    started = now_ms()
    result = cli("stack", "up", "--with-flink", env=suite.stack.env)
    assert result.returncode == 0, result.stderr
    return started, result.stdout + result.stderr


def assert_jobs_recovered(suite: Suite, said: str, checkpoints_before: dict[str, int]) -> None:
    """`up` named both jobs and no lost one, and each restored a checkpoint no older than the last
    completed before the crash (its own job id: Flink's high availability, no resubmission)."""
    assert "NOT RECOVERED" not in said, said
    for name, rest in suite.jobs.items():
        assert rest.job_id() in said, said
        rest.wait_running()
        restored = rest.latest_restored_checkpoint()
        assert restored is not None and not restored["is_savepoint"], restored
        assert restored["id"] >= checkpoints_before[name], (name, restored, checkpoints_before)


def test_jobmanager_and_its_supervisor_kill_9(suite):
    """The JobManager dies with its supervisor (a unit killed by the out-of-memory killer): nothing
    starts it until `rtai stack up`, which starts it under the same cluster-id."""

    def inject() -> float:
        before = last_checkpoints(suite)
        crash(suite.service_record("flink-jobmanager"))
        up_ms, said = stack_up_again(suite)
        assert_jobs_recovered(suite, said, before)
        return up_ms

    check(suite.phase("JobManager and its supervisor kill -9, stack up", inject), suite)


def restart_service(suite: Suite, service: str, *, kill: bool, down_s: float = 0.0) -> None:
    if kill:
        crash(suite.service_record(service))
    else:
        stopped = cli("stack", "down", service, env=suite.stack.env)
        assert stopped.returncode == 0, stopped.stderr
    time.sleep(down_s)
    started = cli("stack", "up", service, env=suite.stack.env)
    assert started.returncode == 0, started.stderr


# When the broker comes back, Pulsar delivers again to the running sources what their
# subscriptions had not acknowledged; the jobs' deserializer drops it (java/), else those events
# would be scored twice (700 to 2,313 duplicates a phase before it).
def test_pulsar_clean_restart(suite):
    check(suite.phase("Pulsar restart (stop, start)", lambda: restart_service(suite, "pulsar", kill=False)), suite)


def test_pulsar_kill_9(suite):
    check(suite.phase("Pulsar kill -9, start", lambda: restart_service(suite, "pulsar", kill=True)), suite)


def test_feast_server_down_30_s(suite):
    inject = lambda: restart_service(suite, "feast", kill=True, down_s=OUTAGE_S)  # noqa: E731
    check(suite.phase(f"Feast server kill -9, down {OUTAGE_S:.0f} s", inject), suite)


def test_triton_down_30_s(suite):
    inject = lambda: restart_service(suite, "triton", kill=True, down_s=OUTAGE_S)  # noqa: E731
    check(suite.phase(f"Triton kill -9, down {OUTAGE_S:.0f} s", inject), suite)


def card_counts(suite: Suite, cards: list[int]) -> dict[int, int | None]:
    column = suite.feast.online_features({"card_id": cards}, features=["card_realtime:txn_count_1h"])
    return dict(zip(cards, column["txn_count_1h"].values, strict=True))


def test_whole_box_crash(suite):
    """kill -9 to every process of the stack at once (supervisors, ZooKeeper, Pulsar, Feast, Triton
    included), as a power cut; then `rtai stack up --with-flink`. Every server comes back on its
    data: Pulsar's (nothing lost), ZooKeeper's and the HA storage's (both jobs recovered under
    their ids from their last checkpoints), the Feast online store's (no row older than before the
    crash) and Triton's repository (the model served)."""

    def inject() -> float:
        cards = sorted(set(suite.publisher.snapshot()[f"phase{len(suite.results)}"].card.values()))
        rows_before = card_counts(suite, cards)
        before = last_checkpoints(suite)
        assert crash_stack(suite.stack.run_dir) > len(SERVICES)
        up_ms, said = stack_up_again(suite)
        assert_jobs_recovered(suite, said, before)
        model = httpx.get(f"{suite.stack.config.triton_http_url}/v2/models/fraud_mlp/ready", timeout=5)
        assert model.status_code == 200, model.text
        rows_after = card_counts(suite, cards)
        older = {c: (v, rows_after[c]) for c, v in rows_before.items() if v is not None and (rows_after[c] or 0) < v}
        assert not older, f"Feast rows older after the crash than before (card: before, after): {older}"
        return up_ms

    check(suite.phase("whole box: every process kill -9, stack up", inject), suite)


def test_burst_of_ten_times_the_rate(suite):
    """The last phase: after it the load drops to 1 % of the base rate. Both jobs and the load
    together use this machine's two cores at about the base rate, so under the full load the
    burst's backlog would never drain; its catch-up is the drain time under the trickle (which
    keeps the feature job's watermark moving past the last events)."""

    def inject() -> None:
        suite.publisher.rate = RATE * BURST_FACTOR
        time.sleep(BURST_S)
        suite.publisher.rate = RATE

    check(suite.phase(f"burst: {BURST_FACTOR}x the rate for {BURST_S:.0f} s", inject, rate_after=RATE / 100), suite)


def test_jobs_the_cluster_did_not_recover_are_reported(suite):
    """The last test (it leaves the cluster without its jobs), not a phase: the Flink cluster
    crashes and its cluster-id is lost (as when its HA data is gone, or someone resets it), so
    `rtai stack up` starts an empty cluster; `up`, `rtai job list` and the job watch's metric (the
    alert FlinkJobNotRecovered's input) name both jobs as not recovered."""
    for service in ("flink-jobmanager", "flink-taskmanager"):
        crash(suite.service_record(service))
    (suite.stack.run_dir / "data" / "flink" / "cluster-id").unlink()
    _, said = stack_up_again(suite)
    listed = cli("job", "list", env=suite.stack.env)
    assert listed.returncode == 0, listed.stderr
    watch = f"http://127.0.0.1:{suite.stack.config.flink.job_watch_port}/metrics"
    metrics = httpx.get(watch, timeout=5).text.splitlines()
    for rest in suite.jobs.values():
        for text in (said, listed.stdout):
            assert "NOT RECOVERED" in text and f"({rest.job_id()}) was running on this cluster" in text, text
        series = [line for line in metrics if f'job_id="{rest.job_id()}"' in line]
        assert len(series) == 1 and series[0].endswith(" 1.0"), metrics
