"""Draws the dashboard's panels from the series rtai.monitoring.dashboard fetched, to a PNG.

Runs in the model environment (matplotlib), started by `rtai monitor render`:
    python -m rtai.monitoring.render_png <series.json> <out.png>
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import matplotlib

from rtai.plot_args import json_in_png_out

matplotlib.use("Agg")  # files only, no display
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

UNITS = {"s": "seconds", "ops": "per second", "percentunit": "share", "short": ""}


def main(argv: list[str] | None = None) -> None:
    data, out = json_in_png_out(__doc__.splitlines()[0], argv, "series")
    panels = data["panels"]
    rows = math.ceil(len(panels) / 2)
    figure, axes = plt.subplots(rows, 2, figsize=(16, 3.2 * rows), squeeze=False)
    start = datetime.fromtimestamp(data["start"], UTC)
    end = datetime.fromtimestamp(data["end"], UTC)
    for ax, panel in zip(axes.flat, panels, strict=False):
        for series in panel["series"]:
            points = [(datetime.fromtimestamp(t, UTC), v) for t, v in series["points"] if math.isfinite(v)]
            if points:
                ax.plot(*zip(*points, strict=True), label=series["name"], linewidth=1.2)
        ax.set_title(panel["title"], fontsize=10, loc="left")
        ax.set_ylabel(UNITS.get(panel["unit"], panel["unit"]), fontsize=8)
        ax.set_xlim(start, end)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if panel["series"]:
            ax.legend(fontsize=7, loc="upper left")
        else:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="gray")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    figure.suptitle(
        f"Real-time AI pipeline, {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC ({data['prometheus']})", fontsize=11
    )
    figure.tight_layout(rect=(0, 0, 1, 0.98))  # room for the title
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=90)
    print(out)


if __name__ == "__main__":
    main()
