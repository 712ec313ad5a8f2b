"""`rtai monitor ...`: the pipeline's dashboard without Grafana: a PNG of its panels over the last
minutes, and a terminal view of the running pipeline, both from the stack's Prometheus."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rtai import env_python, paths


def add_subcommand(commands: argparse._SubParsersAction) -> None:
    text = "the dashboard without Grafana: a PNG of its panels, or a terminal view (needs `make monitor`)"
    monitor = commands.add_parser("monitor", help=text, description=text)
    actions = monitor.add_subparsers(dest="monitor_command", required=True)
    text = "draw every panel of infra/grafana/dashboards/rtai-pipeline.json over the last minutes to a PNG"
    render = actions.add_parser("render", help=text, description=text)
    render.add_argument("--minutes", type=float, default=15.0, help="how far back (default 15)")
    render.add_argument(
        "--out", type=Path, help="the PNG (default .run/data/monitoring/dashboard-<time>.png); its series beside it"
    )
    text = "one screen of the running pipeline: each panel's current values and the firing alerts"
    top = actions.add_parser("top", help=text, description=text)
    top.add_argument("--once", action="store_true", help="print one screen and exit")
    top.add_argument("--interval-s", type=float, default=5.0, help="refresh period (default 5)")
    for sub in (render, top):
        sub.add_argument("--prometheus", help="Prometheus URL (default: the stack's, from its stack.toml)")
    monitor.set_defaults(func=run)


def render_png(prometheus_url: str, minutes: float, out: Path | None = None) -> Path:
    """The dashboard's PNG over the last `minutes`; its path."""
    from rtai.monitoring import dashboard

    out = out or paths.RUN_DIR / "data" / "monitoring" / f"dashboard-{time.strftime('%Y%m%d-%H%M%S')}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    series = out.with_suffix(".json")
    series.write_text(json.dumps(dashboard.range_data(dashboard.Prometheus(prometheus_url), minutes)))
    env_python.run("model", "-m", "rtai.monitoring.render_png", str(series), str(out))
    return out


def run(args: argparse.Namespace) -> None:
    from rtai.stack import config as stack_config

    url = args.prometheus or stack_config.load().prometheus_url
    if args.monitor_command == "render":
        render_png(url, args.minutes, args.out)
    else:
        from rtai.monitoring import top

        top.run(url, once=args.once, interval_s=args.interval_s)
