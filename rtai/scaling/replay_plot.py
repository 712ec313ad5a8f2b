"""The replay's plot: input rate, each rule's replicas and the backlog it leaves, over time.

Runs in the model environment (matplotlib), started by `rtai scaling replay`:
    python -m rtai.scaling.replay_plot replay.json out.png
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

from rtai.plot_args import json_in_png_out

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

RULES = {
    "hpa_backlog_per_replica": ("HPA, backlog per replica", "tab:orange"),
    "flink_autoscaler": ("Flink autoscaler", "tab:blue"),
}


def main(argv: list[str] | None = None) -> None:
    result, out = json_in_png_out(__doc__.splitlines()[0], argv)
    figure, (load, replicas, backlog) = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    first = next(iter(result["steps"].values()))
    minutes = [s["time_s"] / 60 for s in first]
    load.plot(minutes, [s["input_rate"] for s in first], color="tab:gray", label="input")
    capacity = result["capacity_per_replica"]
    load.axhline(capacity, color="tab:gray", linestyle=":", label=f"one replica's capacity {capacity:,.0f}/s")
    for name, (label, colour) in RULES.items():
        steps = result["steps"][name]
        load.plot(minutes, [s["processed_rate"] for s in steps], color=colour, alpha=0.7, label=f"processed, {label}")
        replicas.step(minutes, [s["replicas"] for s in steps], where="post", color=colour, label=label)
        backlog.plot(minutes, [s["backlog"] for s in steps], color=colour, label=label)
    load.set_ylabel("events/s")
    replicas.set_ylabel("replicas")
    backlog.set_ylabel("backlog (events)")
    backlog.set_xlabel("minutes")
    load.set_title(
        f"{Path(result['trace']).name}: rescale {result['rescale_s']:.0f} s, decisions every {result['period_s']:.0f} s"
    )
    for axes in (load, replicas, backlog):
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
