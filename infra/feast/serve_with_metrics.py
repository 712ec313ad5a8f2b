"""`feast serve --metrics`, with its Prometheus endpoint on a loopback port of our choosing.

Feast 0.67 serves the feature server's metrics (`feast_feature_server_*`, from every gunicorn
worker through prometheus-client's multiprocess files) on port 8000 of every interface, fixed:
the port Triton's HTTP endpoint uses, and not loopback. This runs Feast's own CLI with the
metrics server bound to 127.0.0.1:<port> instead. Runs in the feast environment:

    python infra/feast/serve_with_metrics.py <metrics port> <feast CLI arguments...>

Feast's metrics server is private API (feast.metrics._make_metrics_httpd); with a Feast whose
module differs this fails at start, naming it, rather than serving on the wrong port.
"""

from __future__ import annotations

import sys
from wsgiref.simple_server import make_server

from feast import metrics
from feast.cli.cli import cli


def main() -> None:
    port = int(sys.argv.pop(1))
    if not hasattr(metrics, "_make_metrics_httpd") or not hasattr(metrics, "_QuietWSGIRequestHandler"):
        sys.exit("this Feast has no feast.metrics._make_metrics_httpd: cannot move its metrics port")

    def loopback_httpd(_fixed_port: int, app):  # the metrics child process (forked) calls this
        return make_server("127.0.0.1", port, app, handler_class=metrics._QuietWSGIRequestHandler)

    metrics._make_metrics_httpd = loopback_httpd
    cli(prog_name="feast")


if __name__ == "__main__":
    main()
