"""Secrets out of text that is printed or logged: known values (the secure profile's
credentials), and what looks like one whatever its source (a JWT, a bearer token, a
password=, token= or key= assignment, a userinfo password in a URL)."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@host
    re.compile(
        r"(?i)(?<![A-Za-z])((?:password|passwd|secret|token|admin-key|api[-_]?key|authparams)[\"']?\s*[=:]\s*[\"']?)"
        r"(?!file:|/|\[redacted\])[^\s,\"';&]+"
    ),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for value in secrets:
        if len(value) >= 8:  # shorter would redact ordinary words
            text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        # A pattern's group 1, where it has one, is the name before the value: kept.
        text = pattern.sub(lambda m: (m.group(1) if m.re.groups else "") + REDACTED, text)
    return text
