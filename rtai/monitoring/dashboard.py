"""The on-call dashboard (infra/grafana/dashboards/rtai-pipeline.json) read by the tools that work
without Grafana: its panels' queries, run against Prometheus over a time range (for the PNG,
rtai.monitoring.render_png) or at this instant (for the terminal view, rtai.monitoring.top)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from flink_jobs.errors import UserFacingError
from rtai import paths

DASHBOARD = paths.INFRA_DIR / "grafana" / "dashboards" / "rtai-pipeline.json"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str  # Grafana's legendFormat: {{label}} placeholders

    def name(self, labels: dict[str, str]) -> str:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), self.legend) or self.expr


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    queries: tuple[Query, ...]


def panels(path: Path = DASHBOARD) -> list[Panel]:
    dashboard = json.loads(path.read_text())
    return [
        Panel(
            p["title"],
            p.get("fieldConfig", {}).get("defaults", {}).get("unit", ""),
            tuple(Query(t["expr"], t.get("legendFormat", "")) for t in p.get("targets", [])),
        )
        for p in dashboard["panels"]
    ]


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _get(self, path: str, params: dict[str, object]) -> list[dict]:
        try:
            answer = httpx.get(f"{self.url}{path}", params=params, timeout=30)
        except httpx.HTTPError as err:
            raise UserFacingError(f"Prometheus at {self.url} is down ({err}): `make monitor` starts it") from None
        if answer.status_code != 200:
            raise UserFacingError(f"Prometheus refused {params.get('query')!r}: {answer.text[:300]}")
        return answer.json()["data"]["result"]

    def instant(self, expr: str) -> list[tuple[dict[str, str], float]]:
        return [(r["metric"], float(r["value"][1])) for r in self._get("/api/v1/query", {"query": expr})]

    def alerts(self) -> list[dict]:
        """The firing alerts (labels, annotations), as Prometheus evaluates them now."""
        try:
            answer = httpx.get(f"{self.url}/api/v1/alerts", timeout=30)
        except httpx.HTTPError as err:
            raise UserFacingError(f"Prometheus at {self.url} is down ({err}): `make monitor` starts it") from None
        return [a for a in answer.json()["data"]["alerts"] if a["state"] == "firing"]

    def range(self, expr: str, start: float, end: float, step_s: float) -> list[tuple[dict[str, str], list]]:
        """(labels, [(epoch s, value), ...]) per series."""
        params = {"query": expr, "start": start, "end": end, "step": step_s}
        results = self._get("/api/v1/query_range", params)
        return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]]) for r in results]


def range_data(prometheus: Prometheus, minutes: float, step_s: float = 0.0) -> dict:
    """Every panel's series over the last `minutes`, as the PNG renderer reads them."""
    end = time.time()
    start = end - minutes * 60
    step = step_s or max(5.0, minutes * 60 / 240)  # about 240 points a series
    return {
        "start": start,
        "end": end,
        "prometheus": prometheus.url,
        "panels": [
            {
                "title": panel.title,
                "unit": panel.unit,
                "series": [
                    {"name": query.name(labels), "points": points}
                    for query in panel.queries
                    for labels, points in prometheus.range(query.expr, start, end, step)
                ],
            }
            for panel in panels()
        ],
    }
