"""The stack's record of its Flink cluster's jobs (rtai.stack.flink_job_record) against a JobManager's
`/jobs/overview` served by an HTTP server in the test, and the cluster-id kept across starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rtai import paths
from rtai.stack import flink_cluster, flink_job_record
from rtai.stack.config import FlinkConfig, StackConfig
from tests.json_server import serving


class Overview:
    """What the JobManager answers: its jobs as (id, name, state), or None for a 503 (no leader)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, str, str]] | None = []


@pytest.fixture
def jobmanager(tmp_path, monkeypatch) -> Iterator[tuple[StackConfig, Overview]]:
    monkeypatch.setattr(paths, "RUN_DIR", tmp_path / "run")
    overview = Overview()

    def answer(_method: str, path: str, _body: bytes) -> tuple[int, object]:
        if overview.jobs is None:
            return 503, {"errors": ["no leader"]}
        jobs = [{"jid": jid, "name": name, "state": state} for jid, name, state in overview.jobs]
        return (200, {"jobs": jobs}) if path == "/jobs/overview" else (404, {})

    with serving(answer) as url:
        yield StackConfig(flink=FlinkConfig(rest_port=int(url.rsplit(":", 1)[1]))), overview


def test_a_recorded_job_the_jobmanager_does_not_know_is_lost_until_forgotten(jobmanager):
    config, overview = jobmanager
    flink_job_record.remember("a1", "inference")
    for number in (3, 12):
        checkpoint = paths.RUN_DIR / "data" / "flink" / "checkpoints" / "a1" / f"chk-{number}"
        checkpoint.mkdir(parents=True)
        (checkpoint / "_metadata").write_bytes(b"")
    (paths.RUN_DIR / "data" / "flink" / "checkpoints" / "a1" / "chk-13").mkdir()  # not complete
    overview.jobs = []
    assert flink_job_record.reconcile(config)
    [lost] = flink_job_record.lost_jobs()
    assert (lost.job_id, lost.name, lost.last_checkpoint.name) == ("a1", "inference", "chk-12")
    assert "NOT RECOVERED" in flink_job_record.describe(lost) and "chk-12" in flink_job_record.describe(lost)
    assert flink_job_record.forget("a1")
    assert flink_job_record.lost_jobs() == []


def test_jobs_seen_running_are_recorded_and_dropped_once_terminal(jobmanager):
    config, overview = jobmanager
    overview.jobs = [("b2", "fraud scoring", "RUNNING"), ("c3", "card features", "RESTARTING")]
    assert flink_job_record.reconcile(config)
    overview.jobs = [("b2", "fraud scoring", "FINISHED"), ("c3", "card features", "CANCELED")]
    assert flink_job_record.reconcile(config)
    overview.jobs = []
    assert flink_job_record.reconcile(config)
    assert flink_job_record.lost_jobs() == []


def test_nothing_is_judged_while_the_jobmanager_does_not_answer(jobmanager):
    config, overview = jobmanager
    overview.jobs = [("d4", "fraud scoring", "RUNNING")]
    assert flink_job_record.reconcile(config)
    overview.jobs = None
    assert not flink_job_record.reconcile(config)
    assert flink_job_record.lost_jobs() == []
    overview.jobs = [("d4", "fraud scoring", "RUNNING")]  # recovered
    assert flink_job_record.reconcile(config)
    assert flink_job_record.lost_jobs() == []


def test_the_cluster_id_is_kept_until_the_cluster_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUN_DIR", tmp_path / "run")
    first = flink_cluster.cluster_id()
    assert flink_cluster.cluster_id() == first
    flink_cluster.ha_storage_dir().mkdir(parents=True)
    flink_cluster.end_cluster()
    assert not flink_cluster.ha_storage_dir().exists()
    assert flink_cluster.cluster_id() != first
