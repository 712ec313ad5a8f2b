"""A batch as the outside world sees it: Arrow rows for Parquet, or JSON events for Pulsar."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flink_jobs.events import CHANNELS, MERCHANT_CATEGORIES, Transaction
from rtai.generator import catalog
from rtai.generator.fraud import PATTERNS
from rtai.generator.model import NOT_FRAUD, Batch

ID_DIGITS = 12
# The event schema's fields; the event time is `event_timestamp`, as Feast expects it.
SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_timestamp", pa.timestamp("ms", tz="UTC")),
        ("card_id", pa.int64()),
        ("customer_id", pa.int64()),
        ("merchant_id", pa.int64()),
        ("merchant_category", pa.string()),
        ("merchant_country", pa.string()),
        ("card_country", pa.string()),
        ("amount", pa.float64()),
        ("currency", pa.string()),
        ("channel", pa.string()),
        ("is_fraud", pa.bool_()),
        ("fraud_pattern", pa.string()),
    ]
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _names(names: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """Codes to their names; a negative code becomes null."""
    return pa.array(names).take(pa.array(codes, mask=codes < 0))


def to_table(batch: Batch, id_prefix: str) -> pa.Table:
    index = pa.array(np.arange(batch.first_index, batch.first_index + len(batch), dtype=np.int64))
    padded = pc.utf8_lpad(pc.cast(index, pa.string()), width=ID_DIGITS, padding="0")
    columns = [
        pc.binary_join_element_wise(f"{id_prefix}-", padded, ""),
        pa.array(batch.time_ms, type=pa.timestamp("ms", tz="UTC")),
        pa.array(batch.card, type=pa.int64()),
        pa.array(batch.customer, type=pa.int64()),
        pa.array(batch.merchant, type=pa.int64()),
        _names(MERCHANT_CATEGORIES, batch.category),
        _names(catalog.COUNTRIES, batch.merchant_country),
        _names(catalog.COUNTRIES, batch.card_country),
        pa.array(batch.amount),
        _names(catalog.CURRENCIES, batch.currency),
        _names(CHANNELS, batch.ecom.astype(np.int8)),
        pa.array(batch.is_fraud),
        _names(PATTERNS, batch.pattern),
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def to_transactions(batch: Batch, id_prefix: str) -> list[Transaction]:
    columns = (
        batch.time_ms, batch.card, batch.customer, batch.merchant, batch.category, batch.merchant_country,
        batch.card_country, batch.amount, batch.currency, batch.ecom, batch.pattern,
    )  # fmt: skip
    return [
        Transaction(
            event_id=f"{id_prefix}-{batch.first_index + i:0{ID_DIGITS}d}",
            event_time_ms=time_ms,
            card_id=card,
            customer_id=customer,
            merchant_id=merchant,
            merchant_category=MERCHANT_CATEGORIES[category],
            merchant_country=catalog.COUNTRIES[merchant_country],
            card_country=catalog.COUNTRIES[card_country],
            amount=amount,
            currency=catalog.CURRENCIES[currency],
            channel=CHANNELS[ecom],
            is_fraud=pattern != NOT_FRAUD,
            fraud_pattern=None if pattern == NOT_FRAUD else PATTERNS[pattern],
        )
        for i, (time_ms, card, customer, merchant, category, merchant_country, card_country, amount, currency, ecom,
                pattern) in enumerate(zip(*(column.tolist() for column in columns), strict=True))
    ]  # fmt: skip


def event_time(time_ms: int) -> str:
    """ISO-8601 in UTC with milliseconds: 2026-11-26T13:40:00.123Z."""
    moment = _EPOCH + timedelta(milliseconds=time_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json(tx: Transaction) -> bytes:
    """The event as documented in flink_jobs.events, fields in the documented order."""
    payload = {
        "event_id": tx.event_id,
        "event_time": event_time(tx.event_time_ms),
        "card_id": tx.card_id,
        "customer_id": tx.customer_id,
        "merchant_id": tx.merchant_id,
        "merchant_category": tx.merchant_category,
        "merchant_country": tx.merchant_country,
        "card_country": tx.card_country,
        "amount": tx.amount,
        "currency": tx.currency,
        "channel": tx.channel,
        "is_fraud": tx.is_fraud,
        "fraud_pattern": tx.fraud_pattern,
    }
    return json.dumps(payload, separators=(",", ":")).encode()
