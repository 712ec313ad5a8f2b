"""The stack's Flink cluster watched for jobs it did not recover (rtai.stack.flink_job_record), as a metric
Prometheus scrapes: the `flink-job-watch` service of `rtai stack up --with-flink`.

    python -m rtai.stack.flink_job_watch --port 9251

GET /metrics  rtai_flink_job_not_recovered{job_id,job_name} 1 for each recorded job the cluster
              did not know when it last answered (read at each scrape); the alert
              FlinkJobNotRecovered fires on it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from rtai.stack import config as stack_config
from rtai.stack import flink_job_record


class NotRecovered(Collector):
    def __init__(self, config: stack_config.StackConfig) -> None:
        self.config = config

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "rtai_flink_job_not_recovered",
            "1 for a job the stack's Flink cluster ran and did not bring back after a restart",
            labels=["job_id", "job_name"],
        )
        flink_job_record.reconcile(self.config)
        for job in flink_job_record.lost_jobs():
            family.add_metric([job.job_id, job.name], 1)
        yield family


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the loopback port of /metrics")
    args = parser.parse_args(argv)
    registry = CollectorRegistry()
    registry.register(NotRecovered(stack_config.load()))
    server, thread = start_http_server(args.port, addr="127.0.0.1", registry=registry)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    server.shutdown()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
