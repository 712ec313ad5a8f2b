"""The keyed state's explicit, versioned layout: what a checkpoint or savepoint holds, written and
read by field name, never by Python class.

Flink keeps each value as text (`STATE_TYPE`, Flink's own string serializer, which Java tools such
as the State Processor API read too): a JSON document `{"layout": N, ...}`. (A byte array would
reach Python as a tuple of ints in thread mode, and an empty one fails there.) Reading goes by
field name, so a renamed or moved class, or a new field with a default, leaves every savepoint
readable; a field that is gone is ignored. A change of
meaning gets the next layout number and an upgrade here from every older one (`UPGRADES`), so a
job always restores a savepoint of an older layout. State written by a newer layout than this
code knows fails the job with a message that says so: a rollback never misreads state.

Layout 1 (the first; state from before it was pickled and is not carried over):
- a card's history: {"recent": [[time_ms, amount, merchant_id], ...], "amount_count": int,
  "amount_sum": float, "last_time_ms": int | null}
- a transaction waiting in the feature job: {"event": {Transaction's fields}}
- an entry waiting for its batch: {"entry": E}; a batch in flight: {"entries": [E, ...]}, where E
  is, in the inference job, {"event": {...}, "features": {name: value} | null, "received_ms":
  float} and, in the feature job's push, the feature row as it is pushed.

Layout 2: a card's history is bounded (card_windows.py): {"buckets": {window: [[index, count,
amount_sum], ...]}, "merchants": [[merchant_id, time_ms], ...], "amount_count": int,
"amount_sum": float, "last_time_ms": int | null, "newest_ms": int | null}. The upgrade from
layout 1 replays its recent transactions into the buckets and merchants and keeps the running
statistics. The feature job's waiting transactions are one entry per event time (the map key),
{"events": [{Transaction's fields}, ...]}; a restored layout-1 entry (one transaction under an
arrival id) is still read, by the timer of its event time. The other documents are as in layout 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pyflink.common import Types

from flink_jobs.events import Transaction
from flink_jobs.stages.features.card_windows import WINDOWS_S, CardHistory

LAYOUT = 2
STATE_TYPE = Types.STRING()
TRANSACTION_FIELDS = {f.name: f for f in dataclasses.fields(Transaction)}

# The inference job's entry: (event, its computed real-time features or None, when it reached the operator).
Entry = tuple[Transaction, dict[str, float] | None, float]


class StateLayoutError(RuntimeError):
    """State this code cannot read."""


def _dumps(document: dict) -> str:
    return orjson.dumps({"layout": LAYOUT, **document}).decode()


def _loads(raw: str) -> dict:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        document = None
    version = document.pop("layout", None) if isinstance(document, dict) else None
    if not isinstance(version, int) or version < 1:
        raise StateLayoutError(
            f"keyed state in no known layout (state of the job's versions before layout 1 was pickled and "
            f"cannot be restored): {raw[:100]!r}"
        )
    if version > LAYOUT:
        raise StateLayoutError(
            f"keyed state written with layout {version}; this job reads layouts up to {LAYOUT}: "
            "restore it with the version of the job that wrote it, or a newer one"
        )
    while version < LAYOUT:
        document = UPGRADES[version](document)
        version += 1
    return document


def _transaction(fields: dict) -> Transaction:
    missing = [
        name
        for name, f in TRANSACTION_FIELDS.items()
        if name not in fields and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise StateLayoutError(f"a transaction in keyed state lacks {', '.join(missing)}")
    return Transaction(**{name: value for name, value in fields.items() if name in TRANSACTION_FIELDS})


def _history_document(history: CardHistory) -> dict:
    return {
        "buckets": {name: [[i, n, total] for i, (n, total) in b.items()] for name, b in history.buckets.items()},
        "merchants": list(history.merchants.items()),
        "amount_count": history.amount_count,
        "amount_sum": history.amount_sum,
        "last_time_ms": history.last_time_ms,
        "newest_ms": history.newest_ms,
    }


def encode_history(history: CardHistory) -> str:
    return _dumps(_history_document(history))


def decode_history(raw: str) -> CardHistory:
    document = _loads(raw)
    buckets = {name: {} for name in WINDOWS_S}
    for name, rows in document["buckets"].items():
        if name in buckets:
            buckets[name] = {int(i): [int(n), float(total)] for i, n, total in rows}
    return CardHistory(
        buckets=buckets,
        merchants={int(merchant): int(t) for merchant, t in document["merchants"]},
        amount_count=document["amount_count"],
        amount_sum=document["amount_sum"],
        last_time_ms=document["last_time_ms"],
        newest_ms=document.get("newest_ms"),
    )


def _bounded_history(document: dict) -> dict:
    """Layout 1 -> 2: a history's recent transactions replayed into buckets and merchants, its
    running statistics kept; other documents unchanged."""
    if "recent" not in document:
        return document
    history = CardHistory()
    for t, amount, merchant in sorted(document["recent"]):
        history.add(int(t), float(amount), int(merchant))
    history.amount_count = document["amount_count"]
    history.amount_sum = document["amount_sum"]
    history.last_time_ms = document["last_time_ms"]
    return _history_document(history)


# layout N -> the function that turns a document of layout N into one of layout N + 1.
UPGRADES: dict[int, Callable[[dict], dict]] = {1: _bounded_history}


def encode_transactions(events: list[Transaction]) -> str:
    return _dumps({"events": events})


def decode_transactions(raw: str) -> list[Transaction]:
    """The transactions of a `{"events": [...]}` document, or the one of a layout-1 `{"event": ...}`."""
    document = _loads(raw)
    if "event" in document:
        return [_transaction(document["event"])]
    return [_transaction(fields) for fields in document["events"]]


def _entry_document(entry: Entry) -> dict:
    event, features, received_ms = entry
    return {"event": event, "features": features, "received_ms": received_ms}


def _entry(document: dict) -> Entry:
    return _transaction(document["event"]), document["features"], document["received_ms"]


@dataclass(frozen=True)
class EntryLayout:
    """How a KeyedBatchFunction's entries are kept: one waiting entry, a batch in flight."""

    to_document: Callable[[Any], Any]
    from_document: Callable[[Any], Any]

    def encode(self, entry: object) -> str:
        return _dumps({"entry": self.to_document(entry)})

    def decode(self, raw: str) -> Any:
        return self.from_document(_loads(raw)["entry"])

    def encode_batch(self, entries: list) -> str:
        return _dumps({"entries": [self.to_document(entry) for entry in entries]})

    def decode_batch(self, raw: str) -> list:
        return [self.from_document(document) for document in _loads(raw)["entries"]]


def _as_is(value: Any) -> Any:
    return value


JSON_ENTRIES = EntryLayout(_as_is, _as_is)  # entries that are JSON values already (feature rows)
SCORING_ENTRIES = EntryLayout(_entry_document, _entry)  # the inference job's (event, features, received)
