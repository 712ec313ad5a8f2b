"""What a process holds: the resident memory of it and its descendants, from /proc (shared
pages are counted in each process that maps them, so a tree's figure is an upper bound)."""

from __future__ import annotations

from pathlib import Path

from rtai.stack import processes


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def process_tree_rss_mb(pid: int) -> float:
    return round(sum(_rss_kb(p) for p in [pid, *processes.descendants(pid)]) / 1024, 1)
