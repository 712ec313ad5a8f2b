"""What a process holds: the resident memory of it and its descendants (shared pages are counted
in each process that maps them, so a tree's figure is an upper bound)."""

from __future__ import annotations

import psutil

from rtai.stack import processes


def _rss_bytes(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


def process_tree_rss_mb(pid: int) -> float:
    return round(sum(_rss_bytes(p) for p in [pid, *processes.descendants(pid)]) / 2**20, 1)
