"""A receiver for Alertmanager's webhook notifications: each alert of each notification is one
JSON line in its file (status, labels, annotations, startsAt, endsAt, when it arrived).

    python -m rtai.monitoring.alert_webhook --port 9095 --file .run/data/alert-webhook/alerts.jsonl

POST /alerts   Alertmanager's webhook payload (version 4)
GET  /alerts   the alerts received so far, as a JSON list (newest last)
GET  /-/healthy
GET  /metrics  rtai_alert_webhook_notifications_total{status}, rtai_alert_webhook_alerts_total{alertname,status}
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

log = logging.getLogger("rtai.alert_webhook")


class Receiver:
    def __init__(self, file: Path) -> None:
        self.file = file
        self.lock = threading.Lock()
        self.registry = CollectorRegistry()
        registry = self.registry
        self.notifications = Counter(
            "rtai_alert_webhook_notifications", "Alertmanager notifications received", ["status"], registry=registry
        )
        self.alerts = Counter(
            "rtai_alert_webhook_alerts", "Alerts received by name, status", ["alertname", "status"], registry=registry
        )

    def receive(self, payload: dict) -> int:
        """Appends the payload's alerts to the file; how many there were."""
        arrived = time.time()
        lines = []
        for alert in payload.get("alerts", []):
            name = alert.get("labels", {}).get("alertname", "?")
            status = alert.get("status", "?")
            self.alerts.labels(name, status).inc()
            lines.append(json.dumps({**alert, "received_at": arrived}, sort_keys=True))
            log.info("alert %s %s %s", status, name, json.dumps(alert.get("labels", {}), sort_keys=True))
        self.notifications.labels(payload.get("status", "?")).inc()
        with self.lock, self.file.open("a") as out:
            out.writelines(line + "\n" for line in lines)
        return len(lines)

    def received(self) -> list[dict]:
        with self.lock:
            if not self.file.exists():
                return []
            return [json.loads(line) for line in self.file.read_text().splitlines() if line]


def handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            if self.path != "/alerts":
                self._answer(404, b'{"error": "POST /alerts"}')
                return
            try:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                count = receiver.receive(payload)
            except (ValueError, AttributeError) as err:
                self._answer(400, json.dumps({"error": f"not an Alertmanager payload: {err}"}).encode())
                return
            self._answer(200, json.dumps({"alerts": count}).encode())

        def do_GET(self) -> None:
            if self.path == "/-/healthy":
                self._answer(200, b"ok", "text/plain")
            elif self.path == "/alerts":
                self._answer(200, json.dumps(receiver.received()).encode())
            elif self.path == "/metrics":
                self._answer(200, generate_latest(receiver.registry), CONTENT_TYPE_LATEST)
            else:
                self._answer(404, b'{"error": "not found"}')

        def log_message(self, *args: object) -> None:
            pass  # one log line per alert, from Receiver

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="receive Alertmanager's webhook notifications into a JSON-lines file")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True, help="where each alert is appended, one JSON a line")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args.file.parent.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(Receiver(args.file)))
    # SIGTERM (the stack's stop) ends serve_forever from another thread, then the process exits.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info("listening on 127.0.0.1:%d, alerts to %s", args.port, args.file)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
