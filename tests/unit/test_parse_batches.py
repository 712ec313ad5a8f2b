"""The parse stage on whole fetches: one string of tagged lines per fetch for the JVM's router and
card windows, each card's seed history sent with its first transaction only."""

from __future__ import annotations

import json

from flink_jobs.config.pipeline_config import EventsSection
from flink_jobs.stages.features import history_seed
from flink_jobs.stages.features.card_windows import CardHistory
from flink_jobs.stages.input.parse_batches import ParseBatches
from rtai.benchmarks.local_metrics import LocalMetricGroup
from tests.card_transactions import transaction


class RuntimeContext:
    """What the stage's open() reads of Flink's runtime context: its metric group."""

    def __init__(self) -> None:
        self.group = LocalMetricGroup()

    def get_metrics_group(self) -> LocalMetricGroup:
        return self.group


def parsed(stage: ParseBatches, raws: list[str]) -> list[tuple[str, dict]]:
    (out,) = list(stage.process_element(raws, None))
    return [(line[0], json.loads(line[1:])) for line in out.split("\n")]


def test_each_valid_event_leads_with_its_card_and_each_bad_one_is_a_dead_letter_with_its_reason():
    stage = ParseBatches("transactions", "inference-job", EventsSection())
    context = RuntimeContext()
    stage.open(context)
    good = transaction(7, 1, "p")
    lines = parsed(stage, [json.dumps(good), "{not json", json.dumps({**good, "card_id": "7"})])
    assert [tag for tag, _ in lines] == ["E", "D", "D"]
    line = lines[0][1]
    assert next(iter(line)) == "card_id" and line["card_id"] == 7  # the JVM's router stops at the first field
    assert line["event"]["event_id"] == good["event_id"] and line["event"]["amount"] == good["amount"]
    assert "seed" not in line and line["received_ms"] > 0
    assert [d["reason"].split(":")[0] for _, d in lines[1:]] == ["malformed JSON", "wrong type for card_id"]
    assert context.group.counters["events_received_total"].count == 3
    assert context.group.counters["events_valid_total"].count == 1


def test_a_seeded_card_gets_its_seed_history_with_its_first_transaction_only(tmp_path):
    history = CardHistory()
    history.add(1_790_000_000_000, 12.5, 3)
    seed = tmp_path / "seed.parquet"
    history_seed.write({7: history}, seed)
    stage = ParseBatches("transactions", "inference-job", EventsSection(), str(seed))
    stage.open(RuntimeContext())
    first = parsed(stage, [json.dumps(transaction(7, 1, "s")), json.dumps(transaction(8, 1, "s"))])
    again = parsed(stage, [json.dumps(transaction(7, 2, "s"))])
    assert history_seed.load(str(seed), history_seed.INFERENCE_FIELD).text(7) == first[0][1]["seed"]
    assert "seed" not in first[1][1]  # a card the seed does not hold
    assert "seed" not in again[0][1]  # sent once per card and subtask
