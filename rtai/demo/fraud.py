"""The fraud pipeline end to end, the README's first command (`make demo` / `rtai demo`).

Starts the stack, makes sure there are features (history, batch tables, feast apply and
materialize) and a registered model (training set, training, registration), starts the feature
job and the inference job on the embedded MiniCluster, waits until the inference job has
answered a probe transaction (so the stream starts when the jobs are ready, and nothing of it is
left out of the figures), publishes generated transactions for a while, and summarises what came
out, timed by Pulsar's publish times read back by a consumer, with a PNG of the dashboard's
panels over the run from the stack's Prometheus (started with the stack). Every preparation step
is skipped when its result is already there.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pulsar

from flink_jobs.config import pipeline_config
from flink_jobs.config.topics import full_name
from flink_jobs.errors import UserFacingError
from flink_jobs.events import Transaction
from flink_jobs.jobs.fraud_scoring import JOB_NAME
from rtai import derived_pipeline, paths, pipeline_assets, pulsar_client, subscription_stats
from rtai.console import progress_bar, step
from rtai.generator import population, records, stream
from rtai.generator.commands import DEFAULT_CUSTOMERS, DEFAULT_SEED
from rtai.jobs import launcher
from rtai.models.commands import MODELS_DIR
from rtai.monitoring import commands as monitor_commands
from rtai.output_reader import OutputReader, Outputs
from rtai.stack import config as stack_config
from rtai.stack import lifecycle, processes, registry, secure_profile, security_commands

JOBS = {"feature job": "flink_jobs.jobs.card_features", "inference job": "flink_jobs.jobs.fraud_scoring"}
JOB_READY_TIMEOUT_S = 180
PROBE_CARD = 999_999_998  # the readiness probe's card: no generated card has this id
PROBE_ID = "demo-ready-"  # a probe's event id, then its number
PROBE_EVERY_S = 0.5
DRAIN_TIMEOUT_S = 120
# Bad events sent after the stream, to show the dead-letter path: malformed JSON, a missing field
# and a wrong type.
_VALID = (
    '"event_time": "2026-11-26T12:00:00Z", "card_id": 1, "customer_id": 1, "merchant_id": 1, '
    '"merchant_category": "grocery", "merchant_country": "DE", "card_country": "DE", "currency": "EUR", '
    '"channel": "pos"'
)
BAD_EVENTS = (
    '{"event_id": "demo-bad-1", "amount": 12.5',
    '{"event_id": "demo-bad-2", ' + _VALID + "}",
    '{"event_id": "demo-bad-3", "amount": "12.50", ' + _VALID + "}",
)


def record_log(name: str) -> Path:
    return paths.RUN_DIR / "logs" / f"demo-{name.replace(' ', '-')}.log"


def wait_until_answering(client: pulsar.Client, topic: str, reader: OutputReader, job: processes.PidRecord) -> float:
    """Sends probe transactions until the inference job has predicted one; then the reader
    starts over (the probes are not the demo's). Seconds it took."""
    producer = client.create_producer(topic)
    started, probes = time.monotonic(), []
    try:
        while not any(probe in reader.outputs.predictions for probe in probes):
            if time.monotonic() - started > JOB_READY_TIMEOUT_S or processes.exit_code(job) is not None:
                raise UserFacingError(
                    f"the inference job answered no probe in {JOB_READY_TIMEOUT_S} s; its log: "
                    f"{record_log('inference job')}"
                )
            probes.append(f"{PROBE_ID}{len(probes)}")
            now_ms = time.time_ns() // 1_000_000
            probe = Transaction(probes[-1], now_ms, PROBE_CARD, 0, 0, "grocery", "DE", "DE", 1.0, "EUR", "pos")
            producer.send(records.to_json(probe))
            time.sleep(PROBE_EVERY_S)
    finally:
        producer.close()
    reader.outputs = Outputs()
    return time.monotonic() - started


def wait_for_outputs(reader: OutputReader, expected: int, jobs: dict[str, processes.PidRecord]) -> None:
    bar = progress_bar("scored", expected, show_rate=False)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    out = reader.outputs
    while time.monotonic() < deadline:
        # Probes still in flight when the reader started over are answered too: not the run's outputs.
        done = sum(1 for event_id in list(out.predictions) if not event_id.startswith(PROBE_ID)) + len(out.dead_letters)
        bar.update(done - bar.n)
        if done >= expected:
            break
        if processes.exit_code(jobs["inference job"]) is not None:
            break
        time.sleep(0.2)
    bar.close()


def holdout_share(model: str, threshold: float) -> float | None:
    """The share of the training run's holdout the model scores at or above the threshold
    (recall x fraud rate / precision, from its report), when it was trained at this threshold."""
    report_file = MODELS_DIR / model / "report.json"
    if not report_file.is_file():
        return None
    holdout = json.loads(report_file.read_text()).get("holdout", {})
    if holdout.get("threshold") != threshold or not holdout.get("precision_at_threshold"):
        return None
    share = holdout["recall_at_threshold"] * holdout["holdout_fraud_rate"] / holdout["precision_at_threshold"]
    return round(share, 5)


def summary(
    out: Outputs, sent: int, seconds: float, bad: int, config: pipeline_config.PipelineConfig
) -> dict[str, object]:
    ours = {i: p for i, p in out.predictions.items() if i in out.published}
    latencies = np.array([at - out.published[i] for i, (at, _) in ours.items()], dtype=float)
    bodies = [out.prediction(i) for i in ours]
    stages = {k: float(np.median([b[k] for b in bodies] or [0.0])) for k in ("wait_ms", "enrich_ms", "infer_ms")}
    views = Counter(view for b in bodies for view in b["cached_views"])
    threshold = config.model.alert_threshold
    flagged = {i for i, b in zip(ours, bodies, strict=True) if b["score"] >= threshold}
    frauds = out.frauds & set(ours)
    return {
        "events_in": sent + bad,
        "generated": sent,
        "malformed": bad,
        "publish_seconds": round(seconds, 1),
        "events_per_s": round(sent / seconds, 1) if seconds else 0.0,
        "predictions": len(ours),
        "duplicates": out.duplicates,
        "alerts": len([a for a in out.alerts if a["event_id"] in ours]),
        "alerts_by_rule": dict(Counter(rule for a in out.alerts if a["event_id"] in ours for rule in a["rules"])),
        "share_at_threshold": round(len(flagged) / max(1, len(bodies)), 5),
        "holdout_share_at_threshold": holdout_share(config.model.name, threshold),
        # Against the generator's own labels (is_fraud in each event it publishes).
        "fraud_share": round(len(frauds) / max(1, len(bodies)), 5),
        "precision_at_threshold": round(len(flagged & frauds) / len(flagged), 4) if flagged else None,
        "recall_at_threshold": round(len(flagged & frauds) / len(frauds), 4) if frauds else None,
        "dead_letters": len(out.dead_letters),
        "dead_letter_reasons": dict(Counter(d["reason"].split(":")[0] for d in out.dead_letters)),
        "latency_ms": {
            name: round(float(np.percentile(latencies, q)), 1) if len(latencies) else None
            for name, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
        },
        "median_stage_ms": stages,
        "median_batch_size": float(np.median([b["batch_size"] for b in bodies] or [0.0])),
        "cache_share": {view: round(n / len(bodies), 3) for view, n in views.items()},
        "example_alerts": [a for a in out.alerts if a["event_id"] in ours][:3],
    }


def show(result: dict[str, object]) -> None:
    latency = result["latency_ms"]
    stages = result["median_stage_ms"]
    lines = [
        f"events in        {result['events_in']:,} ({result['generated']:,} generated at "
        f"{result['events_per_s']:,} events/s for {result['publish_seconds']} s + {result['malformed']} malformed)",
        f"predictions out  {result['predictions']:,} (duplicates: {result['duplicates']})",
        f"alerts           {result['alerts']:,} {result['alerts_by_rule']}",
        f"scored >= threshold {result['share_at_threshold']:.2%} of predictions "
        + (
            f"(the model's holdout: {result['holdout_share_at_threshold']:.2%})"
            if result["holdout_share_at_threshold"] is not None
            else "(no training report at this threshold)"
        ),
        f"against labels   fraud {result['fraud_share']:.2%} of the events (the generator's is_fraud); "
        f"at the threshold precision {result['precision_at_threshold']}, recall {result['recall_at_threshold']}",
        f"dead letters     {result['dead_letters']:,} {result['dead_letter_reasons']}",
        f"end to end       p50 {latency['p50']} ms, p95 {latency['p95']} ms, p99 {latency['p99']} ms, "
        f"max {latency['max']} ms (input publish time -> prediction publish time)",
        f"median per batch waiting {stages['wait_ms']:.1f} ms, Feast {stages['enrich_ms']:.1f} ms, "
        f"Triton {stages['infer_ms']:.1f} ms; {result['median_batch_size']:.0f} events a batch",
        "from the cache   "
        + (", ".join(f"{v} {share:.0%}" for v, share in result["cache_share"].items()) or "nothing")
        + " of predictions",
    ]
    for alert in result["example_alerts"]:
        lines.append(
            f"alert            {alert['event_id']} card {alert['card_id']} amount {alert['amount']:,.2f} "
            f"score {alert['score']:.3f} rules {', '.join(alert['rules'])}"
        )
    lines.append(f"dashboard        {result['dashboard_png']} (the run as Prometheus saw it)")
    print("\n".join(lines))


def demo_pipeline(pipeline: Path, run_id: str) -> tuple[Path, pipeline_config.PipelineConfig]:
    """The pipeline config with subscriptions of this run's own, starting at the latest message:
    the jobs see this run's transactions only, not what earlier runs left on the topic."""
    changes = {
        job: {"subscription": f"demo-{run_id}-{job.removesuffix('_job')}", "start": "latest"}
        for job in ("feature_job", "inference_job")
    }
    path = paths.RUN_DIR / "data" / "demo" / f"pipeline-{run_id}.toml"
    return path, derived_pipeline.write(pipeline, changes, path)


def run(pipeline: Path, *, duration_s: float, rate: float, keep_up: bool, secure: bool = False) -> None:
    """secure: the stack's secure profile (the child processes inherit it), the roles granted
    their topics, and this process's own clients as the generator and reader roles."""
    if secure:
        os.environ[stack_config.PROFILE_VARIABLE] = "secure"
    pipeline_assets.ensure(pipeline_config.load(pipeline))
    stack = stack_config.load()
    lifecycle.up(stack, registry.selected(stack, only=list(registry.MONITORING)))
    started = time.time()
    run_id = time.strftime("%Y%m%d-%H%M%S")
    pipeline, config = demo_pipeline(pipeline, run_id)
    if stack.secure:
        security_commands.grant(stack, config)
    admin_tls = secure_profile.pulsar_admin_tls(stack)
    publishing = secure_profile.pulsar_client_options(stack, "generator")
    topic = full_name(config.topics.transactions)
    subscriptions = {config.feature_job.subscription, config.inference_job.subscription}
    client = pulsar_client.connect(config.pulsar.service_url, **secure_profile.pulsar_client_options(stack, "reader"))
    publisher = pulsar_client.connect(config.pulsar.service_url, **publishing)
    jobs: dict[str, processes.PidRecord] = {}
    try:
        reader = OutputReader(client, config.topics, f"demo-{run_id}", JOB_NAME)
        reader.start()
        for name, module in JOBS.items():
            step(f"starting the {name} on the embedded Flink MiniCluster (log: {record_log(name)})")
            jobs[name] = launcher.start_local(module, ["--pipeline", str(pipeline)], record_log(name))
        consumers = {f"{name} (log: {record_log(name)})": record for name, record in jobs.items()}
        subscription_stats.wait_until_consuming(
            config.pulsar.admin_url, topic, subscriptions, consumers, JOB_READY_TIMEOUT_S, admin_tls
        )
        ready_s = wait_until_answering(publisher, topic, reader, jobs["inference job"])
        step(f"the inference job answered a probe transaction after {ready_s:.1f} s")
        count = max(1, round(rate * duration_s))
        step(f"publishing {count:,} transactions at {rate:,g}/s for {duration_s:g} s to {config.topics.transactions}")
        people = population.build(DEFAULT_SEED, DEFAULT_CUSTOMERS)
        report = stream.publish(
            config.pulsar.service_url,
            config.topics.transactions,
            people,
            seed=DEFAULT_SEED,
            rate=rate,
            count=count,
            client_options=publishing,
        )
        producer = publisher.create_producer(full_name(config.topics.transactions))
        for payload in BAD_EVENTS:
            producer.send(payload.encode())
        producer.close()
        step("waiting for every event's prediction or dead letter")
        wait_for_outputs(reader, report.sent + len(BAD_EVENTS), jobs)
        reader.stop()
        result = summary(reader.outputs, report.sent, report.seconds, len(BAD_EVENTS), config)
        step("drawing the dashboard's panels over the run from Prometheus")
        minutes = (time.time() - started) / 60
        result["dashboard_png"] = str(monitor_commands.render_png(stack.prometheus_url, minutes))
    finally:
        for record in jobs.values():
            launcher.stop_local(record)
        client.close()
        publisher.close()
        for subscription in subscriptions:  # a subscription left behind would keep every later message
            subscription_stats.delete(config.pulsar.admin_url, topic, subscription, admin_tls)
        if not keep_up:
            lifecycle.down(stack)
    out_file = paths.RUN_DIR / "data" / "demo" / f"summary-{run_id}.json"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(result, indent=2))
    step(f"summary (also in {out_file})")
    show(result)
    if result["predictions"] + result["dead_letters"] < result["events_in"]:
        missing = result["events_in"] - result["predictions"] - result["dead_letters"]
        raise UserFacingError(f"{missing} events got neither a prediction nor a dead letter; see {paths.RUN_DIR}/logs")
