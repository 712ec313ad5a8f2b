"""Keys for entries of a map state that outlive restarts."""

from __future__ import annotations

import time


class EntryIds:
    """Increasing ids, across restarts too (they follow the clock), so an entry added after a
    restore never overwrites one restored from the checkpoint; their order is arrival order."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        self.last = max(time.time_ns(), self.last + 1)
        return self.last
