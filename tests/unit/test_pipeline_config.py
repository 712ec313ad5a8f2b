"""The pipeline config: the shipped file loads, and every kind of mistake stops the load with
`file: section.key: reason`."""

from __future__ import annotations

import pytest

from flink_jobs.config import pipeline_config
from flink_jobs.config.typed_config import ConfigError
from rtai import paths


def test_the_shipped_fraud_pipeline_loads_with_its_rules_and_cached_views():
    config = pipeline_config.load(paths.DEFAULT_PIPELINE)
    assert config.topics.transactions == "transactions"
    assert {rule.name for rule in config.rules}
    assert {view.view for view in config.inference_job.cached_views} == {"card_stats", "merchant_stats"}
    assert config.inference_job.flink_settings()["python.execution-mode"] == "thread"


def test_the_shipped_edge_pipeline_scores_in_process_into_the_replicated_namespace():
    config = pipeline_config.load(paths.EDGE_PIPELINE)
    assert (config.inference_job.serving, config.inference_job.batching) == ("in_process", "java")
    assert config.topics.transactions == "transactions"  # the site's own namespace
    for topic in (config.topics.predictions, config.topics.alerts, config.topics.dead_letter):
        assert topic.startswith("persistent://public/edge/")  # infra/edge/stack.toml's [edge] namespace


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[pulsar]\nservice_url = 'http://x:6650'", "pulsar.service_url: must start with pulsar:// or pulsar+ssl://"),
        ("[topics]\npredictions = 'bad topic'", "topics.predictions: not a Pulsar topic name"),
        ("[model]\nalert_threshold = 1.5", "model.alert_threshold: must be between 0 and 1, got 1.5"),
        ("[model.serving]\npreferred_batch_sizes = [2048]", "model.serving.preferred_batch_sizes: each must be in"),
        (
            "[model.serving]\nintra_op_thread_count = -1",
            "model.serving.intra_op_thread_count: must be in 0..256, got -1",
        ),
        ("[model.serving]\nintra_op_thread_count = 1000", "model.serving.intra_op_thread_count: must be in 0..256"),
        ("[inference_job]\nscoring_task = 'both'", "inference_job.scoring_task: must be one of 'shared', 'own'"),
        ("[inference_job]\ndelivery = 'twice'", "inference_job.delivery: must be one of"),
        ("[inference_job]\nmax_batch_size = 0", "inference_job.max_batch_size: must be at least 1, got 0"),
        (
            "[inference_job]\npython_switch_interval_ms = 0",
            "inference_job.python_switch_interval_ms: must be in 0.1..100, got 0",
        ),
        ("[feature_job.push]\nin_flight = -1", "feature_job.push.in_flight: must be in 0..16, got -1"),
        ("[feature_job.push]\nin_flight = 17", "feature_job.push.in_flight: must be in 0..16, got 17"),
        ("[feature_job.push]\nlanes = 0", "feature_job.push.lanes: must be in 1..16, got 0"),
        (
            "[feature_job.push]\noffline_batch_size = 0",
            "feature_job.push.offline_batch_size: must be in 1..100000, got 0",
        ),
        (
            "[feature_job.push]\noffline_batch_size = 100001",
            "feature_job.push.offline_batch_size: must be in 1..100000, got 100001",
        ),
        ("[feature_job.push]\nwriter = 'kafka'", "feature_job.push.writer: must be one of"),
        (
            "[feature_job]\ncard_windows = 'python'\n[feature_job.push]\nwriter = 'redis'",
            'feature_job.push.writer: redis needs batching = "java", card_windows = "jvm"',
        ),
        ("[feature_job.redis]\nurl = 'rediss://x:6380'", "feature_job.redis.url: must be redis://host:port[/db]"),
        ("[feature_job.redis]\nfeature_view = ''", "feature_job.redis.feature_view: is required"),
        ("[inference_job]\nmax_wait_ms = 'soon'", "inference_job.max_wait_ms: expected int, got 'soon'"),
        (
            "[inference_job]\ncheckpoint_interval_ms = 40000",
            "inference_job.transaction_timeout_ms: must be at least twice checkpoint_interval_ms plus "
            "restart_delay_ms (90000)",
        ),
        ("[inference_job.triton]\nmax_in_flight = 0", "inference_job.triton.max_in_flight: must be at least 1"),
        ("[inference_job]\nparallelism = 0", "inference_job.parallelism: must be at least 1, got 0"),
        ("[inference_job]\nparallelism = 4\nmax_parallelism = 2", "inference_job.max_parallelism: must be in"),
        (
            "[inference_job]\nmax_parallelism = 2\n[inference_job.source]\nparallelism = 3",
            "inference_job.source.parallelism: must be at most max_parallelism (2), got 3",
        ),
        ("[inference_job]\nrestart_delay_ms = -1", "inference_job.restart_delay_ms: must be >= 0, got -1"),
        ("[feature_job]\nrestart_max_failures = -1", "feature_job.restart_max_failures: must be >= 0, got -1"),
        (
            "[feature_job]\nrestart_failure_interval_ms = 5000\nrestart_delay_ms = 5000",
            "feature_job.restart_failure_interval_ms: must be longer than restart_delay_ms (5000), got 5000",
        ),
        ("[feature_job]\nrestart_attempts = 3", "feature_job.restart_attempts: unknown key"),
        ("[events]\nmax_ahead_ms = -1", "events.max_ahead_ms: must be >= 0, got -1"),
        ("[events]\nmax_behind_ms = 'a week'", "events.max_behind_ms: expected int, got 'a week'"),
        ("[inference_job.feast]\ntimeout_s = 0", "inference_job.feast.timeout_s: must be positive, got 0"),
        ("[scoring_api.feast]\nload_timeout_s = 0", "scoring_api.feast.load_timeout_s: must be positive, got 0"),
        (
            "[scoring_api]\nfallback_margin_ms = 50",
            "scoring_api.fallback_margin_ms: must be at least 0 and under deadline_ms, got 50",
        ),
        ("[inference_job.feast]\nretires = 3", "inference_job.feast.retires: unknown key"),
        (
            "[[inference_job.cached_views]]\nview = 'a'\njoin_key = 'card_id'\n"
            "[[inference_job.cached_views]]\nview = 'a'\njoin_key = 'card_id'",
            "inference_job.cached_views: each view at most once",
        ),
        ("[[inference_job.cached_views]]\nview = 'a'\njoin_key = 'customer'", "cached_views[0].join_key: must be"),
        ("[[inference_job.cached_views]]\njoin_key = 'card_id'", "cached_views[0].view: required key is missing"),
        ("[feature_job.push]\nto = 'offline'", "feature_job.push.to: must be one of"),
        ("[feature_job.source]\nmax_fetch_records = 0", "feature_job.source.max_fetch_records: must be at least 1"),
        ("[[rules]]\nname = 'r'\nmin_score = 2.0", "rules[0].min_score: must be between 0 and 1, got 2.0"),
        ("[features]\nservice = ''", "features.service: must name a Feast FeatureService"),
        ("[features]\nrealtime_view = ''", "features.realtime_view: must name the FeatureService's view"),
        ("[features]\ntraining_feature_lag_ms = -1", "features.training_feature_lag_ms: must be >= 0, got -1"),
        ("[features]\ntraining_feature_lag_ms = 1000", "features.training_feature_lag_ms: must be 0 when"),
        ("[inference_job]\nrealtime_features = 'redis'", "inference_job.realtime_features: must be one of"),
        (
            "[inference_job]\nbatching = 'python'\nbatches_in_flight = 0",
            "inference_job.batches_in_flight: must be in 1..64 with batching = 'python', got 0",
        ),
        (
            "[inference_job]\nbatching = 'java'\nbatches_in_flight = 65",
            "inference_job.batches_in_flight: must be in 0..64 with batching = 'java', got 65",
        ),
        (
            "[inference_job]\nbatch_start = 'coalesced'\nbatches_in_flight = 0",
            'inference_job.batch_start: coalesced needs batching = "java" and batches_in_flight >= 1',
        ),
        (
            "[inference_job]\nparse = 'jvm'\ncard_windows = 'python'",
            'inference_job.parse: jvm needs batching = "java" and card_windows = "jvm", got batching = \'java\', '
            "card_windows = 'python'",
        ),
        (
            "[inference_job]\nbatching = 'python'",
            'inference_job.parse: jvm needs batching = "java" and card_windows = "jvm", got batching = \'python\'',
        ),
        (
            "[inference_job]\nbatching = 'python'\nparse = 'python'",
            'inference_job.batch_start: coalesced needs batching = "java" and batches_in_flight >= 1',
        ),
        (
            "[inference_job]\nlocal_jvm_options = '-XX:+UseZGC Xmx2g'",
            "inference_job.local_jvm_options: must be JVM options, each starting with '-'",
        ),
        (
            "[inference_job.source]\nmax_fetch_time_ms = 10\nfetch_idle_ms = 11",
            "inference_job.source.fetch_idle_ms: must be in 0..max_fetch_time_ms, got 11",
        ),
        ("[model\n", "not valid TOML"),
        ("[pulsar]\nadmin_url = 'https://h:8443'", "pulsar.admin_url: is https:// but service_url is plain"),
        ("[inference_job.pulsar_token]\nfile = 'a'\nenv = 'B'", "inference_job.pulsar_token.file: give the"),
        ("[inference_job.pulsar_token]\ntoken = 'eyJ'", "inference_job.pulsar_token.token: unknown key"),
        ("[inference_job.triton]\ntls = 'yes'", "inference_job.triton.tls: expected bool"),
        ("[inference_job]\nserving = 'onnx'", "inference_job.serving: must be one of"),
        (
            "[inference_job]\nserving = 'in_process'\nbatching = 'java'\n[model.shadow]\nversion = 2",
            "inference_job.serving: in_process scores with the champion only",
        ),
        (
            "[inference_job]\nserving = 'in_process'\nbatching = 'python'\nparse = 'python'\nbatch_start = 'per_flush'",
            'inference_job.serving: in_process needs batching = "java"',
        ),
        ("extends = 1", "extends: expected the path of a TOML file"),
        ("extends = 'pipeline.toml'", "extends itself"),
    ],
)
def test_a_mistake_names_the_file_and_the_field(tmp_path, text, message):
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        pipeline_config.load(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        pipeline_config.load(tmp_path / "nope.toml")


def test_a_rule_fires_at_its_thresholds_inclusive():
    rule = pipeline_config.Rule("big", min_score=0.9, min_amount=100.0)
    assert rule.fires(0.9, 100.0, 1)
    assert not rule.fires(0.899, 1_000.0, 1)
    assert not rule.fires(0.99, 99.99, 1)


def test_a_velocity_rule_fires_from_its_number_of_transactions_per_minute_whatever_the_score():
    rule = pipeline_config.Rule("card_velocity", min_score=0.0, min_events_per_minute=10)
    assert rule.fires(0.0, 1.0, 10)
    assert not rule.fires(0.99, 5_000.0, 9)


def test_a_rate_bound_needs_the_jobs_own_realtime_view(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text(
        '[inference_job]\nrealtime_features = "feast"\n[inference_job.hot_keys]\nmax_events_per_minute = 60\n'
    )
    with pytest.raises(ConfigError, match=r"inference_job\.hot_keys"):
        pipeline_config.load(path)


def test_a_negative_alert_interval_past_the_rate_bound_is_refused_by_name(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text("[inference_job.hot_keys]\nmax_events_per_minute = 60\nalert_every_s = -1\n")
    with pytest.raises(ConfigError, match=r"inference_job\.hot_keys\.alert_every_s"):
        pipeline_config.load(path)
    path.write_text("[inference_job.hot_keys]\nmax_events_per_minute = 60\nalert_every_s = 30\n")
    assert pipeline_config.load(path).inference_job.hot_keys.alert_every_s == 30
