"""Dead-letter records: the original payload, why it was rejected, by whom and when.

A dead letter always fits on its topic whatever came in: the payload is kept up to
MAX_PAYLOAD_BYTES (cut there, `payload_truncated` true), the reason up to MAX_REASON_CHARS, and
`payload_bytes` and `payload_sha256` describe the original payload in full.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

MAX_PAYLOAD_BYTES = 16 * 1024
MAX_REASON_CHARS = 1000


def dead_letter(payload: str, reason: str, *, source_topic: str, job: str) -> str:
    # surrogatepass: a str from outside may hold lone surrogates; they are counted and hashed
    # as they came, and shown as U+FFFD.
    raw = payload.encode("utf-8", "surrogatepass")
    truncated = len(raw) > MAX_PAYLOAD_BYTES
    return json.dumps(
        {
            "reason": reason[:MAX_REASON_CHARS],
            "payload": raw[:MAX_PAYLOAD_BYTES].decode("utf-8", "replace"),
            "payload_truncated": truncated,
            "payload_bytes": len(raw),
            "payload_sha256": hashlib.sha256(raw).hexdigest(),
            "source_topic": source_topic,
            "job": job,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        },
        ensure_ascii=False,
    )
