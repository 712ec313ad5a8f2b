"""The JVM's parse (java/.../events/StrictTransactions.java) against the schema's own
(flink_jobs/events.py): every message the JVM vouches for, Python accepts with the same fields,
value for value; every other message is left to Python, which alone writes dead letters. Run on
the live fuzz test's generated corpus (good transactions and every kind of broken message) and on
the forms the JVM leaves to Python by design. Driven through the project's jar in a JVM
(PyFlink's gateway), no Flink job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from flink_jobs.config.pipeline_config import EventsSection
from flink_jobs.events import InvalidEvent, accepted
from flink_jobs.java_operators import project_class, strict_transactions
from flink_jobs.stages.features import history_seed
from flink_jobs.stages.features.card_windows import CardHistory
from tests import project_jar
from tests.fuzz_inputs import EDGE_VALUES, good_event, mutated

WINDOW = EventsSection()


@pytest.fixture(scope="module")
def strict():
    project_jar.load()
    return strict_transactions(WINDOW)


def jvm_fields(strict, raw: str, now_ms: int) -> dict | None:
    node = strict.parse(raw, now_ms)
    return None if node is None else json.loads(node.toString())


def python_fields(raw: str, now_ms: int) -> dict | None:
    try:
        return vars(accepted(raw, WINDOW, now_ms))
    except InvalidEvent:
        return None


def check_parity(strict, raws: list[str], now_ms: int) -> int:
    """Asserts the JVM vouches only for what Python accepts, with its fields; returns how many it vouched for."""
    vouched = 0
    for raw in raws:
        jvm = jvm_fields(strict, raw, now_ms)
        if jvm is not None:
            assert jvm == python_fields(raw, now_ms), raw
            vouched += 1
    return vouched


def test_the_jvm_vouches_for_every_well_formed_transaction_with_pythons_fields(strict):
    rng = np.random.default_rng(7)
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    raws = []
    for i in range(2_000):
        event = good_event(rng, i, now - timedelta(milliseconds=int(rng.integers(0, 86_400_000))), 10_000)
        if i % 3 == 0:
            event |= {"is_fraud": bool(i % 2), "fraud_pattern": "card_testing" if i % 2 else None}
        if i % 5 == 0:
            event["amount"] = int(rng.integers(1, 5_000))  # a JSON integer amount
        if i % 7 == 0:
            event["note"] = "an extra field, ignored"
        raws.append(json.dumps(event))
    assert check_parity(strict, raws, now_ms) == len(raws)


def test_the_jvm_leaves_every_broken_message_to_python(strict):
    rng = np.random.default_rng(11)
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    raws = [mutated(rng, good_event(rng, i, now, 20_000)).decode("utf-8", errors="replace") for i in range(3_000)]
    base = good_event(rng, 0, now, 30_000)
    raws += [json.dumps(base | {field: value}) for field in base for value in EDGE_VALUES]
    vouched = check_parity(strict, raws, now_ms)
    rejected = sum(1 for raw in raws if python_fields(raw, now_ms) is None)
    assert rejected > 2_000 and vouched <= len(raws) - rejected


@pytest.mark.parametrize(
    "change",
    [
        {"event_time": "2026-11-26T13:40:00.123456+00:00"},  # microseconds
        {"event_time": "2026-11-26 13:40:00+00:00"},  # another separator
        {"event_time": "2026-11-26T13:40Z"},  # no seconds
        {"event_time": "2026-11-26T13:40:00.1Z"},  # one fractional digit
        {"event_id": "card \U0001f4b3"},  # a character outside the BMP
        {"amount": 2**70},  # an integer beyond 64 bits
        {"card_id": 1.0},
        {"extra": {"nested": [1]}},
    ],
)
def test_forms_outside_the_everyday_one_are_left_to_python(strict, change):
    now = datetime(2026, 11, 26, 13, 40, 5, tzinfo=UTC)
    event = good_event(np.random.default_rng(3), 1, now, 0) | change
    raw = json.dumps(event, ensure_ascii=False)
    assert jvm_fields(strict, raw, int(now.timestamp() * 1000)) is None


@pytest.mark.parametrize(
    "raw",
    [
        '{"a": 1, "a": 2}',
        '{"event_id": "e"} trailing',
        "\ufeff{}",
        '{"event_id": "\\ud800"}',
        "[]",
        "",
    ],
)
def test_json_that_orjson_reads_otherwise_is_left_to_python(strict, raw):
    assert jvm_fields(strict, raw, 0) is None


def test_an_event_time_with_an_offset_is_the_same_instant_as_in_python(strict):
    now = datetime(2026, 11, 26, 13, 40, 5, tzinfo=UTC)
    event = good_event(np.random.default_rng(5), 2, now, 0) | {"event_time": "2026-11-26T15:40:00.250+02:00"}
    raw = json.dumps(event)
    now_ms = int(now.timestamp() * 1000)
    jvm = jvm_fields(strict, raw, now_ms)
    assert jvm is not None and jvm == python_fields(raw, now_ms)
    assert jvm["event_time_ms"] == int(datetime(2026, 11, 26, 13, 40, 0, 250_000, tzinfo=UTC).timestamp() * 1000)


def test_the_jvm_reads_each_cards_seed_text_as_python_wrote_it(strict, tmp_path):
    first, second = CardHistory(), CardHistory()
    first.add(1_000, 10.5, 3)
    second.add(2_000, 20.25, 4)
    path = tmp_path / "seed.parquet"
    history_seed.write({7: first, 2**62: second}, path)
    seed = history_seed.load(str(path), history_seed.INFERENCE_FIELD)
    seed_texts = project_class("io.github.pyflinkrealtimeai.cards.SeedTexts")
    texts = seed_texts.load(history_seed.text_copy(str(path), history_seed.INFERENCE_FIELD))
    assert (texts.text(7), texts.text(2**62), texts.text(8)) == (seed.text(7), seed.text(2**62), None)
    # A copy not there where a task runs (a cluster's TaskManager): every card starts empty, as in Python.
    assert seed_texts.load(str(tmp_path / "elsewhere.tsv")).size() == 0
