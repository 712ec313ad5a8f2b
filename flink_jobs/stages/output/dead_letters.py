"""Dead-letter records: the original payload, why it was rejected, by whom and when."""

from __future__ import annotations

import json
from datetime import UTC, datetime


def dead_letter(payload: str, reason: str, *, source_topic: str, job: str) -> str:
    return json.dumps(
        {
            "reason": reason,
            "payload": payload,
            "source_topic": source_topic,
            "job": job,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        },
        ensure_ascii=False,
    )
