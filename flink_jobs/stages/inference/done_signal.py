"""A scored batch told to the JVM without a call into Python: one byte on a pipe whose read end the
JVM's ScoringGate opens as /proc/self/fd/<read_fd> (in thread mode the interpreter runs inside the
JVM's process) and looks at every poll_ms. So the operator's thread calls into Python, and takes
the interpreter lock from the scoring loop, only when a batch is done or rows come."""

from __future__ import annotations

import contextlib
import os


class DoneSignal:
    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)  # the scoring loop never waits on the JVM

    def signal(self) -> None:
        """On the scoring loop's thread, after a batch's result is set."""
        # A full pipe holds bytes not yet read: it says so already.
        with contextlib.suppress(BlockingIOError):
            os.write(self.write_fd, b"\x01")

    def close(self) -> None:
        os.close(self.write_fd)
        os.close(self.read_fd)
