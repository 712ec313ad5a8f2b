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


class ProgressBar:
    """A one-line progress bar on stderr; redrawn at most ten times a second."""

    def __init__(self, label: str, total: int, *, show_rate: bool = True) -> None:
        self.label, self.total, self.count, self.show_rate = label, total, 0, show_rate
        self._last_draw = 0.0
        self._started = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if now - self._last_draw >= 0.1 or self.count >= self.total:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        width = 30
        filled = int(width * self.count / self.total) if self.total else width
        rate = f" ({self.count / max(now - self._started, 1e-9):,.0f}/s)" if self.show_rate else ""
        print(
            f"\r    {self.label} [{'#' * filled}{'.' * (width - filled)}] {self.count}/{self.total}{rate}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        self._draw(time.monotonic())
        print(file=sys.stderr, flush=True)
