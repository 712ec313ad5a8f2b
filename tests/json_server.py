"""A JSON HTTP server on a free loopback port, for the fast tier's tests of HTTP clients: the
test's own function answers every request."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (method, path, request body) -> (status, the JSON value to answer)
Answer = Callable[[str, str, bytes], tuple[int, object]]


@contextmanager
def serving(answer: Answer) -> Iterator[str]:
    """Serves `answer` while the block runs; the server's base URL."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            request = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, value = answer(self.command, self.path, request)
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _reply

        def log_message(self, *args) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_address[1]}"
    finally:
        http.shutdown()
        http.server_close()
