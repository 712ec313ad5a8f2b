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
edge broker's metrics (what the EdgeBacklogEvicted alert reads), never silently.

The other way, the core's updates to the site (`rtai edge publish` at the core, `rtai edge sync`
at the site, through the same replicated namespace): while the link is down the site has nothing
new and keeps its model; once it is back, a new model version and the core's feature values are
checked and used at the site, a damaged update is refused, and an update the site cannot apply
(its Feast down) is taken again by the next sync."""

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

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.config import pipeline_config
from rtai import derived_pipeline, paths, pulsar_client
from rtai.benchmarks.cpu_time import CpuMeter
from rtai.benchmarks.footprint import process_tree_rss_mb
from rtai.edge import core_updates, model_update, replication
from rtai.jobs import launcher
from rtai.stack import config as stack_config
from rtai.stack import processes
from rtai.stack.probes import http_get
from tests import network_namespaces, onnx_models
from tests.faults.load import Collector, Publisher
from tests.stack_helpers import (
    MODEL_COLUMNS,
    cli,
    copy_of_feature_repo,
    isolated_env,
    isolated_stack,
    isolated_stack_toml,
    served_model_toml,
    start_service,
    stop_service,
)

RATE = 200.0  # transactions per second at the edge
STEADY_S = 10.0  # load before and after a cut
# `make edge-demo` runs this test with longer cuts (its figures: .run/data/edge/); a minute is past
# the Pulsar client's keep-alive (30 s), so the replicator meets the cut before the link returns.
CUT_S = float(os.environ.get("RTAI_EDGE_CUT_S", "60"))
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
    start_s: float  # `rtai stack up pulsar` until ready


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
    start = time.monotonic()
    started = subprocess.run(
        [*sites.exec_prefix(namespace), sys.executable, "-m", "rtai", "stack", "up", "pulsar"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert started.returncode == 0, started.stderr
    return Site(stack_config.load(Path(env["RTAI_STACK_CONFIG"])), env, time.monotonic() - start)


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
    config = derived_pipeline.write(paths.EDGE_PIPELINE, changes, path)
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
        first_prediction_s = wait_until(lambda: at_edge.outcomes, 240)  # the job started and scores
        wait_until(lambda: at_core.outcomes, 240)  # and the link replicates
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
            # while the core's Pulsar starts beside it, and the job's with the load already waiting
            "start_s": {"pulsar": round(edge.start_s, 1), "job_to_first_prediction": round(first_prediction_s, 1)},
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


SITE_CARDS, SITE_MERCHANTS = range(990_001, 990_031), range(990_001, 990_006)  # ids no other test uses
CARD_STATS = ("card_txn_count_30d", "card_amount_mean_30d", "card_amount_std_30d", "card_foreign_txn_share_30d")
MERCHANT_STATS = ("merchant_txn_count_7d", "merchant_distinct_cards_7d", "merchant_foreign_card_share_7d")


def write_core_rows(feast_url: str, offset: float) -> None:
    """The core's batch views for the site's entities: values that depend on the id and `offset`."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 3600))
    feast = FeastClient(feast_url, timeout_s=10, retries=2, backoff_ms=200)
    for view, key, ids, names in (
        ("card_stats", "card_id", SITE_CARDS, CARD_STATS),
        ("merchant_stats", "merchant_id", SITE_MERCHANTS, MERCHANT_STATS),
    ):
        columns: dict[str, list[object]] = {key: list(ids), "event_timestamp": [stamp] * len(ids)}
        columns |= {name: [i % 97 + offset + n for i in ids] for n, name in enumerate(names)}
        feast.write_to_online_store(view, columns)
    feast.close()


def batch_views(feast_url: str) -> dict[str, list[object]]:
    """The site's entities' batch-view values as a Feast server serves them."""
    features = [f"card_stats:{n}" for n in CARD_STATS] + [f"merchant_stats:{n}" for n in MERCHANT_STATS]
    cards = list(SITE_CARDS)
    merchants = [SITE_MERCHANTS[i % len(SITE_MERCHANTS)] for i in range(len(cards))]
    feast = FeastClient(feast_url, timeout_s=10, retries=2, backoff_ms=200)
    columns = feast.online_features({"card_id": cards, "merchant_id": merchants}, features=features)
    feast.close()
    return {name: column.values for name, column in columns.items() if name not in ("card_id", "merchant_id")}


def sync(pipeline: Path, idle_s: float = 3.0) -> subprocess.CompletedProcess[str]:
    return cli("edge", "sync", "--pipeline", str(pipeline), "--idle-s", str(idle_s))


