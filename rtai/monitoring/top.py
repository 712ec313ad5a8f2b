"""`rtai monitor top`: one screen of the running pipeline in the terminal, from Prometheus: each
dashboard panel's current values (rates, latencies, backlog, Feast, Triton, features, scores)
and the firing alerts with their summaries. Refreshes until Ctrl-C, or prints once."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from rtai.monitoring.dashboard import Panel, Prometheus, panels

SERIES_PER_PANEL = 4  # the largest values; one screen holds every panel


def shown(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s" if value < 600 else f"{value / 86400:.1f} d"
    if unit == "percentunit":
        return f"{value:.1%}"
    if unit == "ops":
        return f"{value:,.1f}/s"
    return f"{value:,.0f}"


def panel_lines(prometheus: Prometheus, panel: Panel) -> list[str]:
    values = [
        (query.name(labels), value) for query in panel.queries for labels, value in prometheus.instant(query.expr)
    ]
    values.sort(key=lambda item: -item[1] if math.isfinite(item[1]) else 0)
    if not values:
        return [f"{panel.title}: no data"]
    cells = [f"{name} {shown(value, panel.unit)}" for name, value in values[:SERIES_PER_PANEL]]
    more = f" (+{len(values) - SERIES_PER_PANEL} more)" if len(values) > SERIES_PER_PANEL else ""
    return [f"{panel.title}: " + " | ".join(cells) + more]


def alert_lines(prometheus: Prometheus) -> list[str]:
    firing = prometheus.alerts()
    if not firing:
        return ["Alerts: none firing"]
    return ["Alerts firing:"] + [
        f"  {a['labels'].get('severity', '?'):6} {a['labels']['alertname']}: {a['annotations'].get('summary', '')}"
        for a in firing
    ]


def screen(prometheus: Prometheus) -> str:
    now = datetime.now(UTC)
    lines = [f"rtai pipeline at {now:%Y-%m-%d %H:%M:%S} UTC, from {prometheus.url}", ""]
    for panel in panels():
        lines.extend(panel_lines(prometheus, panel))
    lines.append("")
    lines.extend(alert_lines(prometheus))
    return "\n".join(lines)


def run(url: str, *, once: bool, interval_s: float) -> None:
    prometheus = Prometheus(url)
    if once:
        print(screen(prometheus))
        return
    try:
        while True:
            text = screen(prometheus)
            print("\x1b[H\x1b[2J" + text, flush=True)  # home, clear: the screen redrawn in place
            time.sleep(interval_s)
    except KeyboardInterrupt:
        print()
