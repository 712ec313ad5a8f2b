"""The project's own long-running processes (the generator, the demo, benchmark drivers) serve
their metrics with prometheus-client on a free loopback port while they run, announced to the
stack's Prometheus by a file in its file_sd folder (job `rtai`), removed at the end."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import start_http_server

from rtai.stack import scrape_targets


@contextmanager
def serving(process: str) -> Iterator[int]:
    """Serves the default registry's metrics while the block runs; the port."""
    server, thread = start_http_server(0, addr="127.0.0.1")
    port = server.server_port
    target = scrape_targets.processes_dir() / f"{process}-{os.getpid()}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"process": process}}]))
    try:
        yield port
    finally:
        target.unlink(missing_ok=True)
        server.shutdown()
        thread.join(timeout=5)