def outcomes(synced: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    lines = [json.loads(line) for line in synced.stdout.splitlines() if line.startswith("{")]
    return [(line["outcome"], line["update"]) for line in lines]


def test_the_cores_updates_reach_the_site_checked_and_the_site_keeps_what_it_has_meanwhile(stack, two_sites, tmp_path):
    sites, edge, core = two_sites
    topic = f"persistent://{NAMESPACE}/core-updates-{uuid.uuid4().hex[:8]}"
    site_repo = onnx_models.model_repository(tmp_path / "site", MODEL_COLUMNS, {1: None}, served=1)
    core_repo = onnx_models.model_repository(tmp_path / "core", MODEL_COLUMNS, {1: None, 2: None}, served=2)
    write_core_rows(stack.feast_url, offset=0.5)
    site_toml_text = isolated_stack_toml({"feast": {"feature_repo": str(copy_of_feature_repo(tmp_path))}})
    (tmp_path / "site-feast").mkdir()
    with isolated_stack(tmp_path / "site-feast", ["feast"], site_toml_text) as site_feast:
        site_url = site_feast.config.feast_url

        def pipeline(name: str, site: Site, feast_url: str) -> Path:
            changes = {
                "pulsar": {"service_url": site.config.pulsar_service_url, "admin_url": site.config.pulsar_admin_url},
                "topics": {"core_updates": topic},
                "inference_job": {"feast": {"url": feast_url}, "model_repository": str(site_repo)},
            }
            derived_pipeline.write(paths.EDGE_PIPELINE, changes, tmp_path / name)
            return tmp_path / name

        at_core, at_site = pipeline("core.toml", core, stack.feast_url), pipeline("site.toml", edge, site_url)
        assert sync(at_site).returncode == 0  # the site's subscription, before anything is sent

        sites.cut_link()
        try:
            sent = cli("edge", "publish", "model", "--pipeline", str(at_core), "--repository", str(core_repo))
            assert sent.returncode == 0 and "version 2" in sent.stdout, sent.stderr
            cut_sync = sync(at_site)
            assert cut_sync.returncode == 0 and outcomes(cut_sync) == [], cut_sync.stdout + cut_sync.stderr
            assert model_update.served_version(site_repo, "fraud_mlp") == 1
        finally:
            sites.restore_link()

        sent = cli(
            "edge",
            "publish",
            "features",
            "--pipeline",
            str(at_core),
            "--card-ids",
            "990001-990030",
            "--merchant-ids",
            "990001-990005",
        )
        assert sent.returncode == 0 and "card_stats: 30 rows" in sent.stdout, sent.stdout + sent.stderr
        damaged = model_update.read_version(core_repo, "fraud_mlp", 1)
        core_updates.publish(
            pipeline_config.load(at_core), [(damaged.onnx[:-9], damaged.properties() | {"version": "3"})]
        )
        seen: list[tuple[str, str]] = []
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while len(seen) < 4 and time.monotonic() < deadline:
            synced = sync(at_site)
            assert synced.returncode == 0, synced.stderr
            seen += outcomes(synced)
        applied = [text for outcome, text in seen if outcome == "applied"]
        rejected = [text for outcome, text in seen if outcome == "rejected"]
        assert len(applied) == 3 and len(rejected) == 1, seen
        assert "SHA-256" in rejected[0]
        assert any("version 2: checked and served (was 1)" in text for text in applied), applied
        assert model_update.served_version(site_repo, "fraud_mlp") == 2
        assert (site_repo / "fraud_mlp" / "2" / "model.onnx").read_bytes() == (
            core_repo / "fraud_mlp" / "2" / "model.onnx"
        ).read_bytes()
        assert batch_views(site_url) == batch_views(stack.feast_url)

        # The site's Feast down: the update is not applied, nor lost; the next sync takes it.
        write_core_rows(stack.feast_url, offset=7.25)
        sent = cli("edge", "publish", "features", "--pipeline", str(at_core), "--card-ids", "990001-990030")
        assert sent.returncode == 0, sent.stderr
        stop_service(site_feast, "feast")
        failed = sync(at_site, idle_s=30)
        assert failed.returncode != 0 and "the next sync takes it again" in failed.stderr, failed.stderr
        start_service(site_feast, "feast")
        synced = sync(at_site, idle_s=10)
        assert [o for o, _ in outcomes(synced)] == ["applied"], synced.stdout + synced.stderr
        assert batch_views(site_url)["card_amount_mean_30d"] == batch_views(stack.feast_url)["card_amount_mean_30d"]
