"""What the CLI tells the user: short progress lines on stderr, quiet unless asked."""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm


def step(message: str) -> None:
    """One line announcing a long step, so the user knows what is running."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def done(message: str, started: float) -> None:
    print(f"    {message} ({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)


def configure_logging(verbose: bool) -> None:
    """Structured key=value logs on stderr; warnings only unless verbose."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
        stream=sys.stderr,
    )


def progress_bar(label: str, total: int, *, show_rate: bool = True) -> tqdm:
    """A one-line progress bar on stderr (tqdm): redrawn ten times a second on a terminal, every
    ten seconds into a log file, so a CI log keeps a few lines rather than thousands. (Imported
    here: `rtai setup` uses this module on the bare system Python.)"""
    from tqdm import tqdm

    rate = ", {rate_fmt}" if show_rate else ""
    return tqdm(
        total=total,
        desc=f"    {label}",
        file=sys.stderr,
        mininterval=0.1 if sys.stderr.isatty() else 10.0,
        bar_format="{desc} {bar:30} {n_fmt}/{total_fmt} [{elapsed}" + rate + "]",
        unit=" events",
    )
