"""An edge site that scores on its own and forwards to the core through a link that goes down.

Two Pulsar standalones, `edge` and `core`, each in a network namespace of its own joined by a
link (tests/network_namespaces.py), linked by `rtai edge link` (geo-replication of the site's
namespace, with a backlog quota). The inference job runs at the edge against the edge's Pulsar,
scoring in its own process (`serving = "in_process"`, no Triton at the site; the session's Feast
server); a paced producer sends transactions to the edge.

The link is cut under load for two minutes: the edge keeps scoring into its local topics, and
once the link is back every prediction arrives at the core, once each, in the edge's order.
Then a cut longer than a small quota allows: the policy (consumer_backlog_eviction) drops the
oldest predictions waiting for the core, the edge keeps scoring, and the drop shows in the
edge broker's metrics (what the EdgeBacklogEvicted alert reads), never silently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from rtai import paths, pulsar_client, toml_text
from rtai.benchmarks.cpu_time import CpuMeter
from rtai.benchmarks.footprint import process_tree_rss_mb
from rtai.edge import replication
from rtai.jobs import launcher
from rtai.stack import config as stack_config
from rtai.stack import processes
from rtai.stack.probes import http_get
from tests import network_namespaces
from tests.faults.load import Collector, Publisher
from tests.stack_helpers import MODEL_COLUMNS, cli, isolated_env, served_model_toml

RATE = 200.0  # transactions per second at the edge
STEADY_S = 15.0  # load before and after a cut
# `make edge-demo` runs this test with longer cuts (its figures: .run/data/edge/).
CUT_S = float(os.environ.get("RTAI_EDGE_CUT_S", "120"))
# Long enough for the replicator to find its connection dead (the Pulsar client's 30 s keep-alive):
# a shorter cut leaves what it sent in the TCP send buffer, delivered once the link is back.
QUOTA_CUT_S = float(os.environ.get("RTAI_EDGE_QUOTA_CUT_S", "90"))
SMALL_QUOTA_MB = 1.0  # about 10 s of predictions at RATE
DRAIN_TIMEOUT_S = 300.0
NAMESPACE = "public/edge"


@dataclass(frozen=True)
class Site:
    config: stack_config.StackConfig
    env: dict[str, str]


def site_toml(sites: network_namespaces.Sites, edge: bool, quota_mb: float = 256.0) -> str:
    own, other = (sites.edge_address, sites.core_address) if edge else (sites.core_address, sites.edge_address)
    sections: dict[str, dict[str, object]] = {
        "pulsar": {"cluster": "edge" if edge else "core", "address": own, "heap": "512m"},
        "edge": {"namespace": NAMESPACE},
    }
    if edge:
        sections["edge"] |= {"core_cluster": "core", "core_address": other, "backlog_quota_mb": quota_mb}
    return "".join(
        f"[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
        for name, values in sections.items()
    )


def site_pulsar(sites: network_namespaces.Sites, namespace: str, folder: Path, edge: bool) -> Site:
    """The site's Pulsar up, in its namespace: `rtai stack up pulsar` started there (the broker
    inherits the namespace); its pid file is this machine's, so `rtai stack down` works from the host."""
    folder.mkdir(parents=True, exist_ok=True)
    env = isolated_env(folder, site_toml(sites, edge))
    started = subprocess.run(
        [*sites.exec_prefix(namespace), sys.executable, "-m", "rtai", "stack", "up", "pulsar"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert started.returncode == 0, started.stderr
    return Site(stack_config.load(Path(env["RTAI_STACK_CONFIG"])), env)


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory) -> Iterator[tuple[network_namespaces.Sites, Site, Site]]:
    why_not = network_namespaces.available()
    assert why_not is None, f"the edge test needs network namespaces: {why_not}"
    tmp = tmp_path_factory.mktemp("edge")
    with network_namespaces.two_sites() as sites:
        with ThreadPoolExecutor(2) as pool:
            edge_up = pool.submit(site_pulsar, sites, sites.edge_ns, tmp / "edge", True)
            core_up = pool.submit(site_pulsar, sites, sites.core_ns, tmp / "core", False)
            edge, core = edge_up.result(), core_up.result()
        try:
            linked = cli("edge", "link", env=edge.env)
            assert linked.returncode == 0, linked.stderr
            yield sites, edge, core
        finally:
            for site in (edge, core):
                cli("stack", "down", env=site.env)


@pytest.fixture(scope="module")
def model_repository(tmp_path_factory) -> Path:
    """A registered model in a repository of its own: the edge scores in the job's own process,
    no Triton at the site."""
    tmp = tmp_path_factory.mktemp("edge-model")
    served_model_toml(tmp, MODEL_COLUMNS, seed=11)  # registers it under the stack.toml it writes there
    return stack_config.load(tmp / "stack.toml").triton.repository_path()


def edge_pipeline(folder: Path, edge: Site, feast_url: str, model_repository: Path) -> tuple[Path, dict[str, str]]:
    """The shipped edge pipeline (pipelines/fraud-edge.toml: scoring in the job's own process) on
    fresh topics: its input in the site's own namespace, its outputs in the replicated one."""
    run = uuid.uuid4().hex[:8]
    topics = {"transactions": f"persistent://public/default/edge-transactions-{run}"}
    for kind in ("predictions", "alerts", "dead_letter"):
        topics[kind] = f"persistent://{NAMESPACE}/{kind.replace('_', '-')}-{run}"
    changes = {
        "pulsar": {"service_url": edge.config.pulsar_service_url, "admin_url": edge.config.pulsar_admin_url},
        "topics": topics,
        "inference_job": {
            "subscription": "edge",
            "feast": {"url": feast_url},
            "model_repository": str(model_repository),
        },
    }
    path = folder / "pipeline.toml"
    config = toml_text.derive_pipeline(paths.EDGE_PIPELINE, changes, path)
    assert (config.inference_job.serving, config.inference_job.batching) == ("in_process", "java")
    return path, topics


def wait_until(condition, timeout_s: float) -> float:
    """Seconds until `condition()` held; fails after timeout_s."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, f"not within {timeout_s:.0f} s"
        time.sleep(0.5)
    return time.monotonic() - start


def evictions(site: Site, topic: str) -> float:
    """The edge broker's size-quota evictions of `topic` so far (its Prometheus metrics)."""
    status, body = http_get(f"{site.config.pulsar_admin_url}/metrics/", timeout_s=10)
    assert status == 200
    wanted = ("pulsar_storage_backlog_quota_exceeded_evictions_total{", f'topic="{topic}"', 'quota_type="size"')
    for line in body.decode().splitlines():
        if line.startswith(wanted[0]) and all(part in line for part in wanted[1:]):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def replication_of(site: Site, topic: str) -> replication.TopicReplication:
    return next(t for t in replication.status(site.config) if t.topic == topic)


def pid_of(run_dir: Path, service: str) -> int:
    record = processes.read_pid_file(run_dir / "pids" / f"{service}.pid")
    assert record is not None, f"{service} has no pid file"
    return record.pid


def write_figures(figures: dict) -> Path:
    folder = paths.RUN_DIR / "data" / "edge"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"edge-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path


class Phases:
    """The publisher's tags, phase by phase, and when each ended (epoch ms)."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.count = 0

    def run(self, tag: str, seconds: float, during=None) -> None:
        self.publisher.start_phase(tag, self.count)
        self.count += 1
        if during is not None:
            during()
        time.sleep(seconds)


def test_a_cut_link_loses_nothing_and_a_full_quota_evicts_the_oldest_and_says_so(
    stack, two_sites, model_repository, tmp_path
):
    sites, edge, core = two_sites
    pipeline, topics = edge_pipeline(tmp_path, edge, stack.feast_url, model_repository)
    edge_client = pulsar_client.connect(edge.config.pulsar_service_url, tmp_path / "edge-client.log")
    core_client = pulsar_client.connect(core.config.pulsar_service_url, tmp_path / "core-client.log")
    at_edge = Collector(edge_client, topics["predictions"], "prediction")
    at_core = Collector(core_client, topics["predictions"], "prediction")
    publisher = Publisher(edge_client, topics["transactions"], RATE)
    job = launcher.start_local("flink_jobs.jobs.fraud_scoring", ["--pipeline", str(pipeline)], tmp_path / "job.log")
    phases = Phases(publisher)
    for thread in (at_edge, at_core, publisher):
        thread.start()
    try:
        wait_until(lambda: at_core.outcomes, 240)  # the job runs and the link replicates
        site_processes = {
            "pulsar": pid_of(Path(edge.env["RTAI_RUN_DIR"]), "pulsar"),
            "feast": pid_of(paths.RUN_DIR, "feast"),  # the session's (2 workers; the edge profile runs 1)
            "inference job": job.pid,
        }
        meter = CpuMeter(site_processes)
        meter.start()
        phases.run("before", STEADY_S)
        cpu_s = meter.stop()["cpu_s"]
        footprint = {
            name: {"rss_mb": process_tree_rss_mb(pid), "cores": round(cpu_s[name] / STEADY_S, 3)}
            for name, pid in site_processes.items()
        }
        cut_at = time.time() * 1000
        phases.run("cut", CUT_S, during=sites.cut_link)
        at_cut_end = replication_of(edge, topics["predictions"])
        sites.restore_link()
        restored_at = time.time() * 1000
        publisher.start_phase("after", phases.count)  # the load goes on while the core catches up
        sent = publisher.snapshot()
        before_return = {i for tag in ("before", "cut") for i in sent[tag].acked}
        catch_up_s = wait_until(lambda: before_return <= {o.event_id for o in at_core.outcomes}, DRAIN_TIMEOUT_S)
        phases.run("after", STEADY_S)
        sent = publisher.snapshot()
        wanted = {i for tag in ("before", "cut", "after") for i in sent[tag].acked}
        wait_until(lambda: wanted <= {o.event_id for o in at_core.outcomes}, DRAIN_TIMEOUT_S)

        scored_during_cut = [o for o in list(at_edge.outcomes) if cut_at <= o.scored_at_ms < restored_at]
        core_ids = [o.event_id for o in list(at_core.outcomes)]
        edge_ids = [o.event_id for o in list(at_edge.outcomes)]
        figures = {
            "rate": RATE,
            "cut_s": CUT_S,
            "scored_at_edge_during_cut": len(scored_during_cut),
            "sent": len(wanted),
            "arrived_at_core": len(wanted & set(core_ids)),
            "lost": len(wanted - set(core_ids)),
            "duplicated_at_core": len(core_ids) - len(set(core_ids)),
            "catch_up_s": round(catch_up_s, 1),  # from the link's return to the core holding all it missed
            "replicator_at_cut_end": {"connected": at_cut_end.connected, "backlog": at_cut_end.backlog},
            "footprint_at_rate": footprint,  # per process of the site, with its children
        }
        assert len(scored_during_cut) >= RATE * CUT_S * 0.5, "the edge stopped scoring while the link was down"
        assert len(core_ids) == len(set(core_ids)), "a prediction arrived twice at the core"
        assert [i for i in core_ids if i in wanted] == [i for i in edge_ids if i in wanted], "not in the edge's order"

        # A cut longer than the quota allows: the oldest predictions waiting for the core are dropped.
        small = site_toml(sites, edge=True, quota_mb=SMALL_QUOTA_MB)
        Path(edge.env["RTAI_STACK_CONFIG"]).write_text(small)
        relinked = cli("edge", "link", env=edge.env)
        assert relinked.returncode == 0, relinked.stderr
        evicted_before = evictions(edge, topics["predictions"])
        phases.run("over-quota", QUOTA_CUT_S, during=sites.cut_link)
        evicted = evictions(edge, topics["predictions"]) - evicted_before
        at_quota_cut_end = replication_of(edge, topics["predictions"])
        sites.restore_link()
        # Until the replicator has sent what it kept: while its backlog is over the quota the
        # policy keeps evicting the oldest, then everything new reaches the core.
        publisher.start_phase("catching-up", phases.count)
        wait_until(lambda: replication_of(edge, topics["predictions"]).backlog < RATE, DRAIN_TIMEOUT_S)
        phases.run("after-quota", STEADY_S)
        sent = publisher.snapshot()
        over, after = sent["over-quota"].acked, sent["after-quota"].acked
        wait_until(lambda: after <= {o.event_id for o in at_core.outcomes}, DRAIN_TIMEOUT_S)
        wait_until(lambda: over <= {o.event_id for o in at_edge.outcomes}, DRAIN_TIMEOUT_S)
        arrived = over & {o.event_id for o in at_core.outcomes}
        figures["over_quota"] = {
            "cut_s": QUOTA_CUT_S,
            "quota_mb": SMALL_QUOTA_MB,
            "policy": "consumer_backlog_eviction",
            "scored_at_edge": len(over),
            "arrived_at_core": len(arrived),
            "evictions": evicted,
            "replicator_at_cut_end": {"connected": at_quota_cut_end.connected, "backlog": at_quota_cut_end.backlog},
        }
        written = write_figures(figures)
        print(f"\nedge figures ({written}):\n{json.dumps(figures, indent=2)}")
        assert evicted > 0, "the quota was exceeded and nothing says so"
        assert len(arrived) < len(over), "nothing was dropped: the quota did not hold"
    finally:
        publisher.stop()
        launcher.stop_local(job)
        for collector in (at_edge, at_core):
            collector.stop()
        edge_client.close()
        core_client.close()
