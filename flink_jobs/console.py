"""What the CLI tells the user: short progress lines on stderr, quiet unless asked."""

from __future__ import annotations

import logging
import sys
import time


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
